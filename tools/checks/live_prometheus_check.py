#!/usr/bin/env python3
"""Live check: every dashboard query and every rule returns data from a real Prometheus that
scrapes the real service under load.

scripts/checks/prometheus-live.sh starts the service (small queue, one worker) and a Prometheus
that scrapes it every second and evaluates alerts/pd-inference-rules.yaml every second; this
script then

 1. waits until the scrape target is up (/api/v1/targets),
 2. drives ~25 s of load on loopback: successful inferences on every model, wrong shapes (422),
    an unknown model (404), requests whose deadline passes in the queue (504), and bursts of
    concurrent requests beyond the queue size (503),
 3. waits until Prometheus has scraped the final counters, then evaluates through
    /api/v1/query, at the end of the load:
    - every panel query of every dashboard, with $namespace/$pod → ".*" (All), $model → a
      real model, $version → ".*", $__rate_interval → 15s, $__range, $__interval;
    - every variable's label_values() selector;
    - every vector selector inside each of those queries and inside every rule expression
      (an alert expression may rightly be empty on healthy data; its selectors may not);
    - every recording rule's output series;
    and asserts each result is non-empty. It also asserts that Prometheus evaluated every rule
    without error, that every alert carries severity, summary, description and runbook_url,
    and that every metric name the dashboards and rules use appears in the service's /metrics.

Standard library only. Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dashboard_promql as promql  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# Series Prometheus makes itself, not the service.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
RUNBOOK = re.compile(r"^README\.md#runbook-[a-z0-9-]+$")


def log(message: str) -> None:
    print(f"[live] {message}", flush=True)


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)
        print(f"[live] FAIL {message}", flush=True)


# ---------------------------------------------------------------- HTTP helpers

def http_get(url: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def api(self, path: str, **params) -> dict:
        url = f"{self.base}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        status, body = http_get(url, timeout=10)
        try:
            payload = json.loads(body)
        except json.JSONDecodeError:
            raise RuntimeError(f"{path}: HTTP {status}: {body[:200]!r}")
        return payload

    def query(self, expr: str, at: float) -> tuple[str | None, list]:
        """(error or None, result list) of an instant query."""
        payload = self.api("query", query=expr, time=f"{at:.3f}")
        if payload.get("status") != "success":
            return f"{payload.get('errorType')}: {payload.get('error')}", []
        data = payload["data"]
        result = data["result"]
        if data["resultType"] == "scalar":
            result = [{"metric": {}, "value": result}]
        return None, result


def wait_until(what: str, predicate, timeout: float, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, RuntimeError, http.client.HTTPException) as e:
            last_error = e
        time.sleep(interval)
    raise SystemExit(f"[live] timed out after {timeout:.0f} s waiting for {what} (last error: {last_error})")


# ---------------------------------------------------------------- the service's /metrics

def exposed_series_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line)
        if m:
            names.add(m.group(0))
    return names


def label_values(text: str, metric: str, label: str) -> list[str]:
    values = []
    for m in re.finditer(rf'^{re.escape(metric)}\{{([^}}]*)\}}', text, re.M):
        lm = re.search(rf'(?:^|,)\s*{label}="([^"]*)"', m.group(1))
        if lm and lm.group(1) not in values:
            values.append(lm.group(1))
    return values


# ---------------------------------------------------------------- load

class Load:
    """Drives traffic at the service and counts the status codes it gets back."""

    def __init__(self, service: str, models: dict[str, dict]) -> None:
        parsed = urllib.parse.urlsplit(service)
        if parsed.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise SystemExit(f"[live] refusing to send load to a non-loopback host: {parsed.hostname}")
        self.host, self.port = parsed.hostname, parsed.port
        self.models = models
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()
        self.bodies = {name: self._body(meta) for name, meta in models.items()}

    @staticmethod
    def _body(meta: dict, rows: int = 1, parameters: dict | None = None) -> bytes:
        inputs = []
        for tensor in meta["inputs"]:
            shape = [rows if i == 0 and d == -1 else (1 if d == -1 else d) for i, d in enumerate(tensor["shape"])]
            count = math.prod(shape)
            fill = 0 if tensor["datatype"].startswith(("INT", "UINT", "BOOL")) else 0.5
            inputs.append({"name": tensor["name"], "shape": shape, "datatype": tensor["datatype"], "data": [fill] * count})
        body = {"inputs": inputs}
        if parameters:
            body["parameters"] = parameters
        return json.dumps(body).encode()

    def _post(self, conn: http.client.HTTPConnection | None, path: str, body: bytes) -> tuple[int, http.client.HTTPConnection | None]:
        own = conn is None
        if own:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = None
        with self.lock:
            self.statuses[status] += 1
        if own and conn is not None:
            conn.close()
            conn = None
        return status, conn

    def steady(self, model: str, until: float, pause: float) -> None:
        conn = None
        path = f"/v2/models/{model}/infer"
        for _ in range(100_000):  # bounded; the deadline ends it first
            if time.monotonic() >= until:
                break
            _, conn = self._post(conn, path, self.bodies[model])
            time.sleep(pause)
        if conn is not None:
            conn.close()

    def invalid(self, model: str) -> None:
        meta = self.models[model]
        tensor = meta["inputs"][0]
        wrong = {"inputs": [{"name": tensor["name"], "shape": [1, 3], "datatype": tensor["datatype"], "data": [1, 2, 3]}]}
        self._post(None, f"/v2/models/{model}/infer", json.dumps(wrong).encode())
        self._post(None, "/v2/models/no-such-model/infer", self.bodies[model])

    def deadline_passed(self, model: str) -> None:
        # Triton's `timeout` parameter is in microseconds: 1 µs passes while the request waits.
        body = self._body(self.models[model], parameters={"timeout": 1})
        self._post(None, f"/v2/models/{model}/infer", body)

    def burst(self, model: str, concurrency: int) -> None:
        barrier = threading.Barrier(concurrency)
        body = self.bodies[model]
        path = f"/v2/models/{model}/infer"

        def one() -> None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                conn.connect()
                barrier.wait(timeout=10)
            except (OSError, threading.BrokenBarrierError):
                pass
            self._post(conn, path, body)
            conn.close()

        threads = [threading.Thread(target=one, daemon=True) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)

    def run(self, seconds: float, burst_model: str) -> None:
        until = time.monotonic() + seconds
        workers = [threading.Thread(target=self.steady, args=(m, until, 0.02), daemon=True) for m in self.models]
        for w in workers:
            w.start()
        concurrency = 48
        rounds = 0
        while time.monotonic() < until and rounds < 1000:
            rounds += 1
            for model in self.models:
                self.invalid(model)
                self.deadline_passed(model)
            before = self.statuses[503]
            self.burst(burst_model, concurrency)
            if self.statuses[503] == before and concurrency < 192:
                concurrency *= 2  # the queue drained too fast: push harder next time
            time.sleep(min(2.0, max(0.0, until - time.monotonic())))
        for w in workers:
            w.join(timeout=30)


# ---------------------------------------------------------------- evaluation

def is_nan_only(result: list) -> bool:
    values = [r["value"][1] for r in result if "value" in r]
    return bool(values) and all(v in ("NaN", "+Inf", "-Inf") for v in values)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Evaluate every dashboard query and rule against a live Prometheus.")
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL (loopback)")
    parser.add_argument("--service", required=True, help="pd-inference base URL (loopback)")
    parser.add_argument("--job", default="pd-inference")
    parser.add_argument("--model", default="mlp", help="value of $model in the dashboards")
    parser.add_argument("--load-seconds", type=float, default=25.0)
    parser.add_argument("--rate-interval", default="15s")
    parser.add_argument("--dashboards", nargs="*", type=Path, default=None)
    parser.add_argument("--verbose", action="store_true", help="print every expression with its first sample")
    args = parser.parse_args(argv)
    fail = Failures()
    prom = Prometheus(args.prometheus)

    # 1. Prometheus ready, target up, rules loaded.
    wait_until("Prometheus to be ready", lambda: http_get(f"{prom.base}/-/ready")[0] == 200, 60)

    def target_up():
        targets = prom.api("targets", state="active")["data"]["activeTargets"]
        ours = [t for t in targets if t["labels"].get("job") == args.job]
        return ours if ours and all(t["health"] == "up" for t in ours) else None

    targets = wait_until(f"the {args.job} target to be up", target_up, 60)
    log(f"target up: {', '.join(t['scrapeUrl'] for t in targets)}")

    status, body = http_get(f"{args.service}/metrics")
    if status != 200:
        raise SystemExit(f"[live] GET {args.service}/metrics answered {status}: {body[:200]!r}")
    metrics_text = body.decode()
    exposed = exposed_series_names(metrics_text)
    log(f"/metrics exposes {len(exposed)} series names")

    # 2. Load.
    models = {}
    for name in label_values(metrics_text, "pd_model_ready", "model"):
        status, meta = http_get(f"{args.service}/v2/models/{urllib.parse.quote(name)}")
        if status == 200:
            models[name] = json.loads(meta)
    if args.model not in models:
        raise SystemExit(f"[live] model {args.model!r} is not served (pd_model_ready lists {sorted(models)})")
    load = Load(args.service, models)
    log(f"load for {args.load_seconds:.0f} s on {sorted(models)}; bursts at {args.model}")
    started = time.time()
    load.run(args.load_seconds, args.model)
    load_end = time.time()
    log(f"responses by status: {dict(sorted(load.statuses.items()))}")
    for code, meaning in ((200, "successful inference"), (404, "unknown model"), (503, "rejection (queue full)")):
        if load.statuses[code] == 0:
            fail.add(f"the load produced no {code} ({meaning})")
    if load.statuses[422] + load.statuses[400] == 0:
        fail.add("the load produced no 422/400 (wrong shape)")
    if load.statuses[504] == 0:
        log("note: no 504 (deadline passed in queue) was produced")

    # 3. Wait until Prometheus holds the final counters, then evaluate at that moment.
    def scraped_final():
        # Every successful response has been counted, scraped, and seen by a rule evaluation.
        err, result = prom.query(f'sum(pd_inference_requests_total{{job="{args.job}", outcome="success"}})', time.time())
        if err or not result:
            return None
        return float(result[0]["value"][1]) >= load.statuses[200] and time.time() - load_end > 3

    wait_until("the final scrape and rule evaluation", scraped_final, 30)
    at = time.time()
    range_seconds = int(math.ceil(at - started)) + 5
    values = {
        "datasource": "prometheus",
        "namespace": ".*",
        "pod": ".*",
        "model": args.model,
        "version": ".*",
        "__rate_interval": args.rate_interval,
        "__interval": "2s",
        "__range": f"{range_seconds}s",
        "__range_s": str(range_seconds),
        "__range_ms": str(range_seconds * 1000),
    }

    checked: dict[str, list] = {}
    referenced: set[str] = set()
    nan_only: list[str] = []

    def expect_data(expr: str, where: str) -> list:
        if expr in checked:
            return checked[expr]
        err, result = prom.query(expr, at)
        checked[expr] = result
        if err:
            fail.add(f"{where}: query error {err}\n        {expr}")
        elif not result:
            fail.add(f"{where}: empty result\n        {expr}")
        elif is_nan_only(result):
            nan_only.append(f"{where}: {expr}")
        if args.verbose and result:
            first = result[0]
            log(f"{len(result):3d} series, e.g. {first['metric']} = {first.get('value', ['', '?'])[1]}  <- {expr}")
        return result

    def expect_selectors(expr: str, where: str) -> None:
        for s in promql.selectors(expr):
            referenced.add(s.name)
            expect_data(s.instant_query(), f"{where}: selector {s.name}")

    # Dashboards.
    files = args.dashboards or sorted((ROOT / "dashboards").glob("*.json"))
    panel_queries = 0
    for path in files:
        dashboard = promql.load_dashboard(path)
        for variable in dashboard.get("templating", {}).get("list", []):
            parts = promql.label_values_parts(promql.variable_query(variable))
            if variable.get("type") != "query" or parts is None:
                continue
            selector, label = parts
            where = f"{path.name} variable ${variable['name']}"
            result = expect_data(promql.substitute(selector, values), where)
            expect_selectors(promql.substitute(selector, values), where)
            found = sorted({r["metric"].get(label, "") for r in result})
            if variable["name"] == "model" and args.model not in found:
                fail.add(f"{where}: label_values gives {found}, without {args.model!r}")
        for panel, target in promql.iter_targets(dashboard):
            expr = promql.substitute(target.get("expr", ""), values)
            where = f"{path.name} panel {panel.get('title')!r} {target.get('refId')}"
            if "$" in expr:
                fail.add(f"{where}: unsubstituted variable in {expr}")
                continue
            panel_queries += 1
            expect_data(expr, where)
            expect_selectors(expr, where)

    # Rules: loaded, evaluated without error, annotated; their series and selectors return data.
    groups = prom.api("rules")["data"]["groups"]
    rule_count = alert_count = 0
    recorded = set()
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("name")
            where = f"rule group {group['name']} {rule['type']} {name}"
            rule_count += 1
            if rule.get("health") != "ok":
                fail.add(f"{where}: health {rule.get('health')}: {rule.get('lastError')}")
            if rule["type"] == "recording":
                recorded.add(name)
            else:
                alert_count += 1
                labels, annotations = rule.get("labels", {}), rule.get("annotations", {})
                if labels.get("severity") not in ("critical", "warning", "info"):
                    fail.add(f"{where}: severity label missing or unknown: {labels.get('severity')!r}")
                for key in ("summary", "description", "runbook_url"):
                    if not annotations.get(key):
                        fail.add(f"{where}: annotation {key} missing")
                if not RUNBOOK.match(annotations.get("runbook_url", "")) or \
                        annotations.get("runbook_url", "").split("#runbook-")[-1] != name.lower():
                    fail.add(f"{where}: runbook_url should be README.md#runbook-{name.lower()}")
            expect_selectors(rule["query"], where)
    for group in groups:
        for rule in group["rules"]:
            if rule["type"] == "recording":
                expect_data(rule["name"], f"recording rule {rule['name']}")
    if rule_count == 0:
        fail.add("Prometheus loaded no rules")

    # Every metric name the dashboards and rules use is exposed by the service (or recorded).
    for name in sorted(referenced):
        if name in SYNTHETIC:
            continue
        if ":" in name:
            if name not in recorded:
                fail.add(f"{name} is used but no recording rule produces it")
        elif name not in exposed:
            fail.add(f"metric {name} is used by a dashboard or rule but missing from the service's /metrics")
    def family(name: str) -> str:
        return re.sub(r"_(bucket|sum|count|created)$", "", name)

    used_families = {family(n) for n in referenced}
    unused = sorted({family(n) for n in exposed if n.startswith("pd_")} - used_families)
    if unused:
        log(f"note: exposed but used by no dashboard or rule: {', '.join(unused)}")

    # Information: alert states after the load, exemplars stored.
    alerts = prom.api("alerts")["data"]["alerts"]
    states = sorted({f"{a['labels']['alertname']}={a['state']}" for a in alerts})
    log(f"alerts after the load: {', '.join(states) if states else 'none pending or firing'}")
    ex = prom.api("query_exemplars", query="pd_inference_request_duration_seconds_bucket",
                  start=f"{started:.3f}", end=f"{at:.3f}")
    if ex.get("status") == "success":
        count = sum(len(s.get("exemplars", [])) for s in ex["data"])
        log(f"exemplars stored for pd_inference_request_duration_seconds_bucket: {count}")
    for item in nan_only:
        log(f"note: only NaN/Inf (idle series): {item}")

    log(f"{panel_queries} panel queries, {rule_count} rules ({alert_count} alerts), {len(checked)} distinct expressions "
        f"evaluated at {time.strftime('%H:%M:%S', time.localtime(at))} with $__rate_interval={args.rate_interval}, "
        f"$__range={values['__range']}")
    print(f"live-prometheus: {max(0, len(checked) - len(fail.items))} passed, {len(fail.items)} failed")
    return 1 if fail.items else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
