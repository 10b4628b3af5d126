"""Starts pd-inference with given settings on a free loopback port and probes it over HTTP.

Used by k8s_policy.py: every probe and scrape path of a rendered Deployment must answer 200 from
the real server started with that Deployment's settings, and SIGTERM must end it with status 0.
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request


# Straight to loopback, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_status(url):
    try:
        with OPENER.open(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return None


def fetch(url):
    try:
        with OPENER.open(url, timeout=5) as response:
            return response.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return ""


def live_check(binary, models, settings_env, paths, label, must_fail_path=None, metrics=()):
    """Starts the binary with the given settings and expects 200 from every path, and the named
    series in /metrics.

    Overridden for the test: HOST/PORT (a free loopback port), MODEL_REPOSITORY (the repository's
    models), and tracing off so nothing leaves the machine. Returns a list of problems.
    """
    errors = []
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(settings_env)
    env.update({"HOST": "127.0.0.1", "PORT": str(port), "MODEL_REPOSITORY": models,
                "OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "", "SHUTDOWN_DRAIN_SECONDS": "0"})
    log = tempfile.TemporaryFile()
    process = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while get_status(base + "/livez") is None:
            if process.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                output = log.read().decode(errors="replace").strip().splitlines()[-5:]
                return [f"{label}: server did not start with these settings (exit {process.poll()}): " + " | ".join(output)]
            time.sleep(0.1)
        for path in sorted(paths):
            status = None
            deadline = time.monotonic() + 10  # readiness may follow liveness by a moment
            while time.monotonic() < deadline:
                status = get_status(base + path)
                if status == 200:
                    break
                time.sleep(0.2)
            if status != 200:
                errors.append(f"{label}: GET {path} answered {status}, expected 200")
        if metrics:
            exposed = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", fetch(base + "/metrics"), re.M))
            if not exposed:
                errors.append(f"{label}: read no series from /metrics")
            for name in sorted(set(metrics) - exposed):
                errors.append(f"{label}: /metrics has no series {name}")
        if must_fail_path and get_status(base + must_fail_path) == 200:
            errors.append(f"{label}: self-test: GET {must_fail_path} answered 200; the live check cannot tell")
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=30)
                if code != 0 and not errors:
                    errors.append(f"{label}: server exited {code} on SIGTERM, expected 0")
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                errors.append(f"{label}: server still running 30 s after SIGTERM")
        log.close()
    return errors
