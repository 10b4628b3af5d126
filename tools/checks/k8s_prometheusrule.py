"""Keeps the PrometheusRule manifest in step with the plain Prometheus rules file.

alerts/pd-inference-rules.yaml is the source (promtool checks and tests it). Kustomize cannot wrap
it: it has no apiVersion/kind, and Prometheus rejects a rules file that adds them. So the
PrometheusRule in kustomize/components/prometheus-rule/ is generated from it by this script, and
the check fails with a diff when the two differ.

Usage (from the repository root):
  .venv/bin/python tools/checks/k8s_prometheusrule.py           # check, exit 1 with a diff
  .venv/bin/python tools/checks/k8s_prometheusrule.py --write   # regenerate
"""
import argparse
import difflib
import sys

import yaml

SOURCE = "alerts/pd-inference-rules.yaml"
TARGET = "kustomize/components/prometheus-rule/pd-inference-prometheusRule.yaml"

HEADER = f"""\
# Generated from {SOURCE} by tools/checks/k8s_prometheusrule.py --write.
# Do not edit: change the rules file and regenerate (scripts/checks/kubernetes.sh fails until then).
# A Prometheus only loads this object if its ruleSelector matches its labels; kube-prometheus-stack
# wants `release: <helm release>` (add it in the overlay's labels when that is the case).
"""


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL, descriptions) as literal blocks, as people write them."""


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, _str)


def render(source_text):
    rules = yaml.safe_load(source_text)
    if not isinstance(rules, dict) or set(rules) != {"groups"} or not rules["groups"]:
        raise SystemExit(f"{SOURCE}: expected a Prometheus rules file with only a non-empty `groups:` list")
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "pd-inference",
            "labels": {
                "app.kubernetes.io/name": "pd-inference",
                "app.kubernetes.io/component": "alert-rules",
                "app.kubernetes.io/part-of": "pd-inference",
            },
        },
        "spec": {"groups": rules["groups"]},
    }
    return HEADER + yaml.dump(doc, Dumper=BlockDumper, sort_keys=False, width=1_000_000, allow_unicode=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"regenerate {TARGET}")
    args = parser.parse_args()
    with open(SOURCE) as f:
        expected = render(f.read())
    if args.write:
        with open(TARGET, "w") as f:
            f.write(expected)
        print(f"wrote {TARGET} from {SOURCE}")
        return 0
    try:
        with open(TARGET) as f:
            actual = f.read()
    except FileNotFoundError:
        actual = ""
    if actual != expected:
        diff = list(difflib.unified_diff(actual.splitlines(True), expected.splitlines(True), TARGET, f"generated from {SOURCE}"))
        sys.stdout.writelines(diff[:100])
        if len(diff) > 100:
            print(f"... {len(diff) - 100} more diff lines")
        print(f"FAIL: {TARGET} is not generated from {SOURCE}; run: .venv/bin/python tools/checks/k8s_prometheusrule.py --write")
        return 1
    # The round trip must keep every rule: compare the data, not only the text.
    if yaml.safe_load(actual)["spec"]["groups"] != yaml.safe_load(open(SOURCE))["groups"]:
        print(f"FAIL: {TARGET} does not hold the rules of {SOURCE}")
        return 1
    groups = yaml.safe_load(actual)["spec"]["groups"]
    print(f"ok: {TARGET} matches {SOURCE} ({len(groups)} groups, {sum(len(g.get('rules', [])) for g in groups)} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
