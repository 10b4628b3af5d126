#!/usr/bin/env python3
"""Offline checks of the Grafana dashboards in dashboards/*.json.

1. Schema: each file is decoded with the Grafana Foundation SDK's dashboard model (generated
   from Grafana's own schema; pinned in tools/checks/dash-requirements.txt) and encoded again.
   A field the schema does not know is lost on that round trip and reported, and so is a
   value the model changes. Panel types, variable types, units, threshold and colour modes
   are checked against the SDK's lists.
2. Project conventions (see STYLE.md, "Monitoring mixins"): fixed uid, variables datasource →
   namespace → pod → model chained with label_values, "All" values that match everything,
   a description on every panel, a unit on every numeric panel, $__rate_interval (or $__range)
   as the window of every rate()/increase(), every query filtered by namespace and pod (and
   model where the metric has one), exemplars on latency panels, rows Requests / Errors /
   Duration first, then saturation, then process, and only metric names and labels from the
   metrics contract (ARCHITECTURE.md §6).

Usage: dashboard_check.py [dashboards/*.json]   (exit status 1 on any problem)
"""

from __future__ import annotations

import argparse
import enum
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_promql as promql  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

# The metrics contract (ARCHITECTURE.md §6): name → labels. Histograms expand below.
COUNTERS = {
    "pd_inference_requests_total": {"model", "version", "outcome"},
    "pd_inference_batches_total": {"model", "version", "trigger"},
    "pd_http_requests_total": {"method", "route", "code"},
    "pd_trace_spans_exported_total": set(),
    "pd_trace_spans_dropped_total": set(),
    # Beyond §6: the server-wide buffer budget (README, Metrics).
    "pd_http_read_pauses_total": set(),
    "process_cpu_seconds_total": set(),
}
GAUGES = {
    "pd_inference_queue_depth": {"model", "version"},
    "pd_inference_queue_capacity": {"model", "version"},
    "pd_inference_batches_in_flight": {"model", "version"},
    "pd_model_ready": {"model", "version"},
    "pd_http_connections_open": set(),
    "pd_http_buffered_bytes": set(),
    "pd_http_buffered_bytes_limit": set(),
    "pd_build_info": {"version", "revision"},
    "process_resident_memory_bytes": set(),
    "process_virtual_memory_bytes": set(),
    "process_open_fds": set(),
    "process_max_fds": set(),
    "process_start_time_seconds": set(),
}
HISTOGRAMS = {
    "pd_inference_request_duration_seconds": {"model", "version"},
    "pd_inference_queue_duration_seconds": {"model", "version"},
    "pd_inference_compute_duration_seconds": {"model", "version"},
    "pd_inference_batch_size": {"model", "version"},
    "pd_http_request_duration_seconds": {"method", "route"},
}
CATALOGUE: dict[str, set[str]] = {**COUNTERS, **GAUGES}
for _name, _labels in HISTOGRAMS.items():
    CATALOGUE[_name + "_bucket"] = _labels | {"le"}
    CATALOGUE[_name + "_sum"] = set(_labels)
    CATALOGUE[_name + "_count"] = set(_labels)
# Labels Prometheus adds when it scrapes (Kubernetes service discovery adds the first two).
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}

NUMERIC_PANELS = {"timeseries", "stat", "gauge", "bargauge", "heatmap", "histogram", "barchart", "trend", "table"}
REQUIRED_VARIABLES = ["datasource", "namespace", "pod", "model"]
ROW_ORDER = ["Requests", "Errors", "Duration"]
UID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{2,39}$")
MIN_SCHEMA_VERSION = 39


class Report:
    def __init__(self, path: Path):
        self.path = path
        self.problems: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(f"{self.path.name}: {where}: {message}")


# ---------------------------------------------------------------- schema (Grafana Foundation SDK)

def sdk():
    try:
        from grafana_foundation_sdk.cog import plugins, runtime
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models import dashboard as model
        from grafana_foundation_sdk.models import units
    except ImportError as e:  # pragma: no cover - environment problem
        sys.exit(f"dashboard_check: {e}; install tools/checks/dash-requirements.txt")
    plugins.register_default_plugins()
    return model, units, runtime, JSONEncoder


def _round_trip_diff(original, encoded, path: str, report: Report) -> None:
    if isinstance(original, dict):
        if not isinstance(encoded, dict):
            report.error(path or "dashboard", f"schema expects {type(encoded).__name__}, file has an object")
            return
        for key, value in original.items():
            where = f"{path}.{key}" if path else key
            if key not in encoded:
                if value is None:
                    continue  # null and absent mean the same to Grafana
                report.error(where, "field not in the Grafana dashboard schema")
                continue
            _round_trip_diff(value, encoded[key], where, report)
    elif isinstance(original, list):
        if not isinstance(encoded, list) or len(original) != len(encoded):
            report.error(path, "list changed by the Grafana dashboard schema")
            return
        for i, (a, b) in enumerate(zip(original, encoded)):
            _round_trip_diff(a, b, f"{path}[{i}]", report)
    elif original != encoded or type(original) is not type(encoded):
        if isinstance(original, (int, float)) and isinstance(encoded, (int, float)) and original == encoded:
            return
        report.error(path, f"value {original!r} becomes {encoded!r} in the Grafana dashboard schema")


def _enum_values(cls) -> set:
    return {m.value for m in cls} if isinstance(cls, type) and issubclass(cls, enum.Enum) else set()


def check_schema(dashboard: dict, report: Report) -> None:
    model, units, runtime, JSONEncoder = sdk()
    try:
        decoded = model.Dashboard.from_json(dashboard)
        encoded = json.loads(JSONEncoder().encode(decoded))
    except Exception as e:  # a wrong type deep inside makes the generated decoder raise
        report.error("dashboard", f"does not decode as a Grafana dashboard: {type(e).__name__}: {e}")
        return
    _round_trip_diff(dashboard, encoded, "", report)

    known_units = {v for k, v in vars(units).items() if not k.startswith("_") and isinstance(v, str)}
    panel_types = set(runtime.Runtime().panelcfg_variants) | {"row"}
    variable_types = _enum_values(model.VariableType)
    color_modes = _enum_values(model.FieldColorModeId)
    threshold_modes = _enum_values(model.ThresholdsMode)

    for panel in promql.iter_panels(dashboard):
        where = f"panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("type") not in panel_types:
            report.error(where, f"unknown panel type {panel.get('type')!r}")
        defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
        unit = defaults.get("unit")
        if unit is not None and unit not in known_units and not re.match(r"^(suffix|prefix|si|count|currency|time|bool):", unit):
            report.error(where, f"unknown unit {unit!r}")
        y_unit = ((panel.get("options") or {}).get("yAxis") or {}).get("unit")
        if y_unit is not None and y_unit not in known_units:
            report.error(where, f"unknown y-axis unit {y_unit!r}")
        color = (defaults.get("color") or {}).get("mode")
        if color is not None and color not in color_modes:
            report.error(where, f"unknown colour mode {color!r}")
        thresholds = defaults.get("thresholds")
        if thresholds is not None:
            if thresholds.get("mode") not in threshold_modes:
                report.error(where, f"unknown thresholds mode {thresholds.get('mode')!r}")
            steps = thresholds.get("steps") or []
            if not steps or steps[0].get("value") is not None:
                report.error(where, "thresholds must start with a base step (value null)")
        for target in panel.get("targets", []) or []:
            if not isinstance(target.get("refId"), str):
                report.error(where, "target without refId")
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") not in variable_types:
            report.error(f"variable {variable.get('name')!r}", f"unknown variable type {variable.get('type')!r}")
        for key in ("includeAll", "multi"):
            if key in variable and not isinstance(variable[key], bool):
                report.error(f"variable {variable.get('name')!r}", f"{key} must be true or false")


# ---------------------------------------------------------------- project conventions

def check_dashboard_fields(dashboard: dict, report: Report) -> None:
    uid = dashboard.get("uid")
    if not isinstance(uid, str) or not UID_PATTERN.match(uid):
        report.error("uid", f"needs a fixed uid of 3-40 lower-case letters, digits and dashes, found {uid!r}")
    if dashboard.get("id") is not None:
        report.error("id", "must be null so the dashboard imports into any Grafana")
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < MIN_SCHEMA_VERSION:
        report.error("schemaVersion", f"must be {MIN_SCHEMA_VERSION} or later, found {dashboard.get('schemaVersion')!r}")
    if not dashboard.get("title"):
        report.error("title", "missing")
    if not dashboard.get("description"):
        report.error("description", "missing")
    if "pd-inference" not in (dashboard.get("tags") or []):
        report.error("tags", "must include pd-inference")
    if "__inputs" in dashboard:
        report.error("__inputs", "use the datasource variable instead of import-time inputs")


def check_variables(dashboard: dict, report: Report) -> None:
    variables = dashboard.get("templating", {}).get("list", [])
    names = [v.get("name") for v in variables]
    if names[:len(REQUIRED_VARIABLES)] != REQUIRED_VARIABLES:
        report.error("templating", f"variables must start with {REQUIRED_VARIABLES}, found {names}")
        return
    ds = variables[0]
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        report.error("variable 'datasource'", "must be a datasource variable of type prometheus")
    previous: list[str] = []
    for v in variables[1:]:
        where = f"variable {v.get('name')!r}"
        if v.get("type") != "query":
            report.error(where, "must be a query variable")
            continue
        if (v.get("datasource") or {}).get("uid") != "${datasource}":
            report.error(where, "must query the ${datasource} variable")
        query = promql.variable_query(v)
        if promql.label_values_parts(query) is None:
            report.error(where, f"must use label_values(selector, label), found {query!r}")
        if isinstance(v.get("query"), dict) and v.get("definition") != query:
            report.error(where, "definition and query.query differ")
        for earlier in previous:
            if not re.search(r"\$\{?" + earlier + r"\b", query):
                report.error(where, f"must be chained to ${earlier} (its query does not mention it)")
        if v.get("includeAll") and v.get("allValue") != ".*":
            report.error(where, 'an "All" option must have allValue ".*" so it also matches series without the label')
        if v.get("name") in ("namespace", "pod") and not v.get("includeAll"):
            report.error(where, 'needs an "All" option: outside Kubernetes the label is absent')
        if v.get("refresh") not in (1, 2):
            report.error(where, "must refresh on load or on time range change")
        previous.append(v["name"])


def _expected_unit(exprs: list[str]) -> str | None:
    joined = " ".join(exprs)
    if all(e.lstrip().startswith("histogram_quantile(") and "_seconds_bucket" in e for e in exprs):
        return "s"
    if "_bytes" in joined:
        # Bytes over bytes (a share of a limit) has no unit of its own.
        if "/" in joined and joined.count("_bytes") >= 2:
            return None
        return "bytes"
    return None


def check_panels(dashboard: dict, report: Report, variable_names: set[str]) -> None:
    ids: set = set()
    cells: dict[tuple[int, int], str] = {}
    rows: list[str] = []
    for panel in promql.iter_panels(dashboard):
        title = panel.get("title")
        where = f"panel {panel.get('id')} {title!r}"
        if panel.get("id") in ids:
            report.error(where, "duplicate panel id")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")) or grid["x"] + grid["w"] > 24:
            report.error(where, f"bad gridPos {grid}")
        else:
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    if (x, y) in cells:
                        report.error(where, f"overlaps panel {cells[(x, y)]!r}")
                        break
                    cells[(x, y)] = title
                else:
                    continue
                break
        if panel.get("type") == "row":
            rows.append(title)
            continue
        if not (panel.get("description") or "").strip():
            report.error(where, "needs a description")
        if (panel.get("datasource") or {}).get("uid") != "${datasource}":
            report.error(where, "panel datasource must be ${datasource}")
        targets = panel.get("targets") or []
        if not targets:
            report.error(where, "has no query")
        unit = ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("unit")
        if panel.get("type") in NUMERIC_PANELS and not unit:
            report.error(where, "numeric panel needs fieldConfig.defaults.unit")
        if panel.get("type") == "heatmap" and not ((panel.get("options") or {}).get("yAxis") or {}).get("unit"):
            report.error(where, "heatmap needs options.yAxis.unit")
        exprs = []
        refids = set()
        for target in targets:
            expr = target.get("expr") or ""
            exprs.append(expr)
            if target.get("refId") in refids:
                report.error(where, f"duplicate refId {target.get('refId')!r}")
            refids.add(target.get("refId"))
            if (target.get("datasource") or {}).get("uid") != "${datasource}":
                report.error(where, "query datasource must be ${datasource}")
            check_expression(expr, where, report, variable_names)
            if panel.get("type") == "heatmap" and target.get("format") != "heatmap":
                report.error(where, 'heatmap queries need format "heatmap"')
        expected = _expected_unit(exprs) if exprs else None
        if expected and unit != expected:
            report.error(where, f"unit should be {expected!r}, found {unit!r}")
        latency = any("_seconds_bucket" in e for e in exprs) and (
            panel.get("type") == "heatmap" or all(e.lstrip().startswith("histogram_quantile(") for e in exprs if "_seconds_bucket" in e))
        if latency and panel.get("type") in ("timeseries", "heatmap"):
            for target in targets:
                if "_seconds_bucket" in (target.get("expr") or "") and target.get("exemplar") is not True:
                    report.error(where, f"latency query {target.get('refId')} should show exemplars (\"exemplar\": true)")
    # Rows: Requests, Errors, Duration first; saturation before process.
    if rows[:len(ROW_ORDER)] != ROW_ORDER:
        report.error("rows", f"must start with {ROW_ORDER}, found {rows}")
    sat = [i for i, r in enumerate(rows) if r.lower().startswith("saturation")]
    proc = [i for i, r in enumerate(rows) if r.lower().startswith("process")]
    if not sat:
        report.error("rows", "needs a saturation row (queue and batches)")
    if sat and proc and max(sat) > min(proc):
        report.error("rows", "saturation rows come before the process row")
    if proc and proc[-1] != len(rows) - 1:
        report.error("rows", "the process row comes last")


def check_expression(expr: str, where: str, report: Report, variable_names: set[str]) -> None:
    if not expr.strip():
        report.error(where, "empty query")
        return
    for name in re.findall(r"\$\{?([A-Za-z0-9_]+)", expr):
        if not name.startswith("__") and name not in variable_names:
            report.error(where, f"uses undefined variable ${name}")
    for fn, window in promql.range_functions(expr):
        if window not in ("$__rate_interval", "$__range"):
            report.error(where, f"{fn}() must use [$__rate_interval] (or [$__range] for totals), found [{window}]")
    if "$__interval" in expr:
        report.error(where, "use $__rate_interval, not $__interval")
    try:
        sels = promql.selectors(expr)
    except ValueError as e:
        report.error(where, f"cannot scan query: {e}")
        return
    for s in sels:
        if not s.name:
            report.error(where, "selector without a metric name")
            continue
        labels = CATALOGUE.get(s.name)
        if labels is None:
            report.error(where, f"metric {s.name!r} is not in the metrics contract (ARCHITECTURE.md §6)")
            continue
        matchers = {label: (op, value) for label, op, value in s.matcher_list()}
        for label in matchers:
            if label not in labels and label not in TARGET_LABELS:
                report.error(where, f"{s.name} has no label {label!r}")
        for label in ("namespace", "pod"):
            if matchers.get(label) != ("=~", f"${label}"):
                report.error(where, f'{s.name} must be filtered by {label}=~"${label}"')
        if "model" in labels and "model" not in matchers:
            report.error(where, f"{s.name} must be filtered by model")
        elif "model" in matchers and "$model" not in matchers["model"][1]:
            report.error(where, f"{s.name}: the model matcher must use $model")
    for label_list in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        used = {l.strip() for l in label_list.split(",") if l.strip()}
        known = set().union(*(CATALOGUE.get(s.name, set()) for s in sels if s.name)) | TARGET_LABELS
        for label in used - known:
            report.error(where, f"groups by {label!r}, which none of its metrics has")


def check_links(dashboard: dict, report: Report, uids: set[str]) -> None:
    """Dashboard links and panel data links that open /d/<uid> must name a dashboard checked here."""
    links = [(f"link {link.get('title')!r}", link) for link in dashboard.get("links", [])]
    for panel in promql.iter_panels(dashboard):
        for link in ((panel.get("fieldConfig") or {}).get("defaults") or {}).get("links", []) or []:
            links.append((f"panel {panel.get('id')} {panel.get('title')!r} data link", link))
    for where, link in links:
        m = re.match(r"^/d/([^/?]+)", link.get("url") or "")
        if m and m.group(1) not in uids:
            report.error(where, f"points at unknown dashboard uid {m.group(1)!r}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args(argv)
    files = args.files or sorted((ROOT / "dashboards").glob("*.json"))
    if not files:
        print("dashboard_check: no dashboards found", file=sys.stderr)
        return 1
    dashboards = {}
    problems: list[str] = []
    for path in files:
        try:
            dashboards[path] = promql.load_dashboard(path)
        except (OSError, json.JSONDecodeError) as e:
            problems.append(f"{path.name}: not valid JSON: {e}")
    uids = [d.get("uid") for d in dashboards.values()]
    for uid in {u for u in uids if uids.count(u) > 1}:
        problems.append(f"uid {uid!r} is used by more than one dashboard")
    known_uids = set(uids)
    for other in (ROOT / "dashboards").glob("*.json"):
        try:
            known_uids.add(promql.load_dashboard(other).get("uid"))
        except (OSError, json.JSONDecodeError):
            pass
    panels = targets = 0
    for path, dashboard in dashboards.items():
        report = Report(path)
        check_schema(dashboard, report)
        check_dashboard_fields(dashboard, report)
        check_variables(dashboard, report)
        names = {v.get("name") for v in dashboard.get("templating", {}).get("list", [])}
        check_panels(dashboard, report, names)
        check_links(dashboard, report, known_uids)
        problems.extend(report.problems)
        panels += sum(1 for p in promql.iter_panels(dashboard) if p.get("type") != "row")
        targets += sum(1 for _ in promql.iter_targets(dashboard))
    for problem in problems:
        print(problem)
    print(f"dashboard_check: {len(dashboards)} dashboards, {panels} panels, {targets} queries, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
