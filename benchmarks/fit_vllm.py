"""`llmgen fit` against vLLM's CPU build: the KV cache vLLM logs and the server's memory (PSS
and RSS summed over its process group after ready and one request), over context, slots, KV
cache size and dtype, on three random Llama shapes.

Run from the repository, under the machine's vLLM lock:
    flock /tmp/llmgen-vllm.lock .venv/bin/python benchmarks/fit_vllm.py [--cases ID...] [--json F]
Needs the vLLM CPU environment (scripts/setup-vllm-cpu.sh); each case starts vLLM once (one to
two minutes on 2 cores). Target (issue 20): within max(10 %, 64 MiB) of the PSS sum. Nothing
is asserted here (tests/fit/test_fit_vllm_engine.py checks a subset); the figures go into
docs/fit.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.vllm_cpu import vllm_cpu_python  # noqa: E402
from tests.support.vllm_memory import Case, make_models, measure  # noqa: E402

CASES = (
    Case("tiny-512x2-64M", "tiny", 512, 2, "64M"),
    Case("wide-512x2-64M", "wide", 512, 2, "64M"),
    Case("wide-2048x4-256M", "wide", 2048, 4, "256M"),
    Case("wide-1024x8-1G", "wide", 1024, 8, "1G"),
    Case("wide-1024x2-128M-float32", "wide", 1024, 2, "128M", "float32"),
    Case("deep-1024x2-128M", "deep", 1024, 2, "128M"),
    Case("deep-4096x1-512M", "deep", 4096, 1, "512M"),
    Case("deep-1024x2-128M-float32", "deep", 1024, 2, "128M", "float32"),
)


def main() -> None:
    """Every case (or those named), one JSON line each, then a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="only these case ids")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    options = parser.parse_args()
    cases = [c for c in CASES if not options.cases or c.id in options.cases]
    python = vllm_cpu_python()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        models = make_models(python, work, {c.model for c in cases})
        for case in cases:
            row = measure(python, case, models[case.model], work)
            rows.append(row)
            print(json.dumps(row), flush=True)
    inside = sum(bool(r["within"]) for r in rows)
    print(f"{inside}/{len(rows)} cases within max(10 %, 64 MiB) of the PSS sum")
    if options.json:
        options.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
