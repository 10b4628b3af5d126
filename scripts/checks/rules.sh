#!/usr/bin/env bash
# Static checks of the monitoring files: the Prometheus rules (promtool check, promtool unit
# tests, and every alert made to fire by some test) and the Grafana dashboards (Grafana's
# dashboard schema plus the project's conventions, tools/checks/dashboard_check.py).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/checks/lib.sh.inc

ensure_prometheus

rules=alerts/pd-inference-rules.yaml
tests=(alerts/tests/*.test.yaml)

promtool check rules "$rules"
promtool test rules "${tests[@]}"

# Every alert must fire in at least one test case (an alertname test with exp_alerts).
missing=$(
  awk '
    FNR == 1 { current = "" }
    FILENAME == ARGV[1] && /^[[:space:]]*- alert:/ { sub(/.*- alert:[[:space:]]*/, ""); alerts[$0] = 1; next }
    FILENAME != ARGV[1] && /alertname:/ { line = $0; sub(/.*alertname:[[:space:]]*/, "", line); sub(/[[:space:]}].*/, "", line); current = line }
    FILENAME != ARGV[1] && /exp_alerts:/ && current != "" { fired[current] = 1 }
    END { for (a in alerts) if (!(a in fired)) print a }
  ' "$rules" "${tests[@]}"
)
if [ -n "$missing" ]; then
  echo "alerts that no promtool test makes fire:" $missing >&2
  exit 1
fi
echo "every alert in $rules fires in a promtool test"

# Dashboards: Grafana's schema (via the pinned Grafana Foundation SDK) and project conventions.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import grafana_foundation_sdk' 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check -r tools/checks/dash-requirements.txt
fi
.venv/bin/python tools/checks/dashboard_check.py dashboards/*.json
