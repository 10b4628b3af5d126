"""Validates rendered Kubernetes manifests against API schemas, offline.

Built-in kinds: the OpenAPI schemas that kubernetes-validate bundles, in strict mode (an unknown
field is an error), for every Kubernetes version given with --kubernetes-version.
Prometheus Operator kinds (ServiceMonitor, PodMonitor, PrometheusRule): the pydantic models of
cloudcoil-models-prometheus-operator, which are generated from the operator's CRD schemas (types,
enums and patterns such as the duration format). Those models ignore unknown fields, so every
field of the manifest must also survive a validate/dump round trip.
A kind with no schema is an error, not a warning.

Before validating, a self-test feeds known-bad copies of the manifests through the same code and
fails unless each one is rejected.

Usage: .venv/bin/python tools/checks/k8s_validate.py [-k 1.30 -k 1.37] RENDERED.yaml...
"""
import argparse
import copy
import os
import sys

import kubernetes_validate
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, ValidationError, latest_version, major_minor

DEFAULT_VERSIONS = ["1.30", "latest"]


def prometheus_operator_models():
    # Imported lazily: the module is large and only needed when such objects are rendered.
    from cloudcoil.models.prometheus_operator import v1

    return {"ServiceMonitor": v1.ServiceMonitor, "PodMonitor": v1.PodMonitor, "PrometheusRule": v1.PrometheusRule}


def unknown_fields(given, dumped, path=""):
    """Paths present in `given` that the model dropped, i.e. fields the schema does not know."""
    found = []
    if isinstance(given, dict):
        if not isinstance(dumped, dict):
            return [path or "."]
        for key, value in given.items():
            if key not in dumped:
                found.append(f"{path}.{key}" if path else key)
            else:
                found += unknown_fields(value, dumped[key], f"{path}.{key}" if path else key)
    elif isinstance(given, list) and isinstance(dumped, list):
        for i, (a, b) in enumerate(zip(given, dumped)):
            found += unknown_fields(a, b, f"{path}[{i}]")
    return found


def validate_crd(doc):
    models = prometheus_operator_models()
    model = models[doc["kind"]]
    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
        return [f"apiVersion {doc.get('apiVersion')!r} is not monitoring.coreos.com/v1"]
    try:
        parsed = model.model_validate(doc)
    except Exception as error:  # pydantic.ValidationError: one line per problem
        lines = [line for line in str(error).splitlines() if line.strip() and "For further information" not in line]
        return [" ".join(lines[1:])[:400] or str(error)[:400]]
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return [f"unknown field {p}" for p in unknown_fields(doc, dumped)]


def validate_doc(doc, versions):
    """Returns a list of problems (empty when the object is valid for every version)."""
    kind = doc.get("kind", "?")
    if kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule"):
        return validate_crd(doc)
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except ValidationError as error:
            where = ".".join(str(p) for p in error.path) or "."
            problems.append(f"Kubernetes {error.version}: {where}: {error.message}")
        except SchemaNotFoundError as error:
            problems.append(f"no schema: {error.message}")
    return problems


def name_of(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def self_test(docs, versions):
    """Each mutation must make validation fail; returns the mutations that slipped through."""
    mutations = []

    def first(kind):
        return next((i for i, d in enumerate(docs) if d.get("kind") == kind), None)

    def add(label, kind, mutate):
        index = first(kind)
        if index is not None:
            mutations.append((label, index, mutate))

    add("unknown Deployment field", "Deployment", lambda d: d["spec"].__setitem__("replica", 3))
    add("string where an integer belongs", "Deployment",
        lambda d: d["spec"]["template"]["spec"].__setitem__("terminationGracePeriodSeconds", "40"))
    add("misspelt probe field", "Deployment",
        lambda d: d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"].__setitem__("periodSecond", 5))
    add("Service port without a number", "Service", lambda d: d["spec"]["ports"][0].pop("port"))
    add("unknown kind", "Service", lambda d: d.__setitem__("kind", "Servce"))
    add("ServiceMonitor bad interval", "ServiceMonitor",
        lambda d: d["spec"]["endpoints"][0].__setitem__("interval", "15 seconds"))
    add("ServiceMonitor unknown field", "ServiceMonitor",
        lambda d: d["spec"]["endpoints"][0].__setitem__("intervall", "15s"))
    add("PrometheusRule rule without expr", "PrometheusRule",
        lambda d: d["spec"]["groups"][0]["rules"][0].pop("expr"))
    add("HPA target without type", "HorizontalPodAutoscaler",
        lambda d: d["spec"]["metrics"][0]["resource"]["target"].pop("type"))

    missed = []
    for label, index, mutate in mutations:
        doc = copy.deepcopy(docs[index])
        mutate(doc)
        if not validate_doc(doc, versions):
            missed.append(label)
    return len(mutations), missed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", "--kubernetes-version", action="append", dest="versions",
                        help=f"Kubernetes version to validate against (repeatable; default {' and '.join(DEFAULT_VERSIONS)})")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    versions = [major_minor(latest_version()) if v == "latest" else v for v in (args.versions or DEFAULT_VERSIONS)]

    failed = False
    for file in args.files:
        path = os.path.basename(file)
        with open(file) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        if not docs:
            print(f"FAIL: {path}: no objects")
            failed = True
            continue
        file_failed = False
        tried, missed = self_test(docs, versions)
        for label in missed:
            print(f"FAIL: {path}: self-test: a manifest with '{label}' was accepted")
        if tried == 0 or missed:
            print(f"FAIL: {path}: schema self-test ({tried} mutations, {len(missed)} missed)")
            file_failed = True
        for doc in docs:
            problems = validate_doc(doc, versions)
            for problem in problems:
                print(f"FAIL: {path}: {name_of(doc)}: {problem}")
            file_failed |= bool(problems)
        if not file_failed:
            kinds = sorted({d.get("kind") for d in docs})
            print(f"ok: {path}: {len(docs)} objects ({', '.join(kinds)}) valid against Kubernetes "
                  f"{' and '.join(versions)} schemas and the Prometheus Operator CRD models; "
                  f"self-test: {tried} broken variants each rejected")
        failed |= file_failed
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
