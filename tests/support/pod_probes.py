"""The kubelet's probes, run against a pod's container on the Docker Engine (pod_docker.py).

As the kubelet does (k8s.io/kubernetes pkg/kubelet/prober): an HTTP probe is a GET of the
container port and path that succeeds on a status from 200 to 399 within timeoutSeconds; an
exec probe runs the command in the container and succeeds on exit status 0 within
timeoutSeconds. The startup probe runs every periodSeconds until it succeeds, and fails the
container after failureThreshold failures in a row; only then do readiness and liveness start,
each on its own period, and liveness kills the container after failureThreshold failures in a
row.
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from tests.support.pod_docker import PodRun, Probe


class ProbeFailedError(AssertionError):
    """A probe reached its failure threshold (the kubelet would restart the container)."""


@dataclass(frozen=True)
class Outcome:
    """One probe run: passed or not, with what was seen."""

    kind: str
    passed: bool
    detail: str
    at_s: float


def _docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def running(name: str) -> bool:
    """The container is still running (a probe on a dead container proves nothing)."""
    done = _docker("inspect", "--format", "{{.State.Running}}", name)
    return done.stdout.strip() == "true"


def logs(name: str, lines: int = 30) -> str:
    """The container's last log lines, for a failure message."""
    done = _docker("logs", "--tail", str(lines), name)
    return done.stdout + done.stderr


def probe_once(run: PodRun, probe: Probe) -> tuple[bool, str]:
    """Run `probe` once against the container: (passed, what was seen)."""
    if probe.http_path is not None:
        url = f"http://127.0.0.1:{probe.http_port}{probe.http_path}"
        request = urllib.request.Request(url, headers={"User-Agent": "kube-probe/1.33"})
        try:
            with urllib.request.urlopen(request, timeout=probe.timeout_s) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            status = int(exc.code)
        except OSError as exc:
            return False, f"GET {url}: {exc}"
        return 200 <= status < 400, f"GET {url}: {status}"
    try:
        done = _docker("exec", run.name, *probe.command, timeout=probe.timeout_s + 5)
    except subprocess.TimeoutExpired:
        return False, f"exec {probe.command}: timed out"
    return done.returncode == 0, f"exec {list(probe.command)}: exit {done.returncode}"


def wait_started(run: PodRun) -> list[Outcome]:
    """Run the startup probe as the kubelet does until it passes; every outcome, in order.

    Raises ProbeFailedError after failureThreshold failures in a row, or when the container
    exits first (its logs in the message).
    """
    probe = run.probes["startup"]
    began = time.monotonic()
    time.sleep(probe.initial_delay_s)
    seen: list[Outcome] = []
    failures = 0
    while True:
        if not running(run.name):
            raise ProbeFailedError(f"{run.name} exited before it started:\n{logs(run.name)}")
        passed, detail = probe_once(run, probe)
        seen.append(Outcome("startup", passed, detail, time.monotonic() - began))
        if passed:
            return seen
        failures += 1
        if failures >= probe.failure_threshold:
            raise ProbeFailedError(
                f"startup probe failed {failures} times ({detail}):\n{logs(run.name)}"
            )
        time.sleep(probe.period_s)


def observe(run: PodRun, window_s: float) -> list[Outcome]:
    """After start-up: readiness and liveness on their own periods for `window_s` seconds.

    Each probe runs at once and then every periodSeconds. Raises ProbeFailedError when liveness
    fails failureThreshold times in a row or the container exits.
    """
    kinds = [kind for kind in ("readiness", "liveness") if kind in run.probes]
    began = time.monotonic()
    due = {kind: run.probes[kind].initial_delay_s for kind in kinds}
    failures = dict.fromkeys(kinds, 0)
    seen: list[Outcome] = []
    while True:
        now = time.monotonic() - began
        for kind in kinds:
            if now < due[kind]:
                continue
            probe = run.probes[kind]
            if not running(run.name):
                raise ProbeFailedError(f"{run.name} exited:\n{logs(run.name)}")
            passed, detail = probe_once(run, probe)
            seen.append(Outcome(kind, passed, detail, now))
            failures[kind] = 0 if passed else failures[kind] + 1
            if kind == "liveness" and failures[kind] >= probe.failure_threshold:
                raise ProbeFailedError(f"liveness failed {failures[kind]} times: {detail}")
            due[kind] += probe.period_s
        if now >= window_s:
            return seen
        time.sleep(max(0.0, min(due.values()) - (time.monotonic() - began)) if due else 0.5)
