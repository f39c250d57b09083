"""Time to ready and peak memory of the tiny llama.cpp and vLLM (CPU) deployments, via verify.

Run from the repository: `.venv/bin/python benchmarks/engine_startup.py [--runs N] [--engine E]`.
Each run renders the tiny deployment, runs `llmgen verify` in-process and prints verify's own
figures: time to ready (launch to the first 200 from /health), first-token latency, tokens per
second (one streamed request) and peak RSS of the server's process group. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (engines and tiny models)

from tests.support.engines import free_port, llama_server_binary  # noqa: E402
from tests.support.gguf_model import write_tiny_gguf  # noqa: E402
from tests.support.hf_model import make_tiny_llama  # noqa: E402
from tests.support.vllm_cpu import vllm_cpu_python, vllm_environment, write_vllm_spec  # noqa: E402

from llmgen.render.bundle import render  # noqa: E402
from llmgen.render.writer import write_bundle  # noqa: E402
from llmgen.rules.analysis import validate_file  # noqa: E402
from llmgen.verify.runner import VerifyOptions, run_verify  # noqa: E402


def llamacpp_setup(work: Path) -> tuple[Path, dict[str, str]]:
    """Spec file and environment for the tiny llama.cpp deployment."""
    model = write_tiny_gguf(work / "tiny.gguf")
    spec = work / "llamacpp.yaml"
    spec.write_text(
        "name: tiny-llamacpp\nengine: llamacpp\n"
        f"model:\n  path: {model}\nserver:\n  port: {free_port()}\n"
        "runtime:\n  context_length: 512\n  parallel: 1\n  threads: 2\n",
        "utf-8",
    )
    env = dict(os.environ)
    env["PATH"] = f"{llama_server_binary().parent}{os.pathsep}{env['PATH']}"
    return spec, env


def vllm_setup(work: Path) -> tuple[Path, dict[str, str]]:
    """Spec file and environment for the tiny vLLM CPU deployment."""
    python = vllm_cpu_python()
    model = make_tiny_llama(work / "tiny-llama", python)
    spec = write_vllm_spec(work / "vllm.yaml", model, free_port(), name="tiny-vllm")
    return spec, vllm_environment(python, work / "vllm-cache")


SETUPS = {"llamacpp": llamacpp_setup, "vllm": vllm_setup}


def measure(engine: str, runs: int) -> None:
    """Run verify `runs` times on a fresh deployment of `engine` and print the figures."""
    figures: dict[str, list[float]] = {"ready": [], "first": [], "tps": [], "rss": []}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        spec, env = SETUPS[engine](work)
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            out = work / "out"
            write_bundle(render(validate_file(spec).spec).files, out)
            for _ in range(runs):
                result = run_verify(VerifyOptions(target=out, timeout=600))
                if not result.ok:
                    raise SystemExit(f"{engine}: verify failed: {result.failure}")
                figures["ready"].append(result.time_to_ready_s or 0.0)
                figures["first"].append(result.first_token_s or 0.0)
                figures["tps"].append(result.tokens_per_second or 0.0)
                figures["rss"].append((result.peak_rss_bytes or 0) / 2**20)
        finally:
            os.environ.clear()
            os.environ.update(saved)
    print(f"{engine} ({runs} runs; median [min-max])")
    for key, label, unit in (
        ("ready", "time to ready", "s"),
        ("first", "first token", "s"),
        ("tps", "tokens per second", "tok/s"),
        ("rss", "peak RSS", "MiB"),
    ):
        values = figures[key]
        print(
            f"  {label:18} {statistics.median(values):10.3f} "
            f"[{min(values):.3f}-{max(values):.3f}] {unit}"
        )


def main() -> None:
    """Parse arguments and measure each engine asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=sorted(SETUPS), action="append")
    args = parser.parse_args()
    for engine in args.engine or sorted(SETUPS):
        measure(engine, args.runs)


if __name__ == "__main__":
    main()
