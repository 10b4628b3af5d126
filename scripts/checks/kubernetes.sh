#!/usr/bin/env bash
# Kubernetes manifests, offline: renders both overlays with `kubectl kustomize`, validates every
# object against the Kubernetes 1.30 and latest schemas and the Prometheus Operator CRDs, runs the
# policy checks (starting the built server with each overlay's settings), checks that the
# PrometheusRule is generated from alerts/ and compares each render with its golden file.
#
#   scripts/checks/kubernetes.sh            check (exit 1 with a diff when a render changed)
#   scripts/checks/kubernetes.sh --update   regenerate the PrometheusRule and the golden files
#
# Needs kubectl (kustomize v5), the debug binary (.build/debug/pd-inference, or PD_BIN) and the
# packages of tools/checks/k8s-requirements.txt in .venv (installed here when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN="${PD_BIN:-.build/debug/pd-inference}"
PY=.venv/bin/python
OVERLAYS=(dev prod)
GOLDEN=kustomize/golden
update=false
case "${1:-}" in
  --update) update=true ;;
  "") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

command -v kubectl >/dev/null || { echo "FAIL: kubectl not found (it renders the overlays: kubectl kustomize)"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL: $BIN not found: run swift build first"; exit 1; }
if ! "$PY" -c 'import kubernetes_validate, cloudcoil.models.prometheus_operator, yaml' 2>/dev/null; then
  [ -x "$PY" ] || python3 -m venv .venv
  "$PY" -m pip install -q --disable-pip-version-check -r tools/checks/k8s-requirements.txt
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

echo "-- kustomization files use no deprecated fields"
deprecated=$(grep -rlE --include=kustomization.yaml '^(commonLabels|patchesStrategicMerge|patchesJson6902|vars|bases):' kustomize dashboards alerts 2>/dev/null || true)
if [ -n "$deprecated" ]; then
  echo "FAIL: commonLabels/patchesStrategicMerge/patchesJson6902/vars/bases in: $deprecated"
  status=1
fi

echo "-- PrometheusRule generated from alerts/pd-inference-rules.yaml"
if $update; then
  "$PY" tools/checks/k8s_prometheusrule.py --write
else
  "$PY" tools/checks/k8s_prometheusrule.py || status=1
fi

echo "-- kubectl kustomize"
kubectl kustomize kustomize/base > "$work/base.yaml"
for overlay in "${OVERLAYS[@]}"; do
  kubectl kustomize "kustomize/overlays/$overlay" > "$work/$overlay.yaml"
  echo "ok: kustomize/overlays/$overlay renders $(grep -c '^kind:' "$work/$overlay.yaml") objects"
done

echo "-- schemas"
"$PY" tools/checks/k8s_validate.py "$work/dev.yaml" "$work/prod.yaml" || status=1

echo "-- policy"
"$PY" tools/checks/k8s_policy.py --binary "$BIN" --models models --dockerfile Dockerfile \
  "$work/dev.yaml" || status=1
"$PY" tools/checks/k8s_policy.py --binary "$BIN" --models models --dockerfile Dockerfile \
  --pinned-image --expect-job pd-inference \
  --expect-kinds ServiceMonitor,PrometheusRule,PodDisruptionBudget,HorizontalPodAutoscaler,NetworkPolicy \
  --adapter-rule kustomize/components/hpa/prometheus-adapter-rule.yaml \
  --dashboards dashboards \
  "$work/prod.yaml" || status=1

echo "-- golden renders ($GOLDEN)"
for overlay in "${OVERLAYS[@]}"; do
  if $update; then
    cp "$work/$overlay.yaml" "$GOLDEN/$overlay.yaml"
    echo "wrote $GOLDEN/$overlay.yaml"
  elif [ ! -f "$GOLDEN/$overlay.yaml" ]; then
    echo "FAIL: $GOLDEN/$overlay.yaml is missing; create it with: scripts/checks/kubernetes.sh --update"
    status=1
  elif diff -u "$GOLDEN/$overlay.yaml" "$work/$overlay.yaml" > "$work/$overlay.diff"; then
    echo "ok: kustomize/overlays/$overlay renders $GOLDEN/$overlay.yaml"
  else
    head -n 150 "$work/$overlay.diff"
    echo "FAIL: kustomize/overlays/$overlay no longer renders $GOLDEN/$overlay.yaml" \
         "($(grep -c '^[-+][^-+]' "$work/$overlay.diff") lines differ). If the change is intended:" \
         "scripts/checks/kubernetes.sh --update"
    status=1
  fi
done

exit $status
