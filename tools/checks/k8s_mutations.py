"""Known-bad variants of rendered manifests, for the self-test of k8s_policy.py.

Each entry breaks one rule in a copy of the rendered objects; the policy check must then report a
new problem containing the given fragment. Entries whose object the overlay lacks are skipped.
"""


def pod_template(doc):
    if doc.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return doc.get("spec", {}).get("template")
    return None


def mutations(with_image=False):
    """(description, mutate(docs) -> bool applied, expected fragment of the new error)."""

    def first(docs, kind, predicate=lambda d: True):
        return next((d for d in docs if d.get("kind") == kind and predicate(d)), None)

    def container(docs):
        workload = next((d for d in docs if pod_template(d) is not None), None)
        return pod_template(workload)["spec"]["containers"][0] if workload else None

    def on(kind, change, predicate=lambda d: True):
        def apply(docs):
            doc = first(docs, kind, predicate)
            if doc is None:
                return False
            change(doc)
            return True
        return apply

    def on_container(change):
        def apply(docs):
            c = container(docs)
            if c is None:
                return False
            change(c)
            return True
        return apply

    def settings_map(d):
        return d.get("kind") == "ConfigMap" and "grafana_dashboard" not in (d["metadata"].get("labels") or {})

    image = [("user other than the image's", lambda docs: _set_user(docs, 1000), "image's USER")] if with_image else []
    return image + [
        ("readiness probe removed", on_container(lambda c: c.pop("readinessProbe")), "no readinessProbe"),
        ("startup probe removed", on_container(lambda c: c.pop("startupProbe")), "no startupProbe"),
        ("memory limit removed", on_container(lambda c: c["resources"]["limits"].pop("memory")), "no memory limit"),
        ("cpu request above limit", on_container(lambda c: c["resources"]["requests"].__setitem__("cpu", "64")), "request is above"),
        ("writable root filesystem", on_container(lambda c: c["securityContext"].__setitem__("readOnlyRootFilesystem", False)), "readOnlyRootFilesystem"),
        ("privilege escalation allowed", on_container(lambda c: c["securityContext"].pop("allowPrivilegeEscalation")), "allowPrivilegeEscalation"),
        ("capabilities kept", on_container(lambda c: c["securityContext"].pop("capabilities")), "drop ALL"),
        ("root user", lambda docs: _set_user(docs, 0), "runAsUser"),
        ("probe on a port that does not exist", on_container(lambda c: c["livenessProbe"]["httpGet"].__setitem__("port", "metrics")), "names no container port"),
        ("probe on a path the server lacks", on_container(lambda c: c["livenessProbe"]["httpGet"].__setitem__("path", "/health")), "not a route"),
        ("unknown setting in the ConfigMap", on("ConfigMap", lambda d: d.setdefault("data", {}).__setitem__("TORCH_NUM_THREADS", "4"), settings_map), "not a setting"),
        ("unknown env variable", on_container(lambda c: c.setdefault("env", []).append({"name": "WORKERS", "value": "4"})), "'WORKERS'"),
        ("grace period too short", lambda docs: _set_grace(docs, 20), "terminationGracePeriodSeconds"),
        ("Deployment selector off its pods", lambda docs: _relabel_pods(docs), "selector does not match"),
        ("Service targetPort typo", on("Service", lambda d: d["spec"]["ports"][0].__setitem__("targetPort", "htp")), "'htp'"),
        ("Service selecting nothing", on("Service", lambda d: d["spec"].__setitem__("selector", {"app": "pd-inferenc"})), "selects no pods"),
        ("PDB selecting nothing", on("PodDisruptionBudget", lambda d: d["spec"].__setitem__("selector", {"matchLabels": {"app": "other"}})), "selects no pods"),
        ("PDB blocking drains", on("PodDisruptionBudget", lambda d: (d["spec"].pop("maxUnavailable", None), d["spec"].__setitem__("minAvailable", 10))), "blocks every eviction"),
        ("HPA scaling a missing Deployment", on("HorizontalPodAutoscaler", lambda d: d["spec"]["scaleTargetRef"].__setitem__("name", "pd-inferance")), "scaleTargetRef"),
        ("HPA metric without adapter rule", on("HorizontalPodAutoscaler", lambda d: [m["pods"]["metric"].__setitem__("name", "queue_depth") for m in d["spec"]["metrics"] if m["type"] == "Pods"]), "prometheus-adapter"),
        ("ServiceMonitor on a missing port", on("ServiceMonitor", lambda d: d["spec"]["endpoints"][0].__setitem__("port", "metrics")), "not a port name"),
        ("ServiceMonitor selecting nothing", on("ServiceMonitor", lambda d: d["spec"].__setitem__("selector", {"matchLabels": {"app": "x"}})), "selects no Service"),
        ("ServiceMonitor job label lost", on("ServiceMonitor", lambda d: d["spec"].pop("jobLabel", None)), "job="),
        ("NetworkPolicy selecting nothing", on("NetworkPolicy", lambda d: d["spec"].__setitem__("podSelector", {"matchLabels": {"app": "x"}})), "selects no pods"),
        ("version label off the image tag", _retag_versioned, "differs from the image tag"),
        ("dashboard edited after render", on("ConfigMap", lambda d: d["data"].__setitem__(next(iter(d["data"])), "{}"), lambda d: "grafana_dashboard" in (d["metadata"].get("labels") or {})), "differs from"),
        ("missing descriptive label", on("Service", lambda d: d["metadata"]["labels"].pop("app.kubernetes.io/name")), "no label"),
    ]


def _set_user(docs, uid):
    for doc in docs:
        template = pod_template(doc)
        if template:
            template["spec"].setdefault("securityContext", {})["runAsUser"] = uid
            for c in template["spec"]["containers"]:
                (c.get("securityContext") or {}).pop("runAsUser", None)
            return True
    return False


def _retag_versioned(docs):
    for doc in docs:
        template = pod_template(doc)
        if template and "app.kubernetes.io/version" in (template["metadata"].get("labels") or {}):
            container = template["spec"]["containers"][0]
            container["image"] = container["image"].split("@")[0].rsplit(":", 1)[0] + ":9.9.9"
            return True
    return False


def _set_grace(docs, seconds):
    for doc in docs:
        template = pod_template(doc)
        if template:
            template["spec"]["terminationGracePeriodSeconds"] = seconds
            return True
    return False


def _relabel_pods(docs):
    for doc in docs:
        template = pod_template(doc)
        if template and doc["kind"] != "Job":
            for key in list(doc["spec"]["selector"].get("matchLabels") or {}):
                template["metadata"]["labels"][key] = "something-else"
            return True
    return False
