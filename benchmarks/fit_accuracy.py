"""How close `llmgen fit`'s host estimate is to llama-server's real peak memory.

Run from the repository: `.venv/bin/python benchmarks/fit_accuracy.py [--quick] [--json FILE]`.
For GGUF models of several shapes (random weights, realistic vocabularies, GQA and MHA, F16 and
Q4_0, which x86 CPUs with AVX2 repack), it renders each spec's llama-server argv with llmgen, runs the real llama-server b11434
on CPU (scripts/build-llama-server.sh) at several context lengths and slot counts, sends one
prompt long enough to fill a ubatch, reads the peak RSS (VmHWM), and prints it beside fit's
host estimate. Target: within max(10 %, 32 MiB) on every case. Nothing is asserted here;
tests/fit/test_fit_engine.py checks the target on a small subset.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.support (engines and model writers)

from tests.support.engines import llama_server_binary  # noqa: E402
from tests.support.gguf_shapes import (  # noqa: E402
    GEMMA2_PATTERN,
    GEMMA2_SWA,
    Shape,
    write_shaped_gguf,
)
from tests.support.llama_memory import measure_llama_server  # noqa: E402

from llmgen.engines import ENGINES  # noqa: E402
from llmgen.fit.run import fit_spec  # noqa: E402
from llmgen.spec.models import Spec, parse_spec  # noqa: E402

MIB = 1 << 20
SHAPES = (
    Shape("mha-32k", vocab=32000, n_embd=256, n_layer=4, n_head=4, n_head_kv=4, n_ff=768),
    Shape(
        "smollm2-135m",
        vocab=49152,
        n_embd=576,
        n_layer=30,
        n_head=9,
        n_head_kv=3,
        n_ff=1536,
        tied=True,
    ),
    Shape(
        "qwen-vocab",
        vocab=151936,
        n_embd=512,
        n_layer=4,
        n_head=8,
        n_head_kv=2,
        n_ff=1536,
        tied=True,
    ),
    Shape(
        "gqa-q4_0",
        vocab=32000,
        n_embd=512,
        n_layer=8,
        n_head=8,
        n_head_kv=2,
        n_ff=1408,
        weight_type="Q4_0",
    ),
    # Qwen-shaped, tied, Q4_0: the output layer is a repacked copy of the token embeddings.
    Shape(
        "tied-q4_0",
        vocab=151936,
        n_embd=512,
        n_layer=4,
        n_head=8,
        n_head_kv=2,
        n_ff=1536,
        tied=True,
        weight_type="Q4_0",
    ),
    Shape(
        "q8_0-gqa4",
        vocab=32000,
        n_embd=512,
        n_layer=6,
        n_head=8,
        n_head_kv=2,
        n_ff=1408,
        weight_type="Q8_0",
    ),
)
# K- and i-quants (zero blocks; llama.cpp loads and repacks them like real weights), a 256k
# vocabulary, head size 128, GQA 8:1.
SHAPES += tuple(
    Shape(
        f"{kind.lower()}-{suffix}",
        vocab=vocab,
        n_embd=embd,
        n_layer=layers,
        n_head=heads,
        n_head_kv=kv,
        n_ff=1536,
        tied=tied,
        weight_type=kind,
    )
    for kind, suffix, vocab, embd, layers, heads, kv, tied in (
        ("Q4_K", "gqa4", 32000, 512, 6, 8, 2, False),
        ("Q6_K", "tied", 49152, 512, 6, 8, 2, True),
        ("Q5_K", "mha", 32000, 512, 4, 4, 4, False),
        ("Q2_K", "gqa8", 32000, 1024, 4, 8, 1, False),
        ("IQ4_NL", "tied", 32000, 512, 6, 8, 2, True),
        ("Q4_K", "vocab256k", 256000, 512, 4, 4, 1, True),
    )
)
# Sliding-window attention: llama.cpp's gemma2 loader's period, and the GGUF's own pattern.
SWA_SHAPES = (GEMMA2_SWA, GEMMA2_PATTERN)
SHAPES += SWA_SHAPES
# One request makes at most 2 context checkpoints (4 + n_ubatch and 4 tokens before the end of
# the prompt, tools/server/server-context.cpp), so the SWA cases bound them at 2 (fit counts
# them at the bound); --swa-full keeps every layer's full context and makes none.
SWA_CASES: tuple[tuple[int, int, tuple[str, ...]], ...] = (
    (4096, 1, ("--ctx-checkpoints", "2")),
    (4096, 2, ("--ctx-checkpoints", "2")),
    (8192, 1, ("--ctx-checkpoints", "2")),
    (4096, 1, ("--swa-full",)),
)
CASES = ((512, 1), (4096, 4), (8192, 1))  # (context_length per slot, parallel)
# Load and cache flags, on a 4096 x 1 case of every shape (--flags).
FLAG_CASES: tuple[tuple[str, ...], ...] = (
    ("--no-repack",),
    ("--load-mode", "none"),
    ("--cache-type-k", "q8_0"),
)
# The cached llama-server is built with GGML_NATIVE=OFF: AVX2 compiled in, no AVX-512,
# whatever this CPU has (docs/fit.md).
BINARY_FEATURES = frozenset({"avx2"})
QUICK_CASES = ((512, 1), (4096, 2))


@dataclass(frozen=True)
class Row:
    """One measured case."""

    shape: str
    context: int
    parallel: int
    flags: str
    estimate: int
    measured: int
    kv_logged_mib: float
    kv_estimate: int
    logged: dict[str, float]
    breakdown: dict[str, int]

    @property
    def error(self) -> float:
        """Relative error of the estimate against the measurement."""
        return (self.estimate - self.measured) / self.measured

    @property
    def within_target(self) -> bool:
        """Within max(5 %, 16 MiB) (issue 20's target)."""
        return abs(self.estimate - self.measured) <= max(0.05 * self.measured, 16 * MIB)


def spec_for(model: Path, context: int, parallel: int, flags: tuple[str, ...] = ()) -> Spec:
    """The spec a user would write for this case."""
    return parse_spec(
        {
            "name": "bench",
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


def run_case(  # noqa: PLR0917 - one measured case
    binary: Path,
    model: Path,
    shape: Shape,
    context: int,
    parallel: int,
    flags: tuple[str, ...] = (),
) -> Row:
    """Estimate, then measure one (model, context, parallel, flags) case."""
    spec = spec_for(model, context, parallel, flags)
    report = fit_spec(spec, memory="64G", online=False, cpu_features=BINARY_FEATURES)
    host = next(d for d in report.devices if d.name == "host")
    args = list(ENGINES["llamacpp"].plan(spec).args)
    prompt = min(context - 16, 600)  # fills a 512-token ubatch where the slot allows
    # Verbosity 4: llama-server logs each buffer's size (CPU KV, CPU_REPACK model, ...).
    measured = measure_llama_server(binary, [*args, "-lv", "4"], prompt)
    return Row(
        shape.name,
        context,
        parallel,
        " ".join(flags),
        host.estimate_bytes,
        measured.vm_hwm_bytes,
        measured.buffers.get("CPU KV", 0.0),
        host.breakdown.kv_cache,
        measured.buffers,
        {
            "weights": host.breakdown.weights,
            "kv_cache": host.breakdown.kv_cache,
            "compute": host.breakdown.compute,
            "overhead": host.breakdown.overhead,
            "prompt_cache": host.breakdown.prompt_cache,
        },
    )


def main() -> None:
    """Measure every case and print the table (and JSON with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two cases per shape")
    parser.add_argument("--flags", action="store_true", help="add the load/cache flag cases")
    parser.add_argument("--shapes", nargs="*", help="only these shapes")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--detail", action="store_true", help="print logged buffers too")
    parser.add_argument("--models", type=Path, help="keep the generated GGUFs in this folder")
    options = parser.parse_args()
    binary = llama_server_binary()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = options.models or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for shape in SHAPES:
            if options.shapes and shape.name not in options.shapes:
                continue
            model = folder / f"{shape.name}.gguf"
            if not model.is_file():
                write_shaped_gguf(model, shape)
            cases = [(c, p, ()) for c, p in (QUICK_CASES if options.quick else CASES)]
            if options.flags:
                cases += [(4096, 1, flags) for flags in FLAG_CASES]
            if shape in SWA_SHAPES:
                cases = list(SWA_CASES)
            for context, parallel, flags in cases:
                row = run_case(binary, model, shape, context, parallel, flags)
                rows.append(row)
                print(_line(row), flush=True)
                if options.detail:
                    est = {k: round(v / MIB, 1) for k, v in row.breakdown.items()}
                    print(f"    logged MiB {row.logged}  estimate MiB {est}", flush=True)
            if options.models is None:
                model.unlink()
    inside = sum(r.within_target for r in rows)
    print(f"{inside}/{len(rows)} cases within max(5 %, 16 MiB)")
    if options.json:
        options.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))


def _line(row: Row) -> str:
    return (
        f"| {row.shape:13} | {row.context:6} | {row.parallel:2} | {row.flags or '-':22} | "
        f"{row.measured / MIB:8.1f} | "
        f"{row.estimate / MIB:8.1f} | {100 * row.error:+6.1f} % | "
        f"{row.kv_logged_mib:7.1f} | {row.kv_estimate / MIB:7.1f} | "
        f"{'yes' if row.within_target else 'NO'} |"
    )


if __name__ == "__main__":
    main()
