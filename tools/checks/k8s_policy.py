"""Policy checks on a rendered overlay (the output of `kubectl kustomize`).

Every container: CPU and memory requests and limits (requests <= limits); startup, liveness and
readiness probes on a named container port and on a route the server has; a non-root security
context (runAsNonRoot, numeric non-zero user and group, read-only root filesystem, no privilege
escalation, all capabilities dropped, RuntimeDefault seccomp); an image with a tag (a pinned one
with --pinned-image); environment variables that are settings of the binary (or feed one through
$(VAR)); settings ConfigMaps whose every key is printed by `pd-inference --print-settings`;
terminationGracePeriodSeconds above SHUTDOWN_DRAIN_SECONDS + SHUTDOWN_TIMEOUT_SECONDS.
Selectors: Deployments select their own pods; Services select pods and target named container
ports; ServiceMonitor/PodMonitor, PodDisruptionBudget, HorizontalPodAutoscaler, NetworkPolicy
and topology spread select the pods; the PDB leaves a disruption possible at the minimum replica
count; the HPA's Pods metrics are served by the prometheus-adapter rule (--adapter-rule).
Dashboards (--dashboards): one ConfigMap per dashboards/*.json with the same content.
Image (--dockerfile): the manifests' user, port and model folder are the image's.
Live (--binary): the server is started with each Deployment's settings on a free loopback port
and every probe and scrape path must answer 200; SIGTERM must then end it with status 0.

A self-test runs first: known-bad copies of the rendered objects must each be caught.

Usage: .venv/bin/python tools/checks/k8s_policy.py --binary .build/debug/pd-inference RENDERED.yaml
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys

import yaml

from k8s_live import live_check
from k8s_mutations import mutations

# Routes of the server that a probe or a scrape may use (ARCHITECTURE.md §3).
ROUTES = {"/healthz", "/livez", "/readyz", "/metrics", "/v2", "/v2/health/live", "/v2/health/ready"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# kubectl's client-side apply stores the whole object in an annotation, and annotations are
# limited to 256 KiB in total.
MAX_OBJECT_BYTES = 256 * 1024 - 4096
QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
FACTORS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


# ---- the binary's settings ----------------------------------------------------------------------

class Settings:
    """Names and defaults of the settings, read from the binary itself."""

    def __init__(self, binary):
        self.names = set(subprocess.run([binary, "--print-settings"], check=True, capture_output=True,
                                        text=True, timeout=30).stdout.split())
        if not self.names:
            raise SystemExit(f"{binary} --print-settings printed no setting")
        help_text = subprocess.run([binary, "--help"], check=True, capture_output=True, text=True, timeout=30).stdout
        self.defaults = {}
        current = None
        for line in help_text.splitlines():
            words = line.split()
            if words and words[0] in self.names and line.startswith("  ") and not line.startswith("      "):
                current = words[0]
            elif current and "Default:" in line:
                self.defaults[current] = line.split("Default:", 1)[1].strip()
                current = None

    def number(self, values, name):
        value = values.get(name, self.defaults.get(name))
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


# ---- helpers ------------------------------------------------------------------------------------

def quantity(text):
    match = QUANTITY.match(str(text))
    return float(match.group(1)) * FACTORS[match.group(2)] if match else None


def selector_matches(selector, labels):
    """Kubernetes label-selector semantics (matchLabels and matchExpressions)."""
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def is_empty_selector(selector):
    return not (selector or {}).get("matchLabels") and not (selector or {}).get("matchExpressions")


def ident(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def namespace_of(doc):
    return doc.get("metadata", {}).get("namespace", "")


def pod_template(doc):
    if doc.get("kind") in WORKLOAD_KINDS:
        return doc.get("spec", {}).get("template")
    if doc.get("kind") == "CronJob":
        return doc.get("spec", {}).get("jobTemplate", {}).get("spec", {}).get("template")
    return None


def image_tag(image):
    """(tag, digest) of an image reference; the tag is None when there is none."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    return tag, digest or None


# ---- the checks ---------------------------------------------------------------------------------

class Image:
    """What the Dockerfile's final stage promises: user, exposed ports, environment."""

    def __init__(self, path, name):
        self.path, self.name = path, name
        self.user = self.group = None
        self.ports, self.env = set(), {}
        with open(path) as f:
            lines = f.read().replace("\\\n", " ").splitlines()
        for line in lines:
            words = line.split()
            if not words or words[0].startswith("#"):
                continue
            instruction = words[0].upper()
            if instruction == "FROM":  # only the last stage counts
                self.user = self.group = None
                self.ports, self.env = set(), {}
            elif instruction == "USER":
                user, _, group = words[1].partition(":")
                self.user, self.group = int(user), int(group) if group else None
            elif instruction == "EXPOSE":
                self.ports |= {int(w.split("/")[0]) for w in words[1:]}
            elif instruction == "ENV":
                self.env.update(w.split("=", 1) for w in words[1:] if "=" in w)


class Context:
    def __init__(self, docs, settings, adapter_metrics, dashboards, expect_kinds, pinned_image, expect_job,
                 image=None):
        self.docs = docs
        self.settings = settings
        self.adapter_metrics = adapter_metrics
        self.dashboards = dashboards
        self.expect_kinds = expect_kinds
        self.pinned_image = pinned_image
        self.expect_job = expect_job
        self.image = image

    def of_kind(self, kind):
        return [d for d in self.docs if d.get("kind") == kind]

    def find(self, kind, name, namespace):
        for doc in self.of_kind(kind):
            if doc["metadata"]["name"] == name and namespace_of(doc) == namespace:
                return doc
        return None

    def workloads(self, namespace=None):
        return [d for d in self.docs if pod_template(d) is not None and (namespace is None or namespace_of(d) == namespace)]

    def pods_selected(self, selector, namespace):
        return [w for w in self.workloads(namespace)
                if selector_matches(selector, pod_template(w).get("metadata", {}).get("labels"))]

    def container_settings(self, container, namespace):
        """Settings a container gets: its envFrom ConfigMaps, then its literal env values."""
        values = {}
        for source in container.get("envFrom") or []:
            ref = (source.get("configMapRef") or {}).get("name")
            config_map = self.find("ConfigMap", ref, namespace) if ref else None
            if config_map:
                values.update({source.get("prefix", "") + k: v for k, v in (config_map.get("data") or {}).items()})
        for env in container.get("env") or []:
            if "value" in env:
                values[env["name"]] = env["value"]
        return values

    def min_replicas(self, workload):
        for hpa in self.of_kind("HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            if ref.get("kind") == workload["kind"] and ref.get("name") == workload["metadata"]["name"] \
                    and namespace_of(hpa) == namespace_of(workload):
                return hpa["spec"].get("minReplicas", 1)
        return workload.get("spec", {}).get("replicas", 1)


def check_container(ctx, doc, pod, container, init, errors):
    where = f"{ident(doc)} container {container.get('name')}"
    namespace = namespace_of(doc)
    port_names = {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if p.get("name")}
    port_numbers = {p.get("containerPort") for p in container.get("ports") or []}
    values = ctx.container_settings(container, namespace)

    # Resources.
    resources = container.get("resources") or {}
    for section in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if quantity((resources.get(section) or {}).get(resource, "")) is None:
                errors.append(f"{where}: no {resource} {section[:-1]} (resources.{section}.{resource})")
    for resource in ("cpu", "memory"):
        request = quantity((resources.get("requests") or {}).get(resource, ""))
        limit = quantity((resources.get("limits") or {}).get(resource, ""))
        if request is not None and limit is not None and request > limit:
            errors.append(f"{where}: {resource} request is above its limit")

    # Probes.
    if not init:
        for probe_name in ("startupProbe", "livenessProbe", "readinessProbe"):
            probe = container.get(probe_name)
            if not probe:
                errors.append(f"{where}: no {probe_name}")
                continue
            http = probe.get("httpGet")
            if not http:
                errors.append(f"{where}: {probe_name} is not an httpGet probe")
                continue
            port = http.get("port")
            if isinstance(port, str) and port not in port_names:
                errors.append(f"{where}: {probe_name} port {port!r} names no container port")
            if isinstance(port, int) and port not in port_numbers:
                errors.append(f"{where}: {probe_name} port {port} is not a container port")
            if http.get("path") not in ROUTES:
                errors.append(f"{where}: {probe_name} path {http.get('path')!r} is not a route of the server")

    # Security context (the pod's values apply where the container sets none).
    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}

    def effective(key):
        return sc.get(key, pod_sc.get(key))

    if effective("runAsNonRoot") is not True:
        errors.append(f"{where}: runAsNonRoot is not true")
    for key in ("runAsUser", "runAsGroup"):
        value = effective(key)
        if not isinstance(value, int) or value == 0:
            errors.append(f"{where}: {key} is not a numeric non-root id ({value!r})")
    if sc.get("readOnlyRootFilesystem") is not True:
        errors.append(f"{where}: readOnlyRootFilesystem is not true")
    if sc.get("allowPrivilegeEscalation") is not False:
        errors.append(f"{where}: allowPrivilegeEscalation is not false")
    if sc.get("privileged"):
        errors.append(f"{where}: privileged")
    capabilities = sc.get("capabilities") or {}
    if "ALL" not in (capabilities.get("drop") or []):
        errors.append(f"{where}: capabilities do not drop ALL")
    if capabilities.get("add"):
        errors.append(f"{where}: capabilities add {capabilities['add']}")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        errors.append(f"{where}: seccompProfile is {seccomp!r}, not RuntimeDefault")

    # Image.
    image = container.get("image", "")
    tag, digest = image_tag(image)
    if not tag and not digest:
        errors.append(f"{where}: image {image!r} has no tag")
    if ctx.pinned_image and (tag in (None, "latest") and not digest):
        errors.append(f"{where}: image {image!r} is not pinned to a version")
    if tag == "latest" and not container.get("imagePullPolicy"):
        errors.append(f"{where}: image {image!r} without imagePullPolicy is pulled on every start")
    version = pod.get("_labels", {}).get("app.kubernetes.io/version")
    if version is not None and not init and version != tag:
        errors.append(f"{where}: label app.kubernetes.io/version {version!r} differs from the image tag {tag!r}")

    # Environment: settings, or helpers that feed a setting through $(VAR).
    settings = ctx.settings
    env = container.get("env") or []
    referenced = {name for e in env for name in VAR_REF.findall(e.get("value", ""))}
    defined = set()
    from_config_maps = set()
    for source in container.get("envFrom") or []:
        ref = (source.get("configMapRef") or source.get("secretRef") or {}).get("name")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        found = ctx.find(kind, ref, namespace)
        if not found:
            if kind == "ConfigMap" and not (source.get("configMapRef") or {}).get("optional"):
                errors.append(f"{where}: envFrom ConfigMap {ref!r} is not in the rendered output")
            continue
        for key in (found.get("data") or {}):
            name = source.get("prefix", "") + key
            if name not in settings.names:
                errors.append(f"{where}: ConfigMap {ref} key {name!r} is not a setting of the binary "
                              f"(pd-inference --print-settings)")
            from_config_maps.add(name)
    for e in env:
        name = e["name"]
        if name not in settings.names and name not in referenced:
            errors.append(f"{where}: env {name!r} is neither a setting of the binary nor used by one")
        if name in from_config_maps:
            errors.append(f"{where}: env {name!r} silently overrides the same key from the ConfigMap")
        for ref in VAR_REF.findall(e.get("value", "")):
            if ref not in defined and ref not in from_config_maps:
                errors.append(f"{where}: env {name!r} uses $({ref}), which is not defined before it")
        defined.add(name)

    # Ports: the named port is the one the server listens on.
    listen = settings.number(values, "PORT")
    if "http" in port_names and listen is not None and port_names["http"] != int(listen):
        errors.append(f"{where}: port http is {port_names['http']} but PORT is {int(listen)}")
    if not init:
        annotations = pod.get("metadata", {}).get("annotations") or {}
        if "prometheus.io/port" in annotations and listen is not None and annotations["prometheus.io/port"] != str(int(listen)):
            errors.append(f"{where}: prometheus.io/port {annotations['prometheus.io/port']} is not PORT {int(listen)}")
        if "prometheus.io/path" in annotations and annotations["prometheus.io/path"] not in ROUTES:
            errors.append(f"{where}: prometheus.io/path {annotations['prometheus.io/path']!r} is not a route")

    # Shutdown: the kubelet must not kill the server before its own deadline.
    drain = settings.number(values, "SHUTDOWN_DRAIN_SECONDS")
    timeout = settings.number(values, "SHUTDOWN_TIMEOUT_SECONDS")
    grace = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
    if not init and drain is not None and timeout is not None and grace <= drain + timeout:
        errors.append(f"{where}: terminationGracePeriodSeconds {grace} is not above SHUTDOWN_DRAIN_SECONDS + "
                      f"SHUTDOWN_TIMEOUT_SECONDS ({drain:g} + {timeout:g})")

    # Volumes.
    volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount["name"])
        if volume is None:
            errors.append(f"{where}: volumeMount {mount['name']!r} has no volume")
        elif (volume.get("emptyDir") or {}).get("medium") == "Memory" and not volume["emptyDir"].get("sizeLimit"):
            errors.append(f"{where}: memory-backed emptyDir {mount['name']!r} has no sizeLimit")

    # The image built by the Dockerfile: same user, port and model folder as the manifests say.
    built = ctx.image
    if built and not init and image.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1] == built.name:
        if built.user is not None and effective("runAsUser") != built.user:
            errors.append(f"{where}: runAsUser {effective('runAsUser')} is not the image's USER {built.user} ({built.path})")
        if built.group is not None and effective("runAsGroup") != built.group:
            errors.append(f"{where}: runAsGroup {effective('runAsGroup')} is not the image's group {built.group} ({built.path})")
        if "http" in port_names and port_names["http"] not in built.ports:
            errors.append(f"{where}: port http {port_names['http']} is not EXPOSEd by {built.path}")
        models = values.get("MODEL_REPOSITORY")
        if models and built.env.get("MODEL_REPOSITORY") and models != built.env["MODEL_REPOSITORY"]:
            errors.append(f"{where}: MODEL_REPOSITORY {models} is not where {built.path} puts the models "
                          f"({built.env['MODEL_REPOSITORY']})")


def check_workload(ctx, doc, errors):
    template = pod_template(doc)
    labels = template.get("metadata", {}).get("labels") or {}
    spec = template.get("spec") or {}
    namespace = namespace_of(doc)
    selector = doc.get("spec", {}).get("selector")
    if doc["kind"] != "Job":
        if not selector or is_empty_selector(selector):
            errors.append(f"{ident(doc)}: no selector")
        elif not selector_matches(selector, labels):
            errors.append(f"{ident(doc)}: selector does not match the pod template's labels")
    for constraint in spec.get("topologySpreadConstraints") or []:
        if not selector_matches(constraint.get("labelSelector") or {}, labels) or is_empty_selector(constraint.get("labelSelector")):
            errors.append(f"{ident(doc)}: topology spread on {constraint.get('topologyKey')} does not select its pods")
    account = spec.get("serviceAccountName")
    sa = ctx.find("ServiceAccount", account, namespace) if account else None
    if account and account != "default" and sa is None:
        errors.append(f"{ident(doc)}: ServiceAccount {account!r} is not in the rendered output")
    automount = spec.get("automountServiceAccountToken", (sa or {}).get("automountServiceAccountToken", True))
    if automount is not False:
        errors.append(f"{ident(doc)}: mounts a service account token the server never uses")
    pod = {"metadata": template.get("metadata") or {}, "spec": spec, "securityContext": spec.get("securityContext"),
           "_labels": labels}
    for container in spec.get("containers") or []:
        check_container(ctx, doc, pod, container, False, errors)
    for container in spec.get("initContainers") or []:
        check_container(ctx, doc, pod, container, True, errors)
    if ctx.of_kind("HorizontalPodAutoscaler") and "replicas" in doc.get("spec", {}) and any(
            h["spec"]["scaleTargetRef"].get("name") == doc["metadata"]["name"] for h in ctx.of_kind("HorizontalPodAutoscaler")):
        errors.append(f"{ident(doc)}: sets replicas although an HPA scales it (each apply would reset the count)")


def check_service(ctx, doc, errors):
    spec = doc.get("spec") or {}
    selector = spec.get("selector") or {}
    if not selector:
        errors.append(f"{ident(doc)}: no selector")
        return
    selected = ctx.pods_selected({"matchLabels": selector}, namespace_of(doc))
    if not selected:
        errors.append(f"{ident(doc)}: selector {selector} selects no pods")
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port.get("port"))
        for workload in selected:
            containers = pod_template(workload)["spec"]["containers"]
            names = {p.get("name") for c in containers for p in c.get("ports") or []}
            numbers = {p.get("containerPort") for c in containers for p in c.get("ports") or []}
            if isinstance(target, str) and target not in names:
                errors.append(f"{ident(doc)}: targetPort {target!r} names no container port of {ident(workload)}")
            if isinstance(target, int) and target not in numbers:
                errors.append(f"{ident(doc)}: targetPort {target} is no container port of {ident(workload)}")
        if spec.get("type") == "NodePort" and "nodePort" in port and not 30000 <= port["nodePort"] <= 32767:
            errors.append(f"{ident(doc)}: nodePort {port['nodePort']} is outside 30000-32767")


def monitored_namespaces(doc):
    selector = doc.get("spec", {}).get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return selector.get("matchNames") or [namespace_of(doc)]


def check_service_monitor(ctx, doc, errors):
    spec = doc.get("spec") or {}
    selector = spec.get("selector") or {}
    namespaces = monitored_namespaces(doc)
    services = [s for s in ctx.of_kind("Service")
                if (namespaces is None or namespace_of(s) in namespaces)
                and selector_matches(selector, s["metadata"].get("labels"))]
    if is_empty_selector(selector) or not services:
        errors.append(f"{ident(doc)}: selects no Service")
    for service in services:
        if not ctx.pods_selected({"matchLabels": service["spec"].get("selector") or {}}, namespace_of(service)):
            errors.append(f"{ident(doc)}: {ident(service)} selects no pods")
        port_names = {p.get("name") for p in service["spec"].get("ports") or []}
        for endpoint in spec.get("endpoints") or []:
            if endpoint.get("port") not in port_names:
                errors.append(f"{ident(doc)}: endpoint port {endpoint.get('port')!r} is not a port name of {ident(service)}")
        job = (service["metadata"].get("labels") or {}).get(spec["jobLabel"]) if spec.get("jobLabel") else service["metadata"]["name"]
        if ctx.expect_job and job != ctx.expect_job:
            errors.append(f"{ident(doc)}: scraped series get job={job!r}, the rules expect job={ctx.expect_job!r}")
    for endpoint in spec.get("endpoints") or []:
        check_scrape_endpoint(doc, endpoint, errors)


def check_scrape_endpoint(doc, endpoint, errors):
    if endpoint.get("path", "/metrics") not in ROUTES:
        errors.append(f"{ident(doc)}: scrape path {endpoint.get('path')!r} is not a route of the server")
    interval, timeout = endpoint.get("interval"), endpoint.get("scrapeTimeout")
    seconds = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}

    def parse(text):
        match = re.fullmatch(r"(\d+)(ms|s|m|h)", text or "")
        return int(match.group(1)) * seconds[match.group(2)] if match else None

    if parse(interval) and parse(timeout) and parse(timeout) > parse(interval):
        errors.append(f"{ident(doc)}: scrapeTimeout {timeout} is longer than the interval {interval}")


def check_pod_monitor(ctx, doc, errors):
    spec = doc.get("spec") or {}
    namespaces = monitored_namespaces(doc)
    selected = [w for w in ctx.workloads() if (namespaces is None or namespace_of(w) in namespaces)
                and selector_matches(spec.get("selector") or {}, pod_template(w)["metadata"].get("labels"))]
    if is_empty_selector(spec.get("selector")) or not selected:
        errors.append(f"{ident(doc)}: selects no pods")
    for endpoint in spec.get("podMetricsEndpoints") or []:
        for workload in selected:
            names = {p.get("name") for c in pod_template(workload)["spec"]["containers"] for p in c.get("ports") or []}
            if endpoint.get("port") not in names:
                errors.append(f"{ident(doc)}: port {endpoint.get('port')!r} names no container port of {ident(workload)}")
        check_scrape_endpoint(doc, endpoint, errors)


def check_pdb(ctx, doc, errors):
    spec = doc.get("spec") or {}
    selected = ctx.pods_selected(spec.get("selector") or {}, namespace_of(doc))
    if is_empty_selector(spec.get("selector")) or not selected:
        errors.append(f"{ident(doc)}: selects no pods")
    for workload in selected:
        replicas = ctx.min_replicas(workload)
        if "maxUnavailable" in spec:
            value = spec["maxUnavailable"]
            allowed = (int(value.rstrip("%")) * replicas // 100) if isinstance(value, str) else value
            if allowed < 1:
                errors.append(f"{ident(doc)}: maxUnavailable {value} blocks every eviction of {ident(workload)}")
        elif "minAvailable" in spec:
            value = spec["minAvailable"]
            needed = -(-int(value.rstrip("%")) * replicas // 100) if isinstance(value, str) else value
            if needed >= replicas:
                errors.append(f"{ident(doc)}: minAvailable {value} with {replicas} replicas blocks every eviction")


def check_hpa(ctx, doc, errors):
    spec = doc.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    target = ctx.find(ref.get("kind"), ref.get("name"), namespace_of(doc))
    if target is None or pod_template(target) is None:
        errors.append(f"{ident(doc)}: scaleTargetRef {ref.get('kind')}/{ref.get('name')} is not a workload in the rendered output")
    elif ref.get("apiVersion") != target.get("apiVersion"):
        errors.append(f"{ident(doc)}: scaleTargetRef apiVersion {ref.get('apiVersion')} is not {target.get('apiVersion')}")
    if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
        errors.append(f"{ident(doc)}: minReplicas above maxReplicas")
    for metric in spec.get("metrics") or []:
        if metric.get("type") == "Pods":
            name = metric["pods"]["metric"]["name"]
            if ctx.adapter_metrics is None or name not in ctx.adapter_metrics:
                errors.append(f"{ident(doc)}: Pods metric {name!r} is served by no prometheus-adapter rule (--adapter-rule)")


def check_network_policy(ctx, doc, errors):
    spec = doc.get("spec") or {}
    selected = ctx.pods_selected(spec.get("podSelector") or {}, namespace_of(doc))
    if is_empty_selector(spec.get("podSelector")) or not selected:
        errors.append(f"{ident(doc)}: selects no pods")
    for rule in spec.get("ingress") or []:
        for port in rule.get("ports") or []:
            for workload in selected:
                containers = pod_template(workload)["spec"]["containers"]
                names = {p.get("name") for c in containers for p in c.get("ports") or []}
                numbers = {p.get("containerPort") for c in containers for p in c.get("ports") or []}
                value = port.get("port")
                if (isinstance(value, str) and value not in names) or (isinstance(value, int) and value not in numbers):
                    errors.append(f"{ident(doc)}: ingress port {value!r} is no container port of {ident(workload)}")


def check_dashboards(ctx, errors):
    shipped = {}
    for config_map in ctx.of_kind("ConfigMap"):
        if (config_map["metadata"].get("labels") or {}).get("grafana_dashboard") is None:
            continue
        if config_map["metadata"]["labels"]["grafana_dashboard"] != "1":
            errors.append(f"{ident(config_map)}: label grafana_dashboard is not \"1\"")
        data = config_map.get("data") or {}
        if len(data) != 1:
            errors.append(f"{ident(config_map)}: holds {len(data)} files; one dashboard per ConfigMap")
        for key, text in data.items():
            shipped[key] = (config_map, text)
            try:
                json.loads(text)
            except ValueError as error:
                errors.append(f"{ident(config_map)}: {key} is not JSON ({error})")
    if ctx.dashboards is None:
        return
    files = sorted(f for f in os.listdir(ctx.dashboards) if f.endswith(".json"))
    for name in files:
        if name not in shipped:
            errors.append(f"{ctx.dashboards}/{name} is not shipped: list it in {ctx.dashboards}/kustomization.yaml")
            continue
        with open(os.path.join(ctx.dashboards, name)) as f:
            if f.read() != shipped[name][1]:
                errors.append(f"{ident(shipped[name][0])}: {name} differs from {ctx.dashboards}/{name}")
    for name in set(shipped) - set(files):
        errors.append(f"{ident(shipped[name][0])}: {name} has no file in {ctx.dashboards}")
    if not files:
        errors.append(f"{ctx.dashboards}: no dashboard files")


def check_all(ctx):
    """Every static check; returns the list of problems."""
    errors = []
    present = {d.get("kind") for d in ctx.docs}
    for kind in ctx.expect_kinds:
        if kind not in present:
            errors.append(f"no {kind} in the rendered output")
    for doc in ctx.docs:
        labels = doc.get("metadata", {}).get("labels") or {}
        for label in ("app.kubernetes.io/name", "app.kubernetes.io/part-of"):
            if label not in labels:
                errors.append(f"{ident(doc)}: no label {label}")
        size = len(json.dumps(doc))
        if size > MAX_OBJECT_BYTES:
            errors.append(f"{ident(doc)}: {size} bytes, too large for kubectl's client-side apply annotation")
        kind = doc.get("kind")
        if pod_template(doc) is not None:
            check_workload(ctx, doc, errors)
        checker = {"Service": check_service, "ServiceMonitor": check_service_monitor, "PodMonitor": check_pod_monitor,
                   "PodDisruptionBudget": check_pdb, "HorizontalPodAutoscaler": check_hpa,
                   "NetworkPolicy": check_network_policy}.get(kind)
        if checker:
            checker(ctx, doc, errors)
    check_dashboards(ctx, errors)
    return errors


# ---- live: the probes against the real server ----------------------------------------------------

def live_targets(ctx):
    """(label, settings env, probe and scrape paths) for every container with probes."""
    targets = []
    for doc in ctx.workloads():
        template = pod_template(doc)
        for container in template["spec"].get("containers") or []:
            values = ctx.container_settings(container, namespace_of(doc))
            # Downward-API values do not exist outside a pod: stand-ins, so that $(VAR) settings
            # such as OTEL_RESOURCE_ATTRIBUTES still go through the server's parser.
            helpers = {e["name"]: f"policy-check-{e['name'].lower().replace('_', '-')}"
                       for e in container.get("env") or [] if "valueFrom" in e}
            resolved = {}
            for name, value in values.items():
                resolved[name] = VAR_REF.sub(lambda m: helpers.get(m.group(1), values.get(m.group(1), m.group(0))), str(value))
            paths = {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")
                     if (container.get(p) or {}).get("httpGet")}
            # Scrape paths too: the annotation's, and every ServiceMonitor/PodMonitor endpoint's.
            annotations = template.get("metadata", {}).get("annotations") or {}
            if annotations.get("prometheus.io/scrape") == "true":
                paths.add(annotations.get("prometheus.io/path", "/metrics"))
            for monitor in ctx.of_kind("ServiceMonitor") + ctx.of_kind("PodMonitor"):
                for endpoint in (monitor["spec"].get("endpoints") or monitor["spec"].get("podMetricsEndpoints") or []):
                    paths.add(endpoint.get("path", "/metrics"))
            if paths:
                targets.append((f"{ident(doc)} container {container['name']}", resolved, paths))
    return targets


# ---- self-test ----------------------------------------------------------------------------------

def self_test(ctx):
    baseline = set(check_all(ctx))
    applied, missed = 0, []
    for description, mutate, fragment in mutations(with_image=ctx.image is not None):
        docs = copy.deepcopy(ctx.docs)
        if not mutate(docs):
            continue  # the overlay has no such object
        applied += 1
        mutated = Context(docs, ctx.settings, ctx.adapter_metrics, ctx.dashboards, ctx.expect_kinds,
                          ctx.pinned_image, ctx.expect_job, ctx.image)
        new = [e for e in check_all(mutated) if e not in baseline]
        if not any(fragment in e for e in new):
            missed.append(f"{description} (expected an error containing {fragment!r}; new errors: {new[:3]})")
    return applied, missed


# ---- main ---------------------------------------------------------------------------------------

def adapter_metric_names(path):
    with open(path) as f:
        config = yaml.safe_load(f)
    return {(rule.get("name") or {}).get("as") or rule["seriesQuery"].split("{")[0] for rule in config.get("rules") or []}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="pd-inference binary (settings and live probes)")
    parser.add_argument("--models", default="models", help="model repository for the live check")
    parser.add_argument("--adapter-rule", help="prometheus-adapter rules file serving the HPA's Pods metrics")
    parser.add_argument("--dashboards", help="folder whose *.json must all be shipped as dashboard ConfigMaps")
    parser.add_argument("--dockerfile", help="Dockerfile of the image: its USER, EXPOSE and MODEL_REPOSITORY must match")
    parser.add_argument("--image-name", default="pd-api", help="name of the image the Dockerfile builds")
    parser.add_argument("--expect-kinds", default="", help="comma-separated kinds the render must contain")
    parser.add_argument("--expect-job", help="job label the ServiceMonitor must give the series")
    parser.add_argument("--pinned-image", action="store_true", help="images must carry a version tag or digest")
    parser.add_argument("--no-live", action="store_true", help="skip starting the server")
    parser.add_argument("rendered")
    args = parser.parse_args()

    with open(args.rendered) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    ctx = Context(docs, Settings(args.binary), adapter_metric_names(args.adapter_rule) if args.adapter_rule else None,
                  args.dashboards, [k for k in args.expect_kinds.split(",") if k], args.pinned_image, args.expect_job,
                  Image(args.dockerfile, args.image_name) if args.dockerfile else None)
    name = os.path.basename(args.rendered)
    failed = False

    applied, missed = self_test(ctx)
    for m in missed:
        print(f"FAIL: {name}: self-test: not caught: {m}")
    if applied == 0 or missed:
        failed = True
    else:
        print(f"ok: {name}: self-test: {applied} broken variants of the manifests each caught")

    errors = check_all(ctx)
    for e in errors:
        print(f"FAIL: {name}: {e}")
    if errors:
        failed = True
    else:
        workloads = len(ctx.workloads())
        print(f"ok: {name}: {len(docs)} objects, {workloads} workload(s): resources, probes, security context, "
              f"settings ({len(ctx.settings.names)} known), selectors and ports")

    if not args.no_live:
        # The series the adapter rules read must exist on the real server.
        adapter_series = set()
        if args.adapter_rule:
            with open(args.adapter_rule) as f:
                adapter_series = {r["seriesQuery"].split("{")[0].strip("'\" ") for r in yaml.safe_load(f).get("rules") or []}
        targets = live_targets(ctx)
        if not targets:
            print(f"FAIL: {name}: no container with probes to check live")
            failed = True
        # Self-test of the live check: a bad setting must stop the server, a missing route must not pass.
        label, env, paths = targets[0] if targets else ("", {}, set())
        if targets and not live_check(args.binary, args.models, {**env, "MAX_BATCH_SIZE": "many"}, paths, "self-test"):
            print(f"FAIL: {name}: self-test: the live check accepted a server started with MAX_BATCH_SIZE=many")
            failed = True
        for label, env, paths in targets:
            problems = live_check(args.binary, args.models, env, paths, label, must_fail_path="/v2/models/no-such-model/ready",
                                  metrics=adapter_series)
            for p in problems:
                print(f"FAIL: {name}: {p}")
            if problems:
                failed = True
            else:
                exposed = f", exposes {', '.join(sorted(adapter_series))}" if adapter_series else ""
                print(f"ok: {name}: {label}: server started with the rendered settings answers 200 on "
                      f"{', '.join(sorted(paths))}{exposed} and exits 0 on SIGTERM "
                      f"(self-test: a bad setting and a 404 were caught)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
