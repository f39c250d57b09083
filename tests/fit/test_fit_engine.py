"""fit's llama.cpp estimate against the real llama-server b11434 on CPU: its peak resident
memory (VmHWM after ready and one prompt that fills a ubatch) within the target
max(10 %, 32 MiB). The full table over more shapes: benchmarks/fit_accuracy.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgen.engines import ENGINES
from llmgen.fit.run import fit_spec
from llmgen.spec.models import parse_spec
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
