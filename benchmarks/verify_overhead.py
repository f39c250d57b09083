"""Measure what `llmgen verify` itself costs, against a real llama-server and a tiny GGUF.

Run from the repository: `.venv/bin/python benchmarks/verify_overhead.py [--runs N]`.

1. CLI runs: `python -m llmgen verify DIR --format json` as a subprocess, N times. verify's own
   overhead = wall time of the whole command - the engine's time to ready (as verify measured
   it) - the time of the checks (the requests, including the client.py subprocess).
2. In-process runs of the runner with an independent observer: a separate process polls the
   server's /health every 1 ms from before launch and records when it first answers 200. The
   readiness detection latency is verify's "ready" time minus the observer's (both
   CLOCK_MONOTONIC, which is system-wide on Linux).

Time to ready and peak memory (RSS of the server's process group, sampled from /proc) come from
verify's own report. Nothing here is asserted; the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (the tiny GGUF writer, the engine builder)

from tests.support.engines import free_port, llama_server_binary  # noqa: E402
from tests.support.gguf_model import write_tiny_gguf  # noqa: E402

from llmgen.verify.runner import VerifyOptions, run_verify  # noqa: E402

OBSERVER = r"""
import http.client, sys, time
port = int(sys.argv[1])
print("polling", flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.2)
    try:
        connection.request("GET", "/health")
        if connection.getresponse().status == 200:
            print(repr(time.monotonic()), flush=True)
            break
    except OSError:
        pass
    finally:
        connection.close()
    time.sleep(0.001)
"""


def render(work: Path, model: Path, port: int) -> Path:
    """Render the tiny llama.cpp deployment into work/out."""
    spec = work / "tiny.yaml"
    spec.write_text(
        "name: tiny-bench\nengine: llamacpp\n"
        f"model:\n  path: {model}\n"
        f"server:\n  host: 127.0.0.1\n  port: {port}\n"
        "runtime:\n  context_length: 512\n  parallel: 1\n",
        "utf-8",
    )
    out = work / "out"
    subprocess.run(
        [sys.executable, "-m", "llmgen", "render", str(spec), "-o", str(out)],
        check=True,
        capture_output=True,
    )
    return out


def cli_run(out: Path, env: dict[str, str]) -> dict[str, float]:
    """One `llmgen verify --format json` subprocess; returns its figures."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "verify", str(out), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    wall = time.monotonic() - start
    report = json.loads(done.stdout)
    if not report["ok"]:
        raise SystemExit(f"verify failed:\n{done.stdout}\n{done.stderr}")
    checks = {c["name"]: c["seconds"] for c in report["checks"]}
    ready = report["metrics"]["time_to_ready_s"]
    requests = sum(checks.values())
    return {
        "wall_s": wall,
        "time_to_ready_s": ready,
        "requests_s": requests,
        "client_check_s": checks["client.py"],
        "overhead_s": wall - ready - requests,
        "teardown_s": report["teardown"]["seconds"],
        "first_token_s": report["metrics"]["first_token_s"],
        "tokens_per_second": report["metrics"]["tokens_per_second"],
        "peak_rss_mib": report["metrics"]["peak_rss_bytes"] / 2**20,
    }


def observed_run(out: Path, port: int, env: dict[str, str]) -> dict[str, float]:
    """One in-process verification with an independent 1 ms /health observer."""
    with subprocess.Popen(
        [sys.executable, "-c", OBSERVER, str(port)], stdout=subprocess.PIPE, text=True
    ) as observer:
        assert observer.stdout is not None
        observer.stdout.readline()  # "polling": it is up before the server is launched
        start = time.monotonic()
        result = run_verify(VerifyOptions(target=out, env=env))
        total = time.monotonic() - start
        first_200 = float(observer.stdout.readline())
        observer.wait()
    if not result.ok or result.ready_at is None or result.time_to_ready_s is None:
        raise SystemExit(f"verify failed: {result.failure} {result.checks}")
    requests = sum(c.seconds for c in result.checks)
    return {
        "detection_latency_ms": (result.ready_at - first_200) * 1000,
        "in_process_overhead_s": total - result.time_to_ready_s - requests,
    }


def summary(name: str, values: list[float], unit: str, scale: float = 1.0) -> str:
    """One table row: median, min and max."""
    scaled = [v * scale for v in values]
    return (
        f"| {name} | {statistics.median(scaled):.1f} | {min(scaled):.1f} | "
        f"{max(scaled):.1f} | {unit} |"
    )


def main() -> None:
    """Run the benchmark and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    binary = llama_server_binary()
    env = dict(os.environ, PATH=f"{binary.parent}{os.pathsep}{os.environ['PATH']}")
    with tempfile.TemporaryDirectory(prefix="llmgen-bench-") as tmp:
        work = Path(tmp)
        model = write_tiny_gguf(work / "tiny.gguf")
        port = free_port()
        out = render(work, model, port)
        cli_run(out, env)  # warm the page cache and the .pyc files; not counted
        cli = [cli_run(out, env) for _ in range(args.runs)]
        observed = [observed_run(out, port, env) for _ in range(args.runs)]

    version = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False
    )
    print(f"llama-server: {(version.stdout + version.stderr).splitlines()[0]}")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.runs} runs each")
    print()
    print("| figure | median | min | max | unit |")
    print("|---|---|---|---|---|")
    rows = [
        ("`llmgen verify` wall time (subprocess)", "wall_s", "s", 1.0),
        ("engine time to ready", "time_to_ready_s", "ms", 1000.0),
        ("checks (requests + client.py)", "requests_s", "s", 1.0),
        ("  of which client.py subprocess", "client_check_s", "s", 1.0),
        ("verify's own overhead (CLI)", "overhead_s", "ms", 1000.0),
        ("  of which teardown", "teardown_s", "ms", 1000.0),
        ("first-token latency", "first_token_s", "ms", 1000.0),
        ("tokens per second (end to end, 32 tokens)", "tokens_per_second", "tok/s", 1.0),
        ("peak RSS of the server's process group", "peak_rss_mib", "MiB", 1.0),
    ]
    for label, key, unit, scale in rows:
        print(summary(label, [run[key] for run in cli], unit, scale))
    print(
        summary(
            "verify's own overhead (in-process)",
            [run["in_process_overhead_s"] for run in observed],
            "ms",
            1000.0,
        )
    )
    print(
        summary(
            "readiness detection latency",
            [run["detection_latency_ms"] for run in observed],
            "ms",
        )
    )


if __name__ == "__main__":
    main()
