"""PromQL and dashboard helpers shared by dashboard_check.py and live_prometheus_check.py.

Standard library only. The PromQL scanner is deliberately small: it knows enough of the grammar
(strings, label-matcher blocks, ranges, grouping clauses, function calls) to list the vector
selectors of an expression, which is all the checks need. It is not a validator; Prometheus
itself parses every expression in the live check.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

# Identifiers that are PromQL keywords, not metric names.
KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "atan2", "inf", "nan", "start", "end",
}
# Aggregation operators, which may put `by (...)` or `without (...)` before their arguments.
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}
# Keywords followed by a parenthesised list of label names.
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}

IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
NUMBER = re.compile(r"(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)")


@dataclass(frozen=True)
class Selector:
    """A vector selector: metric name plus the raw text of its matcher block (without braces)."""

    name: str
    matchers: str
    range: str | None  # the text between [ ] when the selector is a range selector

    def instant_query(self) -> str:
        return f"{self.name}{{{self.matchers}}}" if self.matchers else self.name

    def matcher_list(self) -> list[tuple[str, str, str]]:
        """[(label, op, value)] parsed from the matcher block."""
        out = []
        for m in re.finditer(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', self.matchers):
            out.append((m.group(1), m.group(2), m.group(3)))
        return out


def _skip_string(expr: str, i: int) -> int:
    quote = expr[i]
    i += 1
    while i < len(expr):
        if expr[i] == "\\" and quote != "`":
            i += 2
            continue
        if expr[i] == quote:
            return i + 1
        i += 1
    raise ValueError(f"unterminated string in {expr!r}")


def _matching(expr: str, i: int, open_: str, close: str) -> int:
    """Index just past the bracket that closes the one at expr[i]."""
    depth = 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            i = _skip_string(expr, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced {open_!r} in {expr!r}")


def selectors(expr: str) -> list[Selector]:
    """Every vector selector in a PromQL expression, in order of appearance."""
    out: list[Selector] = []
    i, n = 0, len(expr)
    expect_label_list = False
    while i < n:
        c = expr[i]
        if c.isspace():
            i += 1
            continue
        if c in "\"'`":
            i = _skip_string(expr, i)
            continue
        if c == "#":  # comment to end of line
            j = expr.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "(" and expect_label_list:
            i = _matching(expr, i, "(", ")")
            expect_label_list = False
            continue
        if c == "[":  # range or subquery of a preceding expression
            i = _matching(expr, i, "[", "]")
            continue
        if c == "{":  # selector without a metric name
            j = _matching(expr, i, "{", "}")
            out.append(Selector("", expr[i + 1:j - 1].strip(), None))
            i = j
            continue
        m = IDENT.match(expr, i)
        if m and not (i > 0 and (expr[i - 1].isdigit() or expr[i - 1] == ".")):
            word = m.group(0)
            j = m.end()
            k = j
            while k < n and expr[k].isspace():
                k += 1
            lower = word.lower()
            if lower in KEYWORDS:
                expect_label_list = lower in LABEL_LIST_KEYWORDS
                i = j
                continue
            if k < n and expr[k] == "(":  # function or aggregation
                i = j
                continue
            if lower in AGGREGATIONS and IDENT.match(expr, k) and IDENT.match(expr, k).group(0).lower() in ("by", "without"):
                i = j
                continue
            matchers = ""
            if k < n and expr[k] == "{":
                end = _matching(expr, k, "{", "}")
                matchers = expr[k + 1:end - 1].strip()
                j = end
            rng = None
            k = j
            while k < n and expr[k].isspace():
                k += 1
            if k < n and expr[k] == "[":
                end = _matching(expr, k, "[", "]")
                rng = expr[k + 1:end - 1].strip()
                j = end
            out.append(Selector(word, matchers, rng))
            i = j
            continue
        m = NUMBER.match(expr, i)
        if m and m.end() > i:
            i = m.end()
            # durations such as 5m after offset
            while i < n and expr[i].isalpha():
                i += 1
            continue
        i += 1
    return out


def metric_names(expr: str) -> set[str]:
    return {s.name for s in selectors(expr) if s.name}


def range_functions(expr: str) -> list[tuple[str, str]]:
    """[(function, range text)] for every function applied to a range selector."""
    found = []
    for m in re.finditer(r"\b(rate|irate|increase|delta|idelta|deriv|[a-z_]+_over_time)\s*\(", expr):
        start = m.end() - 1
        end = _matching(expr, start, "(", ")")
        inner = expr[start + 1:end - 1]
        for s in selectors(inner):
            if s.range is not None:
                found.append((m.group(1), s.range))
                break
    return found


# ---------------------------------------------------------------- dashboards

def load_dashboard(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def iter_panels(dashboard: dict):
    """Every panel, rows' nested panels included, in order."""
    for panel in dashboard.get("panels", []):
        yield panel
        for nested in panel.get("panels", []) or []:
            yield nested


def iter_targets(dashboard: dict):
    """(panel, target) for every query of every panel."""
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []) or []:
            yield panel, target


def variable_query(variable: dict) -> str:
    q = variable.get("query")
    if isinstance(q, dict):
        return q.get("query", "")
    return q or ""


def label_values_parts(query: str) -> tuple[str, str] | None:
    """('selector', 'label') of a `label_values(selector, label)` variable query."""
    m = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", query, re.S)
    if not m:
        return None
    return m.group(1), m.group(2)


def substitute(text: str, values: dict[str, str]) -> str:
    """Replaces Grafana template variables ($name, ${name}, ${name:fmt}, [[name]]); longest names first."""
    def repl(m: re.Match) -> str:
        name = m.group(1) or m.group(2) or m.group(3) or m.group(4)
        return values.get(name, m.group(0))

    return re.sub(r"\$\{([A-Za-z0-9_]+)(?::[a-z]+)?\}|\[\[([A-Za-z0-9_]+)\]\]|\$(__[A-Za-z0-9_]+)|\$([A-Za-z0-9_]+)",
                  repl, text)
