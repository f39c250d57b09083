"""A representative subset of benchmarks/fit_accuracy.py against the real llama-server b11434:
repacked quantized weights (Q4_0, K- and i-quants), a tied output's repacked copy, the load and
repack flags, a quantized K cache, each within max(5 %, 16 MiB) of the peak resident memory
(VmHWM) after a prompt that fills a ubatch. The whole table: docs/fit.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmgen.engines import ENGINES
from llmgen.fit.run import fit_spec
from llmgen.spec.models import Spec, parse_spec
from tests.support.gguf_shapes import GEMMA2_PATTERN, GEMMA2_SWA, Shape, write_shaped_gguf
from tests.support.llama_memory import measure_llama_server

pytest_plugins = ("tests.support.fixtures",)
pytestmark = pytest.mark.engine

MIB = 1 << 20
# The cached llama-server is built with GGML_NATIVE=OFF: AVX2 compiled in, no AVX-512.
FEATURES = frozenset({"avx2"})
CASES = (
    (Shape("tied-q4_0", 151936, 512, 4, 8, 2, 1536, tied=True, weight_type="Q4_0"), 4096, 2, ()),
    (Shape("q4_k", 32000, 512, 6, 8, 2, 1536, weight_type="Q4_K"), 4096, 1, ("--load-mode", "none")),
    (Shape("iq4_nl", 32000, 512, 6, 8, 2, 1536, tied=True, weight_type="IQ4_NL"), 4096, 1, ("--no-repack",)),
    (Shape("q8_0", 32000, 512, 6, 8, 2, 1408, weight_type="Q8_0"), 4096, 1, ("--cache-type-k", "q8_0")),
)  # fmt: skip


def spec_of(model: Path, context: int, parallel: int, flags: tuple[str, ...]) -> Spec:
    """The spec a user would write for this model, context, slots and flags."""
    return parse_spec(
        {
            "name": "accuracy",
            "engine": "llamacpp",
            "model": {"path": str(model)},
            "runtime": {
                "context_length": context,
                "parallel": parallel,
                "threads": 2,
                "extra_args": list(flags),
            },
        }
    )


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{s.name}-{c}x{p}{'-'.join(('', *f))}" for s, c, p, f in CASES]
)
def test_estimate_within_5_percent_of_llama_server(
    tmp_path: Path, llama_server_bin: Path, case: tuple[Shape, int, int, tuple[str, ...]]
) -> None:
    shape, context, parallel, flags = case
    model = write_shaped_gguf(tmp_path / f"{shape.name}.gguf", shape)
    spec = spec_of(model, context, parallel, flags)
    report = fit_spec(spec, memory="64G", cpu_features=FEATURES)
    host = next(d for d in report.devices if d.name == "host")
    args = list(ENGINES["llamacpp"].plan(spec).args)
    measured = measure_llama_server(llama_server_bin, args, 600)
    slack = max(0.05 * measured.vm_hwm_bytes, 16 * MIB)
    assert abs(host.estimate_bytes - measured.vm_hwm_bytes) <= slack, (
        f"estimate {host.estimate_bytes / MIB:.1f} MiB, measured "
        f"{measured.vm_hwm_bytes / MIB:.1f} MiB\n{measured.log_tail}"
    )


@pytest.mark.parametrize(
    ("shape", "sliding_layers"),
    [(GEMMA2_SWA, 3), (GEMMA2_PATTERN, 4)],
    ids=["period-2", "gguf-pattern"],
)
def test_sliding_window_kv_and_peak_match_llama_server(
    tmp_path: Path, llama_server_bin: Path, shape: Shape, sliding_layers: int
) -> None:
    # One slot of 8192: a global layer keeps 8192 cells, a sliding one pad(256 + 512, 256) = 768
    # (src/llama-kv-cache-iswa.cpp). --ctx-checkpoints 2: one request makes both checkpoints
    # (tools/server/server-context.cpp); fit counts each at its bound, a whole window cache.
    model = write_shaped_gguf(tmp_path / f"{shape.name}.gguf", shape)
    spec = spec_of(model, 8192, 1, ("--ctx-checkpoints", "2"))
    report = fit_spec(spec, memory="64G", cpu_features=FEATURES)
    host = next(d for d in report.devices if d.name == "host")
    args = list(ENGINES["llamacpp"].plan(spec).args)
    measured = measure_llama_server(llama_server_bin, [*args, "-lv", "4"], 600)
    per_cell = 2 * 8 * 64 * 2
    expected_kv = ((6 - sliding_layers) * 8192 + sliding_layers * 768) * per_cell
    assert measured.buffers.get("CPU KV", 0.0) * MIB == pytest.approx(expected_kv, abs=0.01 * MIB)
    assert host.breakdown.kv_cache == expected_kv
    slack = max(0.05 * measured.vm_hwm_bytes, 16 * MIB)
    assert abs(host.estimate_bytes - measured.vm_hwm_bytes) <= slack, (
        f"estimate {host.estimate_bytes / MIB:.1f} MiB, measured "
        f"{measured.vm_hwm_bytes / MIB:.1f} MiB\n{measured.log_tail}"
    )
