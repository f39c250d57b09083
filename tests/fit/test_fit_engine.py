"""fit's llama.cpp estimate against the real llama-server b11434 on CPU: its peak resident
memory (VmHWM after ready and one prompt that fills a ubatch) within the target
max(10 %, 32 MiB), and the ubatch fit sizes the compute with is the one llama-server logs.
The full table over more shapes: benchmarks/fit_accuracy.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from llmgen.engines import ENGINES
from llmgen.fit.run import fit_spec
from llmgen.spec.models import parse_spec
from tests.support.engines import free_port, wait_for_http
from tests.support.gguf_shapes import Shape, write_shaped_gguf
from tests.support.llama_memory import measure_llama_server

pytest_plugins = ("tests.support.fixtures",)
pytestmark = pytest.mark.engine

MIB = 1 << 20
# A realistic vocabulary (the logits and embeddings matter) on a small GQA model.
SHAPE = Shape("gqa-32k", vocab=32000, n_embd=256, n_layer=4, n_head=8, n_head_kv=2, n_ff=768)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("fit-engine") / "gqa.gguf", SHAPE)


@pytest.mark.parametrize(("context", "parallel"), [(512, 1), (2048, 3)])
def test_host_estimate_matches_llama_server(
    llama_server_bin: Path, model: Path, context: int, parallel: int
) -> None:
    spec = parse_spec(
        {
            "name": "fit",
            "engine": "llamacpp",
            "model": {"path": str(model)},
            "runtime": {"context_length": context, "parallel": parallel, "threads": 2},
        }
    )
    host = next(d for d in fit_spec(spec, memory="64G").devices if d.name == "host")
    args = list(ENGINES["llamacpp"].plan(spec).args)
    measured = measure_llama_server(llama_server_bin, args, min(context - 16, 600))
    slack = max(0.10 * measured.vm_hwm_bytes, 32 * MIB)
    assert abs(host.estimate_bytes - measured.vm_hwm_bytes) <= slack, (
        f"estimate {host.estimate_bytes / MIB:.1f} MiB, measured "
        f"{measured.vm_hwm_bytes / MIB:.1f} MiB\n{measured.log_tail}"
    )


# 4 x (4 x 256 + 3 x 8 x 32 + 3 x 768) = 16384 bytes of float32 activations per token of the
# ubatch, plus one slot's float32 logits (4 x 32000): fit's host compute for SHAPE.
ACTIVATIONS_PER_TOKEN = 4 * (4 * 256 + 3 * 8 * 32 + 3 * 768)
LOGITS_PER_SLOT = 4 * 32000


UBATCH_CASES: tuple[tuple[int, list[str], int], ...] = (
    # --ctx-size 300: n_batch = min(300, 2048) before the context is rounded up to 512.
    (300, [], 300),
    # -ub -1 is 2^32 - 1 as a uint32: the batch, min(1024, 2048), caps it.
    (1024, ["-ub", "-1"], 1024),
    # -b -1: no cap but the context's, so -ub 4096 stays 4096 (not the default 2048).
    (4096, ["-b", "-1", "-ub", "4096"], 4096),
)


@pytest.mark.parametrize("case", UBATCH_CASES, ids=["ctx300", "ub-1", "b-1"])
def test_the_ubatch_is_the_one_llama_server_logs(
    tmp_path: Path, llama_server_bin: Path, model: Path, case: tuple[int, list[str], int]
) -> None:
    context, extra_args, ubatch = case
    spec = parse_spec(
        {
            "name": "fit",
            "engine": "llamacpp",
            "model": {"path": str(model)},
            "runtime": {
                "context_length": context,
                "parallel": 1,
                "threads": 2,
                "extra_args": extra_args,
            },
        }
    )
    host = next(d for d in fit_spec(spec, memory="64G").devices if d.name == "host")
    assert host.breakdown.compute == ACTIVATIONS_PER_TOKEN * ubatch + LOGITS_PER_SLOT
    port = free_port()
    args = [*ENGINES["llamacpp"].plan(spec).args, "-lv", "4"]
    args[args.index("--port") + 1] = str(port)
    log_path = tmp_path / "llama-server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([str(llama_server_bin), *args], stdout=log, stderr=log)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=120)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
    logged = re.findall(
        r"llama_context: n_ubatch\s+= (\d+)", log_path.read_text("utf-8", "replace")
    )
    assert logged == [str(ubatch)]
