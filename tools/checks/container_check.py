#!/usr/bin/env python3
"""Runs the image the way a rendered Deployment runs it, under podman, and checks it.

    container_check.py --manifest dev.yaml --image IMAGE --name NAME [--record FILE ...]

The rendered manifest (`kubectl kustomize kustomize/overlays/dev`) supplies everything the
container gets: the user and group (runAsUser, runAsGroup, runAsNonRoot), the read-only root
filesystem, dropped and added capabilities, no privilege escalation, the seccomp profile, the
CPU and memory limits, the emptyDir volumes (memory-backed ones as a tmpfs of the same
sizeLimit, at the same mountPath), the environment (the ConfigMaps of envFrom, then env with
fieldRefs and $(VAR) references resolved as the kubelet does), the container ports, the probes
and terminationGracePeriodSeconds. Anything the check cannot reproduce (other volume kinds,
exec probes, ...) fails it rather than being skipped.

Then, against the running container:
  * the startup probe succeeds within initialDelaySeconds + failureThreshold x periodSeconds,
    and the readiness probe then succeeds; the time from `podman run` to the first readiness
    success is measured;
  * inside the container: the server process has the manifest's uid/gid, no effective
    capabilities, no_new_privs and seccomp filtering; the root filesystem is read-only; each
    memory emptyDir is a writable tmpfs of the right size;
  * each probe answers with a success status (200-399) within its timeoutSeconds;
  * an inference request on the model (--model, default mlp) answers 200 with its outputs;
  * the scrape path and port (the prometheus.io annotations, else /metrics) answer 200 in the
    Prometheus text format, counting the inference request;
  * `podman stop` (SIGTERM, then SIGKILL after terminationGracePeriodSeconds): readiness turns
    503 while liveness stays 200 and requests are still served (the drain); the container exits
    with status 0 within the grace period, not killed;
  * `podman logs` holds only JSON lines, among them the access log of the inference request and
    the shutdown;
  * --ready-samples N: N-1 further starts, each timed from `podman run` to readiness.

Exit status 0 when every check passes, 1 otherwise (with the container's logs), 2 on usage or
manifest errors.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import yaml


class CheckError(Exception):
    """A check failed: the message says which and why."""


class ManifestError(Exception):
    """The manifest asks for something this check cannot reproduce."""


# ---- the manifest -------------------------------------------------------------------------------

QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
SUFFIXES = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
            "Ti": 2**40, "m": 0.001}


def quantity(value) -> float:
    """A Kubernetes resource quantity ("16Mi", "500m", "1") as a number."""
    m = QUANTITY.match(str(value).strip())
    if not m or m.group(2) not in SUFFIXES:
        raise ManifestError(f"cannot read the quantity {value!r}")
    return float(m.group(1)) * SUFFIXES[m.group(2)]


@dataclass
class Probe:
    kind: str                  # startup, liveness, readiness
    path: str
    port: int
    scheme: str
    headers: dict[str, str]
    initial_delay: int
    period: int
    timeout: int
    failure_threshold: int


@dataclass
class Spec:
    """What the Deployment gives its container, as podman arguments and expectations."""
    deployment: str
    namespace: str
    container: str
    image: str
    uid: int
    gid: int
    supplemental_groups: list[int]
    read_only_root: bool
    no_new_privileges: bool
    cap_drop: list[str]
    cap_add: list[str]
    seccomp: str
    memory_limit: int | None
    cpu_limit: float | None
    tmpfs: list[tuple[str, int | None, bool]]      # mountPath, size in bytes, read-only
    env: dict[str, str]
    ports: dict[str, int]                          # name (or str(port)) -> container port
    tcp_ports: list[int]
    probes: list[Probe]
    grace: int
    scrape_path: str
    scrape_port: int
    command: list[str] | None
    args: list[str] | None
    working_dir: str | None
    podman_args: list[str] = field(default_factory=list)


def load_spec(manifest_path: str, deployment_name: str | None, pod_name: str, node_name: str) -> Spec:
    with open(manifest_path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    deployments = [d for d in docs if d.get("kind") == "Deployment"
                   and (deployment_name is None or d["metadata"]["name"] == deployment_name)]
    if len(deployments) != 1:
        raise ManifestError(f"{manifest_path}: expected one Deployment"
                            f"{' named ' + deployment_name if deployment_name else ''}, found {len(deployments)}")
    dep = deployments[0]
    namespace = dep["metadata"].get("namespace", "default")
    template = dep["spec"]["template"]
    pod = template["spec"]
    containers = pod["containers"]
    name = dep["metadata"]["name"]
    container = next((c for c in containers if c["name"] == name), containers[0])
    if len(containers) > 1:
        raise ManifestError(f"the Deployment has {len(containers)} containers; the check runs one")
    if pod.get("initContainers"):
        raise ManifestError("the Deployment has init containers; the check does not run them")

    pod_sc = pod.get("securityContext") or {}
    sc = container.get("securityContext") or {}

    def setting(key, default=None):
        return sc.get(key, pod_sc.get(key, default))

    uid, gid = setting("runAsUser"), setting("runAsGroup")
    if uid is None:
        raise ManifestError("no runAsUser: the check would run the image's own user, not the manifest's")
    if gid is None:
        gid = uid
    if setting("runAsNonRoot") and uid == 0:
        raise ManifestError("runAsNonRoot with runAsUser 0: the kubelet would refuse to start the pod")
    groups = list(pod_sc.get("supplementalGroups") or [])
    if pod_sc.get("fsGroup") is not None:
        groups.append(pod_sc["fsGroup"])
    caps = sc.get("capabilities") or {}
    seccomp = (setting("seccompProfile") or {}).get("type", "RuntimeDefault")
    if seccomp == "Localhost":
        raise ManifestError("seccompProfile Localhost: the check cannot load the node's profile")
    if sc.get("privileged"):
        raise ManifestError("privileged containers are not checked")

    # Volumes: emptyDirs only, memory-backed ones as a tmpfs of the same size.
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    tmpfs = []
    for mount in container.get("volumeMounts") or []:
        vol = volumes.get(mount["name"])
        if vol is None:
            raise ManifestError(f"volumeMount {mount['name']} has no volume")
        if mount.get("subPath") or mount.get("subPathExpr"):
            raise ManifestError(f"volumeMount {mount['name']}: subPath is not supported by the check")
        if "emptyDir" not in vol:
            kind = next((k for k in vol if k != "name"), "?")
            raise ManifestError(f"volume {vol['name']} is a {kind}; the check reproduces only emptyDir volumes")
        empty = vol["emptyDir"] or {}
        if empty.get("medium") not in ("Memory", None, ""):
            raise ManifestError(f"volume {vol['name']}: emptyDir medium {empty['medium']} is not supported")
        if empty.get("medium") != "Memory":
            raise ManifestError(f"volume {vol['name']} is a disk-backed emptyDir; the check reproduces memory ones")
        size = int(quantity(empty["sizeLimit"])) if empty.get("sizeLimit") else None
        tmpfs.append((mount["mountPath"], size, bool(mount.get("readOnly"))))

    # Environment: envFrom ConfigMaps, then env (which wins), with $(VAR) resolved as the kubelet
    # does: only against variables defined before it.
    configmaps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        if "configMapRef" not in source:
            raise ManifestError(f"envFrom {source}: only configMapRef is supported by the check")
        ref = source["configMapRef"]["name"]
        if ref not in configmaps:
            if source["configMapRef"].get("optional"):
                continue
            raise ManifestError(f"envFrom: ConfigMap {ref} is not in the manifest")
        for key, value in (configmaps[ref].get("data") or {}).items():
            env[source.get("prefix", "") + key] = str(value)
    limits = (container.get("resources") or {}).get("limits") or {}
    requests = (container.get("resources") or {}).get("requests") or {}
    fields = {
        "metadata.name": pod_name, "metadata.namespace": namespace, "spec.nodeName": node_name,
        "spec.serviceAccountName": pod.get("serviceAccountName", "default"),
        "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
    }
    for var in container.get("env") or []:
        if "value" in var or "valueFrom" not in var:
            env[var["name"]] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in fields:
                raise ManifestError(f"env {var['name']}: fieldRef {path} is not supported by the check")
            env[var["name"]] = fields[path]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            data = (configmaps.get(ref["name"]) or {}).get("data") or {}
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ManifestError(f"env {var['name']}: ConfigMap {ref['name']} has no key {ref['key']}")
            env[var["name"]] = str(data[ref["key"]])
        elif "resourceFieldRef" in source:
            res = source["resourceFieldRef"]["resource"]
            kind, _, what = res.partition(".")
            value = (limits if kind == "limits" else requests).get(what)
            if value is None:
                raise ManifestError(f"env {var['name']}: {res} is not set")
            divisor = quantity(source["resourceFieldRef"].get("divisor", "1"))
            env[var["name"]] = str(int(-(-quantity(value) // divisor)))
        else:
            raise ManifestError(f"env {var['name']}: {list(source)} is not supported by the check")

    ports: dict[str, int] = {}
    tcp_ports = []
    for p in container.get("ports") or []:
        if p.get("protocol", "TCP") != "TCP":
            continue
        tcp_ports.append(p["containerPort"])
        ports[str(p["containerPort"])] = p["containerPort"]
        if p.get("name"):
            ports[p["name"]] = p["containerPort"]

    def port_of(value, what):
        if str(value) not in ports:
            if isinstance(value, int):
                tcp_ports.append(value)
                ports[str(value)] = value
                return value
            raise ManifestError(f"{what}: port {value!r} is not a container port")
        return ports[str(value)]

    probes = []
    for kind in ("startup", "liveness", "readiness"):
        probe = container.get(kind + "Probe")
        if not probe:
            continue
        if "httpGet" not in probe:
            raise ManifestError(f"{kind}Probe: only httpGet probes are supported by the check")
        get = probe["httpGet"]
        probes.append(Probe(
            kind=kind, path=get.get("path", "/"), port=port_of(get["port"], f"{kind}Probe"),
            scheme=get.get("scheme", "HTTP"),
            headers={h["name"]: h["value"] for h in get.get("httpHeaders") or []},
            initial_delay=probe.get("initialDelaySeconds", 0), period=probe.get("periodSeconds", 10),
            timeout=probe.get("timeoutSeconds", 1), failure_threshold=probe.get("failureThreshold", 3)))
    if not any(p.kind == "readiness" for p in probes):
        raise ManifestError("no readinessProbe: the check measures the time to ready by it")
    if any(p.scheme != "HTTP" for p in probes):
        raise ManifestError("HTTPS probes are not supported by the check")

    annotations = template.get("metadata", {}).get("annotations") or {}
    scrape_path = annotations.get("prometheus.io/path", "/metrics")
    scrape_port = port_of(int(annotations["prometheus.io/port"]) if "prometheus.io/port" in annotations
                          else next(iter(ports.values())), "prometheus.io/port")

    return Spec(
        deployment=name, namespace=namespace, container=container["name"], image=container["image"],
        uid=int(uid), gid=int(gid), supplemental_groups=groups,
        read_only_root=bool(sc.get("readOnlyRootFilesystem")),
        no_new_privileges=sc.get("allowPrivilegeEscalation") is False,
        cap_drop=list(caps.get("drop") or []), cap_add=list(caps.get("add") or []), seccomp=seccomp,
        memory_limit=int(quantity(limits["memory"])) if "memory" in limits else None,
        cpu_limit=quantity(limits["cpu"]) if "cpu" in limits else None,
        tmpfs=tmpfs, env=env, ports=ports, tcp_ports=sorted(set(tcp_ports)), probes=probes,
        grace=int(pod.get("terminationGracePeriodSeconds", 30)),
        scrape_path=scrape_path, scrape_port=scrape_port,
        command=container.get("command"), args=container.get("args"), working_dir=container.get("workingDir"))


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined variables are replaced, $$ escapes, others stay."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$"); i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2:end]
            out.append(env[name] if name in env else value[i:end + 1]); i = end + 1
        else:
            out.append(value[i]); i += 1
    return "".join(out)


def podman_run_args(spec: Spec, image: str, name: str, host_ports: dict[int, int], pod_name: str) -> list[str]:
    args = ["podman", "run", "--detach", "--pull=never", "--name", name, "--hostname", pod_name,
            "--log-driver", "k8s-file", "--user", f"{spec.uid}:{spec.gid}",
            "--stop-timeout", str(spec.grace), "--label", "pd-inference.check=1"]
    for g in spec.supplemental_groups:
        args += ["--group-add", str(g)]
    if spec.read_only_root:
        # podman's --read-only otherwise mounts writable tmpfs on /tmp, /var/tmp and /run, which a
        # pod does not have.
        args += ["--read-only", "--read-only-tmpfs=false"]
    for cap in spec.cap_drop:
        args += ["--cap-drop", cap]
    for cap in spec.cap_add:
        args += ["--cap-add", cap]
    if spec.no_new_privileges:
        args += ["--security-opt", "no-new-privileges"]
    if spec.seccomp == "Unconfined":
        args += ["--security-opt", "seccomp=unconfined"]
    if spec.memory_limit:
        args += ["--memory", str(spec.memory_limit), "--memory-swap", str(spec.memory_limit)]
    if spec.cpu_limit:
        args += ["--cpus", f"{spec.cpu_limit:g}"]
    for path, size, read_only in spec.tmpfs:
        # The kubelet mounts a memory emptyDir as a tmpfs of the sizeLimit, mode 0777.
        opts = ["ro" if read_only else "rw", "mode=0777", "nosuid", "nodev"]
        if size:
            opts.append(f"size={size}")
        args += ["--tmpfs", f"{path}:{','.join(opts)}"]
    for key, value in spec.env.items():
        args += ["--env", f"{key}={value}"]
    for container_port, host_port in host_ports.items():
        args += ["--publish", f"127.0.0.1:{host_port}:{container_port}"]
    if spec.working_dir:
        args += ["--workdir", spec.working_dir]
    if spec.command:
        args += ["--entrypoint", json.dumps(spec.command)]
    args.append(image)
    if spec.args:
        args += spec.args
    return args


# ---- helpers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def podman(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CheckError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = 5) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def try_http(*args, **kwargs):
    try:
        return request(*args, **kwargs)
    except (OSError, http.client.HTTPException) as e:
        return None, {}, str(e).encode()


def running(name: str) -> bool:
    return podman("inspect", "--format", "{{.State.Running}}", name, check=False).strip() == "true"


class Report:
    def __init__(self):
        self.failures: list[str] = []

    def ok(self, message: str):
        print(f"ok: {message}", flush=True)

    def fail(self, message: str):
        print(f"FAIL: {message}", flush=True)
        self.failures.append(message)

    def expect(self, condition: bool, good: str, bad: str):
        (self.ok if condition else self.fail)(good if condition else bad)
        return condition


# ---- the run ------------------------------------------------------------------------------------

def wait_ready(spec: Spec, name: str, host_ports: dict[int, int], started: float) -> tuple[float, float]:
    """Polls the startup probe, then the readiness probe, every 50 ms; returns the seconds from
    `podman run` to each one's first success. Fails past the startup probe's budget."""
    startup = next((p for p in spec.probes if p.kind == "startup"), None)
    readiness = next(p for p in spec.probes if p.kind == "readiness")
    first = startup or readiness
    budget = first.initial_delay + first.failure_threshold * first.period
    deadline = started + budget
    times = []
    for probe in ([startup] if startup else []) + [readiness]:
        while True:
            status, _, _ = try_http(host_ports[probe.port], "GET", probe.path, headers=probe.headers, timeout=probe.timeout)
            now = time.monotonic()
            if status is not None and 200 <= status < 400:
                times.append(now - started)
                break
            if status is not None and 400 <= status < 500:
                raise CheckError(f"{probe.kind} probe GET {probe.path} answered {status}: the server does not "
                                 f"serve that path as a probe")
            if not running(name):
                raise CheckError(f"the container exited before its {probe.kind} probe succeeded")
            if now > deadline:
                raise CheckError(f"{probe.kind} probe {probe.path} did not succeed within {budget} s "
                                 f"(initialDelaySeconds + failureThreshold x periodSeconds of the "
                                 f"{first.kind} probe); last answer: {status}")
            time.sleep(0.05)
    return times[0], times[-1]


def process_start_to_ready(name: str, ready_wall: float) -> float | None:
    out = podman("inspect", "--format", "{{.State.StartedAt.UnixNano}}", name, check=False).strip()
    return ready_wall - int(out) / 1e9 if out.isdigit() else None


def check_inside(spec: Spec, name: str, report: Report):
    """What the server process actually got, read from /proc inside the container."""
    out = podman("exec", name, "cat", "/proc/1/status", check=False)
    if not out:
        report.fail("could not read /proc/1/status in the container (podman exec cat)")
        return
    status = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    uids = status.get("Uid", "").split()
    gids = status.get("Gid", "").split()
    report.expect(uids and all(u == str(spec.uid) for u in uids) and gids and all(g == str(spec.gid) for g in gids),
                  f"the server runs as uid {spec.uid}, gid {spec.gid}",
                  f"the server runs as Uid {uids} Gid {gids}, the manifest says {spec.uid}:{spec.gid}")
    if "ALL" in spec.cap_drop and not spec.cap_add:
        for key in ("CapEff", "CapPrm", "CapBnd"):
            value = status.get(key, "").strip()
            report.expect(value and int(value, 16) == 0, f"{key} is empty (capabilities drop ALL)",
                          f"{key} is {value}, the manifest drops ALL capabilities")
    if spec.no_new_privileges:
        report.expect(status.get("NoNewPrivs", "").strip() == "1", "no_new_privs is set (allowPrivilegeEscalation: false)",
                      f"NoNewPrivs is {status.get('NoNewPrivs', '?').strip()}, the manifest sets allowPrivilegeEscalation: false")
    if spec.seccomp == "RuntimeDefault":
        report.expect(status.get("Seccomp", "").strip() == "2", "seccomp filter active (RuntimeDefault)",
                      f"Seccomp is {status.get('Seccomp', '?').strip()}, expected 2 (filter)")
    if spec.read_only_root:
        proc = subprocess.run(["podman", "exec", name, "touch", "/.pd-check-write"], capture_output=True, text=True)
        report.expect(proc.returncode != 0 and "Read-only file system" in proc.stderr,
                      "the root filesystem is read-only",
                      f"writing / in the container: exit {proc.returncode} {proc.stderr.strip()}")
    mounts = podman("exec", name, "cat", "/proc/self/mounts", check=False)
    for path, size, read_only in spec.tmpfs:
        entry = next((line.split() for line in mounts.splitlines() if line.split()[1:2] == [path]), None)
        if not report.expect(entry is not None and entry[2] == "tmpfs", f"{path} is a tmpfs",
                             f"{path} is not a tmpfs mount: {entry}"):
            continue
        opts = dict(o.partition("=")[::2] for o in entry[3].split(","))
        if size:
            got = int(quantity(opts.get("size", "0").replace("k", "Ki")))
            report.expect(got == size, f"{path} holds {size // 2**20} MiB, the emptyDir's sizeLimit",
                          f"{path} has size {opts.get('size')}, the sizeLimit is {size} bytes")
        if not read_only:
            proc = subprocess.run(["podman", "exec", name, "sh", "-c", f"echo x > {path}/.pd-check && rm {path}/.pd-check"],
                                  capture_output=True, text=True)
            report.expect(proc.returncode == 0, f"{path} is writable by uid {spec.uid}",
                          f"writing {path}: {proc.stderr.strip()}")


def check_probes(spec: Spec, host_ports: dict[int, int], report: Report):
    for probe in spec.probes:
        t0 = time.monotonic()
        status, _, body = try_http(host_ports[probe.port], "GET", probe.path, headers=probe.headers, timeout=probe.timeout)
        took = time.monotonic() - t0
        report.expect(status is not None and 200 <= status < 400 and took < probe.timeout,
                      f"{probe.kind} probe GET {probe.path} on port {probe.port}: {status} in {took * 1000:.1f} ms "
                      f"(timeout {probe.timeout} s)",
                      f"{probe.kind} probe GET {probe.path} on port {probe.port}: {status} {body[:200]!r} "
                      f"in {took:.2f} s (expects 200-399 within {probe.timeout} s)")


def infer(port: int, model: str) -> tuple[int | None, bytes, str]:
    """An inference request shaped from the model's metadata; returns status, body and a summary."""
    status, _, body = try_http(port, "GET", f"/v2/models/{model}")
    if status != 200:
        return status, body, f"GET /v2/models/{model} answered {status}"
    meta = json.loads(body)
    inputs = []
    for spec_in in meta["inputs"]:
        shape = [1 if d < 0 else d for d in spec_in["shape"]]
        count = 1
        for d in shape:
            count *= d
        # A deterministic pattern in [0, 1).
        inputs.append({"name": spec_in["name"], "shape": shape, "datatype": spec_in["datatype"],
                       "data": [((i * 37) % 101) / 101 for i in range(count)]})
    payload = json.dumps({"inputs": inputs}).encode()
    status, _, body = try_http(port, "POST", f"/v2/models/{model}/infer", body=payload,
                               headers={"Content-Type": "application/json"}, timeout=30)
    return status, body, f"POST /v2/models/{model}/infer ({', '.join(str(i['shape']) for i in inputs)})"


def check_infer(port: int, model: str, report: Report) -> bool:
    status, body, what = infer(port, model)
    if status != 200:
        report.fail(f"{what}: {status} {body[:300]!r}")
        return False
    try:
        outputs = json.loads(body)["outputs"]
        summary = ", ".join(f"{o['name']} {o['datatype']} {o['shape']}" for o in outputs)
        sizes_ok = all(len(o["data"]) == eval_count(o["shape"]) for o in outputs)
    except (ValueError, KeyError, TypeError) as e:
        report.fail(f"{what}: 200 but the body is not a v2 response ({e}): {body[:300]!r}")
        return False
    return report.expect(bool(outputs) and sizes_ok, f"{what}: 200, outputs {summary}",
                         f"{what}: 200 but outputs do not match their shapes: {body[:300]!r}")


def eval_count(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def check_metrics(spec: Spec, host_ports: dict[int, int], model: str, report: Report):
    status, headers, body = try_http(host_ports[spec.scrape_port], "GET", spec.scrape_path,
                                     headers={"Accept": "text/plain"})
    text = body.decode(errors="replace")
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    families = [line for line in text.splitlines() if line.startswith("# TYPE ")]
    infer_series = [s for s in samples if "/infer" in s and "_count" in s.split("{")[0]]
    counted = any(number(s[s.rindex("}") + 1:].split()[0]) >= 1 for s in infer_series if "}" in s)
    report.expect(status == 200 and headers.get("content-type", "").startswith("text/plain") and families and counted,
                  f"scrape GET {spec.scrape_path} on port {spec.scrape_port}: 200, {len(families)} metric families, "
                  f"{len(samples)} samples, the inference request counted",
                  f"scrape GET {spec.scrape_path} on port {spec.scrape_port}: {status} "
                  f"{headers.get('content-type')!r}, {len(families)} families, infer series {infer_series[:3]}")


def check_stop(spec: Spec, name: str, host_ports: dict[int, int], model: str, report: Report) -> float:
    """`podman stop` as the kubelet stops a pod: SIGTERM, SIGKILL after the grace period."""
    readiness = next(p for p in spec.probes if p.kind == "readiness")
    liveness = next((p for p in spec.probes if p.kind == "liveness"), None)
    result = {}

    def stop():
        t0 = time.monotonic()
        proc = subprocess.run(["podman", "stop", name], capture_output=True, text=True, timeout=spec.grace + 60)
        result.update(seconds=time.monotonic() - t0, rc=proc.returncode, stderr=proc.stderr.strip())

    stopper = threading.Thread(target=stop)
    t0 = time.monotonic()
    stopper.start()
    # The drain: readiness 503 soon after SIGTERM, while the server still serves.
    draining_seen = None
    while time.monotonic() - t0 < 5 and stopper.is_alive():
        status, _, _ = try_http(host_ports[readiness.port], "GET", readiness.path, timeout=readiness.timeout)
        if status == 503:
            draining_seen = time.monotonic() - t0
            break
        time.sleep(0.02)
    if report.expect(draining_seen is not None,
                     f"after SIGTERM the readiness probe answers 503 (after {(draining_seen or 0) * 1000:.0f} ms)",
                     "after SIGTERM the readiness probe never answered 503 (no drain: the Service would keep "
                     "sending requests to a stopping pod)"):
        if liveness:
            status, _, _ = try_http(host_ports[liveness.port], "GET", liveness.path, timeout=liveness.timeout)
            report.expect(status is not None and 200 <= status < 400,
                          f"while draining the liveness probe still answers {status} (no restart)",
                          f"while draining the liveness probe answers {status}: the kubelet would kill the pod")
        status, body, what = infer(host_ports[readiness.port], model)
        report.expect(status == 200, f"while draining {what} still answers 200",
                      f"while draining {what} answered {status} {body[:200]!r}")
    stopper.join(spec.grace + 90)
    if stopper.is_alive() or "rc" not in result:
        raise CheckError("podman stop did not return")
    exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", name).strip()
    oom = podman("inspect", "--format", "{{.State.OOMKilled}}", name).strip()
    seconds = result["seconds"]
    report.expect(result["rc"] == 0 and exit_code == "0" and oom == "false" and seconds < spec.grace
                  and "SIGKILL" not in result["stderr"],
                  f"podman stop (SIGTERM): drained and exited 0 in {seconds:.1f} s "
                  f"(terminationGracePeriodSeconds {spec.grace})",
                  f"podman stop: exit code {exit_code}, OOMKilled {oom}, {seconds:.1f} s "
                  f"(grace {spec.grace} s), podman: rc {result['rc']} {result['stderr']!r}")
    return seconds


def check_logs(name: str, model: str, report: Report) -> int:
    proc = subprocess.run(["podman", "logs", name], capture_output=True, text=True, timeout=60)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    bad, records = [], []
    for line in lines:
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            records.append(record)
        except ValueError:
            bad.append(line)
    report.expect(lines and not bad, f"podman logs: {len(lines)} lines, every one a JSON object",
                  f"podman logs: {len(bad)} of {len(lines)} lines are not JSON objects, e.g. {bad[:3]}")
    if records:
        keys = {"ts", "level", "msg"}
        report.expect(all(keys <= r.keys() for r in records), "every log line has ts, level and msg",
                      f"log lines without {sorted(keys)}: {[r for r in records if not keys <= r.keys()][:2]}")
        access = [r for r in records if str(r.get("http.route", "")).endswith("/infer")
                  and str(r.get("http.response.status_code")) == "200"]
        report.expect(bool(access), f"the access log holds the inference requests ({len(access)} lines)",
                      "no access log line for the inference request")
        stopped = [r for r in records if r.get("msg") == "stopped"]
        report.expect(any(str(r.get("shutdown.clean")) == "true" for r in stopped),
                      "the last lines log a clean shutdown", f"no clean 'stopped' log line: {stopped}")
    return len(lines)


def sample_start(spec: Spec, image: str, name: str, pod_name: str) -> float:
    host_ports = {p: free_port() for p in spec.tcp_ports}
    started = time.monotonic()
    subprocess.run(podman_run_args(spec, image, name, host_ports, pod_name), check=True, capture_output=True,
                   text=True, timeout=120)
    try:
        return wait_ready(spec, name, host_ports, started)[1]
    finally:
        podman("rm", "--force", "--time", "0", name, check=False)


def dump_logs(name: str):
    proc = subprocess.run(["podman", "logs", "--tail", "60", name], capture_output=True, text=True)
    print(f"--- podman logs --tail 60 {name}:\n{proc.stdout}{proc.stderr}---", flush=True)


# ---- results ------------------------------------------------------------------------------------

def write_record(path: str, args, spec: Spec, results: dict):
    def mb(n):
        return f"{n / 1e6:.1f} MB"

    podman_version = podman("version", "--format", "{{.Client.Version}}", check=False).strip()
    samples = results["ready_samples"]
    lines = [
        "# Container image: size and start-to-ready time",
        "",
        f"Measured by `scripts/checks/container.sh --record` on {datetime.now(timezone.utc):%Y-%m-%d}: "
        f"{platform.machine()}, {os.cpu_count()} vCPU, podman {podman_version} with runc, cgroups "
        f"{'v2' if os.path.exists('/sys/fs/cgroup/cgroup.controllers') else 'v1'}. The image is the "
        f"Dockerfile built offline (`BINARY_SOURCE=prebuilt`) on the runtime base that "
        f"`scripts/make-runtime-base.sh` makes; it runs as the dev overlay's Deployment says "
        f"(uid {spec.uid}, read-only root, no capabilities, {', '.join(f'{p} tmpfs' for p, _, _ in spec.tmpfs) or 'no volumes'}, "
        f"limits {f'{spec.cpu_limit:g}' if spec.cpu_limit else 'no'} CPU / {f'{spec.memory_limit // 2**20} MiB' if spec.memory_limit else 'no memory limit'}).",
        "",
        "| what | value |",
        "|---|---|",
        f"| image size (`podman image inspect`, uncompressed) | {mb(results['image_size'])} |",
    ]
    if results.get("base_size"):
        lines.append(f"| of which the runtime base (Debian 12 minbase + the binary's libraries) | {mb(results['base_size'])} |")
    if results.get("binary_size"):
        lines.append(f"| of which the binary (`--static-swift-stdlib`, release) | {mb(results['binary_size'])} |")
    lines += [
        f"| start to ready: `podman run` to the first `{next(p.path for p in spec.probes if p.kind == 'readiness')}` 200, "
        f"median of {len(samples)} | {statistics.median(samples) * 1000:.0f} ms |",
        f"| start to ready, each run | {', '.join(f'{s * 1000:.0f}' for s in samples)} ms |",
    ]
    if results.get("process_to_ready") is not None:
        lines.append(f"| of which process start (container `StartedAt`) to ready, first run | "
                     f"{results['process_to_ready'] * 1000:.0f} ms |")
    lines += [
        f"| `podman stop` (SIGTERM) to exit 0, with `SHUTDOWN_DRAIN_SECONDS={spec.env.get('SHUTDOWN_DRAIN_SECONDS', '?')}` | "
        f"{results['stop_seconds']:.1f} s (grace period {spec.grace} s) |",
    ]
    for key, label in (("base_seconds", "runtime base: made or reused"), ("build_seconds", "`podman build`")):
        if results.get(key) is not None:
            lines.append(f"| {label} | {results[key]:.1f} s |")
    lines.append("")
    if results.get("process_to_ready") is not None:
        first = samples[0]
        lines.append(
            f"Of the first start's {first * 1000:.0f} ms, {(first - results['process_to_ready']) * 1000:.0f} ms pass "
            f"before the server process starts (podman creating the container, its namespaces and the port "
            f"forwarding) and {results['process_to_ready'] * 1000:.0f} ms in the server (settings, loading the "
            f"bundled models, listening) until `/readyz` answers 200. A kubelet adds up to one probe period on "
            f"top before it marks the pod ready (readiness every "
            f"{next(p.period for p in spec.probes if p.kind == 'readiness')} s).")
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", required=True, help="rendered manifest (kubectl kustomize output)")
    parser.add_argument("--deployment", help="Deployment name (default: the only one)")
    parser.add_argument("--image", required=True, help="image to run instead of the manifest's")
    parser.add_argument("--name", required=True, help="container name")
    parser.add_argument("--model", default="mlp", help="model for the inference request")
    parser.add_argument("--ready-samples", type=int, default=3, help="starts to time (the first is the checked one)")
    parser.add_argument("--record", help="write the measurements to this Markdown file")
    parser.add_argument("--base-image", help="runtime base image, for its size in --record")
    parser.add_argument("--binary", help="the binary, for its size in --record")
    parser.add_argument("--base-seconds", type=float)
    parser.add_argument("--build-seconds", type=float)
    args = parser.parse_args()

    pod_name = f"{args.name}-pod"
    try:
        spec = load_spec(args.manifest, args.deployment, pod_name, socket.gethostname())
    except (ManifestError, KeyError, OSError, yaml.YAMLError) as e:
        print(f"FAIL: {args.manifest}: {e}")
        return 2

    report = Report()
    print(f"-- Deployment {spec.deployment}, container {spec.container} (image {spec.image}) as {args.image}")
    print(f"   user {spec.uid}:{spec.gid}, read-only root {spec.read_only_root}, drop {spec.cap_drop}, "
          f"add {spec.cap_add}, tmpfs {[(p, s) for p, s, _ in spec.tmpfs]}, limits cpu {spec.cpu_limit} "
          f"memory {spec.memory_limit}, {len(spec.env)} environment variables, ports {spec.tcp_ports}, "
          f"grace {spec.grace} s", flush=True)
    image_repo = args.image.rsplit("/", 1)[-1].split(":")[0]
    manifest_repo = spec.image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
    report.expect(image_repo == manifest_repo, f"the manifest runs image {spec.image}, the one built here ({image_repo})",
                  f"the manifest runs image {spec.image}, but the check built {args.image}")

    host_ports = {p: free_port() for p in spec.tcp_ports}
    run_args = podman_run_args(spec, args.image, args.name, host_ports, pod_name)
    print("   " + " ".join(a if re.fullmatch(r"[\w./:=,@%+-]+", a) else repr(a) for a in run_args), flush=True)
    results = {}
    try:
        started = time.monotonic()
        proc = subprocess.run(run_args, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise CheckError(f"podman run failed ({proc.returncode}): {proc.stderr.strip()}")
        startup_s, ready_s = wait_ready(spec, args.name, host_ports, started)
        results["process_to_ready"] = process_start_to_ready(args.name, time.time())
        report.ok(f"startup probe succeeded {startup_s * 1000:.0f} ms and readiness {ready_s * 1000:.0f} ms "
                  f"after podman run")
        results["ready_samples"] = [ready_s]

        check_inside(spec, args.name, report)
        check_probes(spec, host_ports, report)
        main_port = host_ports[next(p for p in spec.probes if p.kind == "readiness").port]
        check_infer(main_port, args.model, report)
        check_metrics(spec, host_ports, args.model, report)
        results["stop_seconds"] = check_stop(spec, args.name, host_ports, args.model, report)
        check_logs(args.name, args.model, report)
        if report.failures:
            dump_logs(args.name)

        for i in range(1, args.ready_samples):
            results["ready_samples"].append(sample_start(spec, args.image, f"{args.name}-{i}", pod_name))
        print("ok: podman run to ready: " + ", ".join(f"{s * 1000:.0f} ms" for s in results["ready_samples"]))
    except (CheckError, subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        report.fail(f"{e}{': ' + detail.strip() if detail else ''}")
        dump_logs(args.name)
    finally:
        for i in range(args.ready_samples):
            podman("rm", "--force", "--time", "0", args.name if i == 0 else f"{args.name}-{i}", check=False)

    results["image_size"] = int(podman("image", "inspect", "--format", "{{.Size}}", args.image).strip())
    if args.base_image:
        results["base_size"] = int(podman("image", "inspect", "--format", "{{.Size}}", args.base_image).strip())
    if args.binary:
        results["binary_size"] = os.path.getsize(args.binary)
    results["base_seconds"], results["build_seconds"] = args.base_seconds, args.build_seconds
    print(f"image {args.image}: {results['image_size'] / 1e6:.1f} MB")
    if report.failures:
        print(f"FAIL: {len(report.failures)} container check(s) failed")
        return 1
    if args.record:
        write_record(args.record, args, spec, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
