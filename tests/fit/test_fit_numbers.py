"""`llmgen fit` for llama.cpp, number by number, on a generated GGUF whose shape is written here.

The shape (tests/fit/test_fit.py's SHAPE): 4 layers, hidden 128, 8 heads of 16, 2 KV heads,
feed-forward 256, vocabulary 2000. So one KV cell of one layer in f16 is K 2 x 16 + V 2 x 16
values x 2 bytes = 128 bytes. llama.cpp b11434's sizing (the sources fit/llamacpp.py cites):
--ctx-size rounded up to 256, split across the slots and each slot rounded up to 256 again
(src/llama-context.cpp); a sliding-window layer keeps min(slot, window + ubatch) cells per slot,
rounded up to 256 (src/llama-kv-cache-iswa.cpp); the output buffer holds float32 logits of one
token per slot (output_reserve); --no-kv-offload keeps the cache on the host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import pytest

from llmgen.fit import run
from llmgen.fit.model import Breakdown, DeviceEstimate
from tests.fit.test_fit import SHAPE, fit, write_spec
from tests.support.gguf_shapes import Shape, write_shaped_gguf

CELL = 2 * 16 * 2 + 2 * 16 * 2  # bytes per KV cell per layer (f16 K and V)
# One token's float32 activations per layer: 4 x hidden + 3 x heads x head + 3 x ffn.
ACTIVATIONS_PER_TOKEN = 4 * (4 * 128 + 3 * 8 * 16 + 3 * 256)  # 6656 bytes
LOGITS_PER_SLOT = 4 * 2000  # float32 logits of one token


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("numbers") / "gqa.gguf", SHAPE)


@pytest.fixture(scope="module")
def windowed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The same shape with a 300-token sliding window on every layer. llama's loader never
    reads a window, so the file says gemma2 (src/models/gemma2.cpp uses one) with its own
    all-true `sliding_window_pattern`, which replaces the architecture's period
    (src/llama-model.cpp, load_swa_pattern). fit reads only the header here."""
    original_init = gguf.GGUFWriter.__init__
    original = gguf.GGUFWriter.add_layer_norm_rms_eps

    def as_gemma2(self: gguf.GGUFWriter, path: str, arch: str, *args: Any, **kw: Any) -> None:
        original_init(self, path, "gemma2", *args, **kw)

    def with_window(self: gguf.GGUFWriter, value: float) -> None:
        original(self, value)
        self.add_sliding_window(300)
        self.add_array("gemma2.attention.sliding_window_pattern", [True] * SHAPE.n_layer)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf.GGUFWriter, "__init__", as_gemma2)
        patch.setattr(gguf.GGUFWriter, "add_layer_norm_rms_eps", with_window)
        yield write_shaped_gguf(tmp_path_factory.mktemp("swa") / "swa.gguf", SHAPE)


def report(tmp_path: Path, model: Path, *options: str, **runtime: Any) -> dict[str, Any]:
    spec = write_spec(tmp_path, model, **runtime)
    code, out, err = fit(str(spec), "--format", "json", "--offline", *options)
    assert code in (0, 1), err
    return dict(json.loads(out))


def device(found: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(d for d in found["devices"] if d["name"] == name))


def host(tmp_path: Path, model: Path, **runtime: Any) -> dict[str, int]:
    return dict(device(report(tmp_path, model, "--memory", "8G", **runtime), "host")["breakdown"])


def test_each_slot_is_rounded_up_to_256_cells(tmp_path: Path, model: Path) -> None:
    # 300 x 3 = 900 -> 1024 cells; 1024 // 3 = 341 per slot -> 512; 3 x 512 = 1536 cells.
    breakdown = host(tmp_path, model, context_length=300, parallel=3)
    assert breakdown["kv_cache"] == 1536 * 4 * CELL


def test_the_output_buffer_holds_the_logits_of_every_slot(tmp_path: Path, model: Path) -> None:
    # ubatch = min(512, batch 2048, cells): 512 tokens of activations, plus the logits of one
    # token per slot.
    one = host(tmp_path, model, context_length=1024, parallel=1)
    four = host(tmp_path, model, context_length=1024, parallel=4)
    assert one["compute"] == ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT * 1
    assert isinstance(one["compute"], int)  # bytes are whole: never 3415872.0 in the JSON
    assert four["compute"] == ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT * 4


def test_the_ubatch_is_capped_by_the_cells(tmp_path: Path, model: Path) -> None:
    # 256 cells in all: a ubatch cannot be longer than the context.
    breakdown = host(tmp_path, model, context_length=256, parallel=1)
    assert breakdown["compute"] == ACTIVATIONS_PER_TOKEN * 256 + LOGITS_PER_SLOT


def test_the_kv_cache_follows_the_layers_to_the_gpu_unless_no_kv_offload(
    tmp_path: Path, model: Path
) -> None:
    # All 4 layers + output on one GPU, 1024 cells: 1024 x 4 x 128 bytes of KV.
    kv = 1024 * 4 * CELL
    options = ("--memory", "8G", "--gpu-memory", "8G")
    offloaded = report(tmp_path, model, *options, context_length=1024, parallel=1, gpus=1)
    assert device(offloaded, "gpu0")["breakdown"]["kv_cache"] == kv
    assert device(offloaded, "host")["breakdown"]["kv_cache"] == 0
    kept = report(
        tmp_path,
        model,
        *options,
        context_length=1024,
        parallel=1,
        gpus=1,
        extra_args=["--no-kv-offload"],
    )
    assert device(kept, "host")["breakdown"]["kv_cache"] == kv
    assert device(kept, "gpu0")["breakdown"]["kv_cache"] == 0


@pytest.mark.parametrize(
    ("runtime", "cells_per_layer"),
    [
        # window 300 + ubatch 512 = 812 -> 1024 cells of the 2048-cell slot.
        ({"context_length": 2048, "parallel": 1}, 1024),
        # window 300 + ubatch 256 = 556 -> 768.
        ({"context_length": 2048, "parallel": 1, "extra_args": ["-ub", "256"]}, 768),
        # two slots of 2048: 1024 cells each.
        ({"context_length": 2048, "parallel": 2}, 2048),
        # a slot shorter than window + ubatch keeps the slot: 512.
        ({"context_length": 512, "parallel": 1}, 512),
        # --swa-full: the whole context on every layer.
        ({"context_length": 2048, "parallel": 1, "extra_args": ["--swa-full"]}, 2048),
    ],
)
def test_a_sliding_window_keeps_window_plus_ubatch_cells(
    tmp_path: Path, windowed: Path, runtime: dict[str, Any], cells_per_layer: int
) -> None:
    assert host(tmp_path, windowed, **runtime)["kv_cache"] == 4 * cells_per_layer * CELL


def test_without_a_budget_the_host_budget_is_memtotal_in_kib(tmp_path: Path, model: Path) -> None:
    # /proc/meminfo's "kB" are KiB (proc(5)): MemTotal x 1024 bytes.
    meminfo = Path("/proc/meminfo").read_text("ascii").splitlines()
    total_kib = int(next(line for line in meminfo if line.startswith("MemTotal:")).split()[1])
    spec = write_spec(tmp_path, model, context_length=1024, parallel=1)
    code, out, _ = fit(str(spec), "--format", "json", "--offline")
    assert code == 0
    assert device(json.loads(out), "host")["budget_bytes"] == total_kib * 1024


def fixes(tmp_path: Path, model: Path, memory: str, **runtime: Any) -> list[tuple[Any, ...]]:
    found = report(tmp_path, model, "--memory", memory, **runtime)
    return [(f["field"], f["from"], f["to"]) for f in found["fixes"]]


def test_the_fixes_come_in_their_order_and_halve_down_to_what_fits(
    tmp_path: Path, model: Path
) -> None:
    # 32768 x 8 slots: 262144 cells x 4 layers x 128 = 128 MiB of KV on a 100M budget.
    found = fixes(tmp_path, model, "100M", context_length=32768, parallel=8)
    fields = [field for field, _, _ in found]
    # KV cache type first (cost 2), then fewer slots (3), then a shorter context (4).
    assert fields == ["runtime.extra_args", "runtime.parallel", "runtime.context_length"]
    parallel = next(f for f in found if f[0] == "runtime.parallel")
    context = next(f for f in found if f[0] == "runtime.context_length")
    assert parallel[1] == 8 and parallel[2] in (4, 2, 1)
    assert context[1] == 32768 and context[2] in (16384, 8192, 4096, 2048, 1024, 512, 256)


def test_halving_stops_at_its_floor(tmp_path: Path, model: Path) -> None:
    # 256 tokens on one slot is the floor of both: no context or parallel fix is offered,
    # even when nothing fits (a 1M budget cannot hold the 1.3 MB file).
    found = fixes(tmp_path, model, "1M", context_length=256, parallel=1)
    fields = [field for field, _, _ in found]
    assert "runtime.context_length" not in fields and "runtime.parallel" not in fields
    # 512 halves once, to the floor, even if that is not enough alone.
    found = fixes(tmp_path, model, "1M", context_length=512, parallel=2)
    assert ("runtime.context_length", 512, 256) in found
    assert ("runtime.parallel", 2, 1) in found


@pytest.mark.parametrize(
    ("start", "floor", "budget", "tried", "chosen"),
    [
        # 1000 >> 1, >> 2, >> 3 = 500, 250, 125; 1000 >> 4 = 62 is below the floor 100.
        # A 100-byte budget holds none of them: the first halving is offered (not enough alone).
        (1000, 100, 100, [500, 250, 125], 500),
        # 250 is the first that a 300-byte budget holds (500 > 300).
        (1000, 100, 300, [500, 250], 250),
        # The floor itself is tried, and is the answer when it is the first that fits.
        (1000, 125, 125, [500, 250, 125], 125),
        # 150 >> 1 = 75 is already below the floor 100: nothing to offer.
        (150, 100, 0, [], None),
        # 7 >> 1, >> 2 = 3, 1 (7 >> 3 = 0): a floor of 1 ends at 1, whatever fits.
        (7, 1, 0, [3, 1], 3),
    ],
)
def test_halving_tries_each_half_down_to_the_floor(
    start: int, floor: int, budget: int, tried: list[int], chosen: int | None
) -> None:
    # A device whose estimate is the value itself, against a budget: it fits (or is tight,
    # enough to start) while value <= budget.
    seen: list[int] = []

    def evaluate(value: object) -> tuple[DeviceEstimate, ...]:
        assert isinstance(value, int)
        seen.append(value)
        return (DeviceEstimate("gpu0", Breakdown(weights=value), budget),)

    token = run._goal.set("start")
    try:
        assert run._halving(start, floor, lambda value: value, evaluate) == chosen
    finally:
        run._goal.reset(token)
    assert seen == tried


# --- what fit says it assumed (the text report's `note:` lines) -----------------------------

# What ggml-cpu repacks on an AVX2 x86 (ggml/src/ggml-cpu/repack.cpp,
# ggml_repack_get_optimal_repack_type), as the report words it.
REPACK_NOTE = (
    "host weights count the mapped file plus the matrices ggml-cpu repacks; CPU features avx2 "
    "(given with --cpu-features): llama.cpp repacks Q4_0, Q4_K, IQ4_NL, MXFP4 weights (llmgen "
    "fit --cpu-features avx2)"
)
HOST_BUDGET_NOTE = "host budget: this machine's RAM (give --memory or hardware.memory)"
GPU_BUDGET_NOTE = "GPU budget unknown: give --gpu-memory or hardware.gpu_memory"


def notes(tmp_path: Path, model: Path, *options: str, **runtime: Any) -> list[str]:
    spec = write_spec(tmp_path, model, context_length=1024, parallel=1, **runtime)
    code, out, err = fit(str(spec), "--offline", "--cpu-features", "avx2", *options)
    assert code in (0, 1), err
    return [line.removeprefix("note: ") for line in out.splitlines() if line.startswith("note: ")]


@pytest.mark.parametrize(
    ("options", "runtime", "expected"),
    [
        # Both budgets given (or no GPU): only the repacking assumption.
        (("--memory", "8G"), {}, [REPACK_NOTE]),
        (("--memory", "8G", "--gpu-memory", "8G"), {"gpus": 1}, [REPACK_NOTE]),
        # No host budget: this machine's RAM, said so.
        ((), {}, [HOST_BUDGET_NOTE, REPACK_NOTE]),
        # One GPU and no GPU budget.
        (("--memory", "8G"), {"gpus": 1}, [GPU_BUDGET_NOTE, REPACK_NOTE]),
        # llmgen renders --cache-ram 0 (no prompt cache): nothing to say. -1 is unbounded; 1 MiB
        # is the smallest bound, counted.
        (
            ("--memory", "8G"),
            {"extra_args": ["--cache-ram", "-1"]},
            [
                "--cache-ram -1: llama-server's prompt cache has no limit and grows with every "
                "distinct conversation; not in the estimate (--cache-ram N bounds it)",
                REPACK_NOTE,
            ],
        ),
        (
            ("--memory", "8G"),
            {"extra_args": ["--cache-ram", "1"]},
            [
                "the estimate counts llama-server's prompt cache at its bound (--cache-ram 1 MiB), "
                "which it reaches under traffic",
                REPACK_NOTE,
            ],
        ),
        (
            ("--memory", "8G"),
            {"extra_args": ["--no-repack"]},
            ["--no-repack: no repacked copies, whatever the CPU's features"],
        ),
    ],
)
def test_the_notes_say_what_the_estimate_assumed(
    tmp_path: Path,
    model: Path,
    options: tuple[str, ...],
    runtime: dict[str, Any],
    expected: list[str],
) -> None:
    assert notes(tmp_path, model, *options, **runtime) == expected


def test_the_json_report_names_the_cpu_features_it_assumed(tmp_path: Path, model: Path) -> None:
    found = report(tmp_path, model, "--memory", "8G", "--cpu-features", "avx2", context_length=1024)
    assert found["cpu_features"] == {"names": ["avx2"], "source": "given with --cpu-features"}


def test_the_overheads_are_the_measured_constants(tmp_path: Path, model: Path) -> None:
    # fit/llamacpp.py's measured figures (benchmarks/fit_accuracy.py): 12 MiB for the process
    # plus 155 bytes per vocabulary entry; with CUDA, 300 MiB more on the host and 400 MiB on
    # each GPU that holds a layer.
    mib = 1 << 20
    options = ("--memory", "8G", "--gpu-memory", "8G")
    cpu = report(tmp_path, model, *options, context_length=1024, parallel=1)
    assert device(cpu, "host")["breakdown"]["overhead"] == 12 * mib + 155 * 2000
    gpu = report(tmp_path, model, *options, context_length=1024, parallel=1, gpus=1)
    assert device(gpu, "host")["breakdown"]["overhead"] == 12 * mib + 155 * 2000 + 300 * mib
    assert device(gpu, "gpu0")["breakdown"]["overhead"] == 400 * mib


@pytest.mark.parametrize(
    ("cache_type", "k_bytes_per_1024_values"),
    [
        # ggml/src/ggml-common.h: f32 4 bytes a value, f16 and bf16 2; the quantized types hold
        # 32 values in a block of QK/2 (or more) bytes plus an f16 scale (and min):
        # q8_0 2 + 32 = 34, q4_0 2 + 16 = 18, q4_1 4 + 16 = 20, iq4_nl 2 + 16 = 18,
        # q5_0 2 + 4 + 16 = 22, q5_1 4 + 4 + 16 = 24 bytes per 32 values.
        ("f32", 4 * 1024),
        ("f16", 2 * 1024),
        ("bf16", 2 * 1024),
        ("q8_0", 34 * 32),
        ("q4_0", 18 * 32),
        ("q4_1", 20 * 32),
        ("iq4_nl", 18 * 32),
        ("q5_0", 22 * 32),
        ("q5_1", 24 * 32),
    ],
)
def test_the_k_cache_type_sets_its_bytes(
    tmp_path: Path, model: Path, cache_type: str, k_bytes_per_1024_values: int
) -> None:
    # 1024 cells x 4 layers; per cell and layer K holds 2 KV heads x 16 = 32 values in the
    # type, V 32 values in f16 (2 bytes each).
    values = 1024 * 4 * 32
    expected = values * k_bytes_per_1024_values // 1024 + values * 2
    kv = host(tmp_path, model, context_length=1024, parallel=1, extra_args=["-ctk", cache_type])
    assert kv["kv_cache"] == expected


def test_a_zero_ubatch_takes_the_batch(tmp_path: Path, model: Path) -> None:
    # llama.cpp b11434 src/llama-context.cpp:248-250: n_batch = min(n_ctx, n_batch) and
    # n_ubatch = min(n_batch, n_ubatch == 0 ? n_batch : n_ubatch): -ub 0 means the batch,
    # here min(1024 cells, 2048) = 1024 tokens of activations, plus one slot's logits.
    breakdown = host(tmp_path, model, context_length=1024, parallel=1, extra_args=["-ub", "0"])
    assert breakdown["compute"] == ACTIVATIONS_PER_TOKEN * 1024 + LOGITS_PER_SLOT


@pytest.mark.parametrize(
    ("runtime", "ubatch"),
    [
        # n_batch = min(n_ctx, n_batch) takes --ctx-size as given, before it is rounded up to
        # 256 (src/llama-context.cpp:248 runs before the GGML_PAD at :292): -c 300 gives
        # n_batch 300 and n_ubatch min(300, 512) = 300, not the 512 cells' 512. llama-server
        # b11434 with -c 300 -np 1 logs n_ctx = 512, n_batch = 300, n_ubatch = 300.
        ({"context_length": 300, "parallel": 1}, 300),
        # -b and -ub go into llama_context_params' uint32_t fields (common/common.cpp:1696-
        # 1697): -ub -1 is 2^32 - 1, so n_ubatch = min(n_batch, 2^32 - 1) = n_batch =
        # min(1024, 2048) = 1024 (b11434 logs n_ubatch = 1024 for -c 1024 -np 1 -ub -1).
        ({"context_length": 1024, "parallel": 1, "extra_args": ["-ub", "-1"]}, 1024),
        # -b -1: n_batch = min(4096, 2^32 - 1) = 4096, so -ub 4096 stays 4096 (b11434 logs
        # n_batch = n_ubatch = 4096 for -c 4096 -np 1 -b -1 -ub 4096), not the default 2048.
        (
            {"context_length": 4096, "parallel": 1, "extra_args": ["-b", "-1", "-ub", "4096"]},
            4096,
        ),
    ],
)
def test_the_ubatch_is_what_llama_context_makes_of_the_flags(
    tmp_path: Path, model: Path, runtime: dict[str, Any], ubatch: int
) -> None:
    breakdown = host(tmp_path, model, **runtime)
    assert breakdown["compute"] == ACTIVATIONS_PER_TOKEN * ubatch + LOGITS_PER_SLOT


def test_a_smaller_batch_narrows_the_sliding_window_cache(tmp_path: Path, windowed: Path) -> None:
    # The SWA cache is sized with the context's n_ubatch (src/llama-model.cpp:2643-2653 passes
    # cparams.n_ubatch to llama_kv_cache_iswa; src/llama-kv-cache-iswa.cpp:73): batch_size 256
    # gives n_ubatch = min(256, 512) = 256, so window 300 + 256 = 556 -> 768 cells per layer
    # of the 2048-cell slot, not 300 + 512 = 812 -> 1024.
    found = host(tmp_path, windowed, context_length=2048, parallel=1, batch_size=256)
    assert found["kv_cache"] == 4 * 768 * CELL


# --- which device is short, what a fix must reach, and what each fix saves -------------------


def fix_lines(tmp_path: Path, model: Path, *options: str, **runtime: Any) -> list[str]:
    spec = write_spec(tmp_path, model, **runtime)
    code, out, err = fit(str(spec), "--offline", "--cpu-features", "avx2", *options)
    assert code in (0, 1), err
    lines = out.splitlines()
    if "fixes (least given up first):" not in lines:
        return []
    after = lines[lines.index("fixes (least given up first):") + 1 :]
    return [line.strip() for line in after if line.startswith("  ")]


def fix_values(tmp_path: Path, model: Path, *options: str, **runtime: Any) -> list[tuple[Any, ...]]:
    found = report(tmp_path, model, "--cpu-features", "avx2", *options, **runtime)
    return [(f["field"], f["from"], f["to"], f["saves_bytes"], f["device"]) for f in found["fixes"]]


def layer_bytes(model: Path, *prefixes: str) -> int:
    """The bytes of the file's tensors whose names start with one of `prefixes` (gguf's own
    reader, not llmgen's)."""
    return sum(
        int(t.n_bytes) for t in gguf.GGUFReader(str(model)).tensors if t.name.startswith(prefixes)
    )


GPU_SHORT = {"context_length": 4096, "parallel": 4, "gpus": 1, "gpu_layers": "all"}
MIB = 1 << 20


def test_a_short_gpu_gets_every_fix_in_order_with_what_each_saves(
    tmp_path: Path, model: Path
) -> None:
    # All 4 layers and the output on gpu0: 4096 x 4 slots = 16384 cells x 4 layers x 128 bytes
    # = 8 MiB of KV, the weights, the compute buffer and 400 MiB of CUDA: 416.7 MiB on 410M.
    # The goal is a GPU that starts (tight is enough).
    kv_layer = 16384 * CELL  # 2 MiB per layer
    blocks = [layer_bytes(model, f"blk.{i}.") for i in range(4)]
    output = layer_bytes(model, "output.", "output_norm")
    options = ("--memory", "8G", "--gpu-memory", "410M")
    # - gpu_layers: from the top, the first count that fits is 2 (blk.3 and the output stay);
    #   blk.0-2 move with their KV (3 x 2 MiB): 6.8 MiB, 409.9 MiB left. 3 would move 4.5 MiB.
    # - context: 4096 -> 512 slots of 2048 cells in all: 14336 cells fewer, 7 MiB, leaves 409.7
    #   MiB; 1024 saves 6 MiB only (410.7 MiB > 410).
    # - KV cache q8_0: 34 bytes per 32 values instead of 64: 8 MiB x 30/64 = 3.75 MiB; not enough.
    # - parallel: 4 -> 2 halves the KV (4 MiB), 1 saves 6 MiB (410.7 MiB): neither is enough, so
    #   one halving is offered, marked so.
    # - gpus 1 -> 2: gpu0 keeps blk.0 and blk.1 (layers split in order) with their KV, gpu1 the
    #   rest and the output: 411.7 MiB on gpu0, still short: marked so.
    moved = sum(blocks[:3]) + 3 * kv_layer
    two_gpus = sum(blocks) + output + 4 * kv_layer - (sum(blocks[:2]) + 2 * kv_layer)
    assert fix_values(tmp_path, model, *options, **GPU_SHORT) == [
        ("runtime.gpu_layers", 5, 2, moved, "gpu0"),
        ("runtime.context_length", 4096, 512, 14336 * 4 * CELL, "gpu0"),
        (
            "runtime.extra_args",
            "f16 KV cache",
            "--cache-type-k q8_0 --cache-type-v q8_0",
            8 * MIB * 30 // 64,
            "gpu0",
        ),
        ("runtime.parallel", 4, 2, 4 * MIB, "gpu0"),
        ("runtime.gpus", 1, 2, two_gpus, "gpu0"),
    ]
    assert fix_lines(tmp_path, model, *options, **GPU_SHORT) == [
        "gpu_layers 5 -> 2 moves 6.8 MiB to host (gpu0)",
        "context_length 4096 -> 512 saves 7.0 MiB (gpu0)",
        "KV cache q8_0 instead of f16 saves 3.8 MiB (extra_args: --cache-type-k q8_0 "
        "--cache-type-v q8_0) (not enough alone) (gpu0)",
        "parallel 4 -> 2 saves 4.0 MiB (not enough alone) (gpu0)",
        "gpus 1 -> 2 splits the layers across twice the GPUs, saves 5.0 MiB (not enough alone) "
        "(gpu0)",
    ]


def test_the_gpus_fix_stays_within_the_machine_s_gpus(tmp_path: Path, model: Path) -> None:
    # The case above on a machine of one GPU (hardware.gpus 1): "gpus 1 -> 2" would break the
    # hardware.gpus rule, so it is not offered; on a machine of two it is (2 <= 2).
    options = ("--cpu-features", "avx2", "--memory", "8G", "--gpu-memory", "410M")

    def fields_with(machine: int) -> list[str]:
        spec = write_spec(tmp_path, model, f"hardware:\n  gpus: {machine}\n", **GPU_SHORT)
        code, out, err = fit(str(spec), "--format", "json", "--offline", *options)
        assert code == 1, err
        return [f["field"] for f in json.loads(out)["fixes"]]

    assert fields_with(1) == [
        "runtime.gpu_layers",
        "runtime.context_length",
        "runtime.extra_args",
        "runtime.parallel",
    ]
    assert fields_with(2)[-1] == "runtime.gpus"


@pytest.mark.parametrize(
    ("budget_mib", "first_fit", "moved_blocks"),
    [
        # Estimates on gpu0 by --gpu-layers (the test above): 5: 416.7 MiB, 4: 414.4 MiB (blk.0
        # and its 2 MiB of KV move), 3: 412.2 MiB. On 415 MiB the first count from the top that
        # starts is 4; on 413 MiB it is 3 (4 is still over).
        (415, 4, 1),
        (413, 3, 2),
    ],
)
def test_gpu_layers_are_given_back_one_at_a_time_from_the_top(
    tmp_path: Path, model: Path, budget_mib: int, first_fit: int, moved_blocks: int
) -> None:
    kv_layer = 16384 * CELL
    moved = sum(layer_bytes(model, f"blk.{i}.") for i in range(moved_blocks))
    moved += moved_blocks * kv_layer
    options = ("--memory", "8G", "--gpu-memory", f"{budget_mib}M")
    found = fix_values(tmp_path, model, *options, **GPU_SHORT)
    assert found[0] == ("runtime.gpu_layers", 5, first_fit, moved, "gpu0")


def test_the_output_layer_alone_is_given_back_too(tmp_path: Path, model: Path) -> None:
    # --gpu-layers 1 puts only the output layer on gpu0 (the last of layers + output), with a
    # compute buffer and CUDA's 400 MiB: more than 100 MiB. 0 leaves gpu0 empty, so the fix
    # is 1 -> 0 and moves all of it. The compute buffer: 1024 cells, ubatch min(512, 2048,
    # 1024) = 512 tokens of activations and of float32 logits.
    output = layer_bytes(model, "output.", "output_norm")
    gpu = output + (ACTIVATIONS_PER_TOKEN + LOGITS_PER_SLOT) * 512 + 400 * MIB
    options = ("--memory", "8G", "--gpu-memory", "100M")
    found = fix_values(
        tmp_path, model, *options, context_length=1024, parallel=1, gpus=1, gpu_layers=1
    )
    assert found[0] == ("runtime.gpu_layers", 1, 0, gpu, "gpu0")


def test_no_kv_cache_fix_unless_both_types_are_f16(tmp_path: Path, model: Path) -> None:
    # The q8_0 fix replaces an f16 K and V cache; with V already q8_0 it is not offered.
    options = ("--memory", "8G", "--gpu-memory", "410M")
    runtime = {**GPU_SHORT, "extra_args": ["--cache-type-v", "q8_0"]}
    found = fix_values(tmp_path, model, *options, **runtime)
    assert [f for f in found if f[0] == "runtime.extra_args"] == []
    runtime = {**GPU_SHORT, "extra_args": ["--cache-type-k", "q8_0"]}
    found = fix_values(tmp_path, model, *options, **runtime)
    assert [f for f in found if f[0] == "runtime.extra_args"] == []


def test_twice_the_gpus_that_leave_the_second_short_are_not_enough(
    tmp_path: Path, model: Path
) -> None:
    # gpus 1 -> 2 splits the 4 layers in order: gpu0 blk.0-1, gpu1 blk.2-3 and the output, each
    # with its layers' KV (2 MiB a layer), the same compute buffer (16384 cells, ubatch 512)
    # and 400 MiB of CUDA. A budget between the two leaves gpu1 short: not enough alone (3 GPUs
    # would have split blk.2 and blk.3 apart and fitted).
    kv_layer = 16384 * CELL
    blocks = [layer_bytes(model, f"blk.{i}.") for i in range(4)]
    output = layer_bytes(model, "output.", "output_norm")
    fixed = (ACTIVATIONS_PER_TOKEN + LOGITS_PER_SLOT) * 512 + 400 * MIB
    gpu0 = blocks[0] + blocks[1] + 2 * kv_layer + fixed
    gpu1 = blocks[2] + blocks[3] + output + 2 * kv_layer + fixed
    assert gpu0 < gpu1
    options = ("--memory", "8G", "--gpu-memory", str((gpu0 + gpu1) // 2))
    lines = fix_lines(tmp_path, model, *options, **GPU_SHORT)
    assert [line for line in lines if line.startswith("gpus ")] == [
        "gpus 1 -> 2 splits the layers across twice the GPUs, saves 5.0 MiB (not enough alone) "
        "(gpu0)"
    ]


# Bits per weight of the presets: quantize.cpp's file sizes of Llama-3-8B (8,030,261,248
# parameters) in GiB (tools/quantize/quantize.cpp: Q8_0 7.96G, Q6_K 6.14G, Q5_K_M 5.33G,
# Q4_K_M 4.58G, Q3_K_M 3.74G, Q2_K 2.96G), against F16's 16.
PRESET_GIB = {
    "Q8_0": 7.96,
    "Q6_K": 6.14,
    "Q5_K_M": 5.33,
    "Q4_K_M": 4.58,
    "Q3_K_M": 3.74,
    "Q2_K": 2.96,
}


@pytest.mark.parametrize("preset", list(PRESET_GIB))
def test_the_largest_preset_that_fits_is_offered(tmp_path: Path, model: Path, preset: str) -> None:
    # CPU only, 1024 cells: the host holds the mapped file, 1024 x 4 x 128 bytes of KV, 512
    # tokens of activations and one slot's logits, 12 MiB + 155 bytes x 2000 entries of
    # overhead. A preset scales the file by its bits over 16. The budget lies halfway between
    # the preset's estimate and the next larger one's, so it is the first that fits.
    file = model.stat().st_size
    base = 1024 * 4 * CELL + ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT + 12 * MIB + 155 * 2000

    def host_with(name: str) -> int:
        bits = PRESET_GIB[name] * 2**30 * 8 / 8_030_261_248
        return base + int(file * bits / 16)

    names = list(PRESET_GIB)
    larger = base + file if preset == "Q8_0" else host_with(names[names.index(preset) - 1])
    budget = (host_with(preset) + larger) // 2
    options = ("--memory", str(budget))
    found = fix_values(tmp_path, model, *options, context_length=1024, parallel=1)
    (quant,) = [f for f in found if f[0] == "model.path"]
    assert quant[:3] == ("model.path", "F16", preset) and quant[4] == "host"
    assert quant[3] == pytest.approx(base + file - host_with(preset), abs=1)


def test_without_mmap_a_preset_scales_each_tensor(tmp_path: Path, model: Path) -> None:
    # --load-mode none: the host reads each tensor once (no mapped file), so a preset scales
    # every tensor by its bits over 16 (each rounded down). Budget halfway between F16 and
    # Q8_0, whose fix line gives what it saves.
    sizes = [int(t.n_bytes) for t in gguf.GGUFReader(str(model)).tensors]
    bits = PRESET_GIB["Q8_0"] * 2**30 * 8 / 8_030_261_248
    smaller = sum(int(size * bits / 16) for size in sizes)
    base = 1024 * 4 * CELL + ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT + 12 * MIB + 155 * 2000
    budget = base + (sum(sizes) + smaller) // 2
    runtime = {"context_length": 1024, "parallel": 1, "extra_args": ["--load-mode", "none"]}
    found = fix_values(tmp_path, model, "--memory", str(budget), **runtime)
    (quant,) = [f for f in found if f[0] == "model.path"]
    assert quant[:3] == ("model.path", "F16", "Q8_0")
    assert quant[3] == pytest.approx(sum(sizes) - smaller, abs=len(sizes))
    saved = f"{(sum(sizes) - smaller) / 1024:.1f} KiB"  # under 1 MiB
    lines = fix_lines(tmp_path, model, "--memory", str(budget), **runtime)
    assert f"Q8_0 instead of F16 saves {saved} (host)" in lines


def test_a_hub_model_s_preset_fix_names_model_id(tmp_path: Path) -> None:
    # The catalog's SmolLM2-135M Q8_0 (tests/fit/test_fit_catalog_file.py: its weights are the
    # tensors of the same shape written in Q8_0). Q8_0 itself is no smaller, so the first
    # preset tried is Q6_K: the weights scale by 6.14 / 7.96 (quantize.cpp's Llama-3-8B
    # sizes). The budget leaves the host short by half of what Q6_K saves.
    # Its weights: Q8_0 is 34 bytes per 32 values. Each of 30 layers: q and output 576 x 576,
    # k and v 576 x 192 (3 KV heads of 64), gate, up and down 576 x 1536, two f32 norms of
    # 576; the tied embeddings 49152 x 576 and the f32 output norm.
    layer = (2 * 576 * 576 + 2 * 576 * 192 + 3 * 576 * 1536) * 34 // 32 + 2 * 576 * 4
    weights = 30 * layer + 49152 * 576 * 34 // 32 + 576 * 4  # 143,025,408 bytes
    saves = weights - int(weights * 6.14 / 7.96)
    model = {"id": "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0"}
    runtime = {"context_length": 1024, "parallel": 1}

    def fixes_on(budget: str) -> dict[str, Any]:
        spec = tmp_path / "hub.yaml"
        spec.write_text(
            json.dumps({"name": "hub", "engine": "llamacpp", "model": model, "runtime": runtime})
        )
        code, out, err = fit(
            str(spec), "--format", "json", "--offline", "--cpu-features", "avx2", "--memory", budget
        )
        assert code in (0, 1), err
        return dict(json.loads(out))

    # The estimate is read only to place the budget; what is asserted comes from the sizes.
    estimate = device(fixes_on("64G"), "host")["estimate_bytes"]
    found = fixes_on(str(estimate - saves // 2))["fixes"]
    (quant,) = [f for f in found if f["field"].startswith("model.")]
    assert (quant["field"], quant["from"], quant["to"], quant["device"]) == (
        "model.id",
        "Q8_0",
        "Q6_K",
        "host",
    )
    assert quant["saves_bytes"] == pytest.approx(saves, abs=2)


def test_a_hub_gguf_without_a_tensor_table_spreads_its_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hub id without `:QUANT` is llama.cpp's Q4_K_M (common/arg.cpp), for which the catalog
    # has no tensor table: SmolLM2-135M's 134,515,008 parameters at quantize.cpp's Q4_K_M size
    # of Llama-3-8B (4.58 GiB for 8,030,261,248 parameters). The tied embeddings (49152 x 576)
    # take their share of the bytes per parameter and stay on the host; the rest is spread
    # evenly over the 30 layers, all offloaded with the output (the embeddings again, tied).
    # Without an ffn_up tensor the feed-forward width is taken as 4 x 576.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    bits = 4.58 * 2**30 * 8 / 8_030_261_248
    total = int(134_515_008 * bits / 8)
    embeddings = int(49152 * 576 * (total / 134_515_008))
    per_layer = (total - embeddings) // 30
    per_token = 4 * (4 * 576 + 3 * 9 * 64 + 3 * 4 * 576)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "hub",
                "engine": "llamacpp",
                "model": {"id": "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF"},
                "runtime": {"context_length": 1024, "parallel": 1, "gpus": 1, "gpu_layers": "all"},
            }
        )
    )
    code, out, err = fit(
        str(spec), "--format", "json", "--offline", "--memory", "8G", "--gpu-memory", "8G"
    )
    assert code == 0, err
    found = dict(json.loads(out))
    gpu = device(found, "gpu0")["breakdown"]
    assert gpu["weights"] == 30 * per_layer + embeddings
    assert isinstance(gpu["weights"], int)
    assert device(found, "host")["breakdown"]["weights"] == total  # the file, mapped
    # ubatch min(512, 2048, 1024) = 512 tokens of activations and of float32 logits.
    assert gpu["compute"] == per_token * 512 + 4 * 49152 * 512


def test_offloaded_layers_and_output_have_no_host_repack(tmp_path: Path) -> None:
    # tests/fit/test_fit_repack.py's tied Q4_0 model: on AVX2 its matrices repack into a second
    # host copy, but only those left on the host (ggml-cpu repacks host buffers). With every
    # layer and the output on gpu0 nothing is repacked: the host holds the mapped file alone.
    from tests.fit.test_fit_repack import TIED

    model = write_shaped_gguf(tmp_path / "tied.gguf", TIED)
    options = ("--memory", "8G", "--gpu-memory", "8G", "--cpu-features", "avx2")
    found = report(
        tmp_path, model, *options, context_length=512, parallel=1, gpus=1, gpu_layers="all"
    )
    assert device(found, "host")["breakdown"]["weights"] == model.stat().st_size


def test_an_untied_model_repacks_its_host_matrices_only(tmp_path: Path) -> None:
    # The same shape untied: the output is its own Q4_0 matrix. On AVX2 ggml-cpu repacks the
    # Q4_0 matrices of 8-row multiples left on the host (ggml/src/ggml-cpu/repack.cpp); the
    # token embeddings stay mapped (get_rows) and there is no tied copy. With --gpu-layers 2,
    # blk.3 and the output go to gpu0 and only blk.0-2's matrices are repacked.
    from tests.fit.test_fit_repack import TIED, file_tensors

    shape = Shape(
        "untied-q4_0", vocab=2048, n_embd=256, n_layer=4, n_head=8, n_head_kv=2, n_ff=768,
        weight_type="Q4_0",
    )  # fmt: skip
    assert not shape.tied and TIED.tied
    model = write_shaped_gguf(tmp_path / "untied.gguf", shape)
    tensors = file_tensors(model)

    def repacked(prefixes: tuple[str, ...]) -> int:
        return sum(
            size
            for name, (kind, rows, size) in tensors.items()
            if kind == "Q4_0" and rows % 8 == 0 and name.startswith(prefixes)
        )

    options = ("--memory", "8G", "--gpu-memory", "8G", "--cpu-features", "avx2")
    cpu = report(tmp_path, model, *options, context_length=512, parallel=1)
    every = repacked(("blk.", "output."))
    assert device(cpu, "host")["breakdown"]["weights"] == model.stat().st_size + every
    gpu = report(tmp_path, model, *options, context_length=512, parallel=1, gpus=1, gpu_layers=2)
    host_layers = repacked(("blk.0.", "blk.1.", "blk.2."))
    assert device(gpu, "host")["breakdown"]["weights"] == model.stat().st_size + host_layers


def test_an_untied_hub_gguf_without_a_tensor_table_keeps_both_ends_out_of_the_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Llama-3.1-8B (untied) at IQ2_M, which quantize.cpp gives as 2.7 bits per weight and the
    # catalog has no tensor table for: 8,030,261,248 x 2.7 / 8 bytes; the embeddings and the
    # output (128256 x 4096 at the same bytes per parameter) each come off before the rest is
    # spread over the 32 layers. All of it is offloaded with the output.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    total = int(8_030_261_248 * 2.7 / 8)
    embeddings = int(128256 * 4096 * (total / 8_030_261_248))
    per_layer = (total - 2 * embeddings) // 32
    spec = tmp_path / "spec.yaml"
    model = {"id": "meta-llama/Llama-3.1-8B-Instruct-GGUF:IQ2_M"}
    runtime = {"context_length": 1024, "parallel": 1, "gpus": 1, "gpu_layers": "all"}
    spec.write_text(
        json.dumps({"name": "hub", "engine": "llamacpp", "model": model, "runtime": runtime})
    )
    code, out, err = fit(
        str(spec), "--format", "json", "--offline", "--memory", "64G", "--gpu-memory", "80G"
    )
    assert code == 0, err
    gpu = device(dict(json.loads(out)), "gpu0")["breakdown"]
    assert gpu["weights"] == 32 * per_layer + embeddings


def test_every_tensor_outside_the_layers_counts_without_mmap(tmp_path: Path) -> None:
    # A second tensor beside the token embeddings outside the layers (Llama 3's
    # `rope_freqs.weight`, 8 float32 values here): without mmap the host reads every tensor
    # once, this one included.
    import numpy as np

    original = gguf.GGUFWriter.add_tensor

    def with_rope_freqs(self: gguf.GGUFWriter, name: str, *args: Any, **kw: Any) -> None:
        original(self, name, *args, **kw)
        if name == "token_embd.weight":
            original(self, "rope_freqs.weight", np.ones(8, dtype=np.float32))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf.GGUFWriter, "add_tensor", with_rope_freqs)
        model = write_shaped_gguf(tmp_path / "rope.gguf", SHAPE)
    tensors = gguf.GGUFReader(str(model)).tensors
    assert "rope_freqs.weight" in [t.name for t in tensors]
    everything = sum(int(t.n_bytes) for t in tensors)
    extra = ["--load-mode", "none"]
    weights = host(tmp_path, model, context_length=1024, parallel=1, extra_args=extra)["weights"]
    assert weights == everything


def test_v_heads_of_another_size_set_the_v_cache(tmp_path: Path) -> None:
    # <arch>.attention.key_length 16 and value_length 32 (as MLA models write them): a cell of
    # one layer holds K 2 x 16 and V 2 x 32 values in f16: (32 + 64) x 2 = 192 bytes.
    original = gguf.GGUFWriter.add_embedding_length

    def with_head_sizes(self: gguf.GGUFWriter, length: int) -> None:
        original(self, length)
        self.add_key_length(16)
        self.add_value_length(32)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gguf.GGUFWriter, "add_embedding_length", with_head_sizes)
        model = write_shaped_gguf(tmp_path / "kv.gguf", SHAPE)
    kv = host(tmp_path, model, context_length=1024, parallel=1)["kv_cache"]
    assert kv == 1024 * 4 * (2 * 16 + 2 * 32) * 2


def test_no_preset_fix_for_a_weight_type_without_a_preset(tmp_path: Path) -> None:
    # Q4_K is a tensor type, not a quantize.cpp preset (Q4_K_S and Q4_K_M are): no smaller
    # preset can be offered, and nothing fails.
    shape = Shape(
        "q4k",
        vocab=2000,
        n_embd=256,
        n_layer=2,
        n_head=8,
        n_head_kv=2,
        n_ff=512,
        weight_type="Q4_K",
    )
    model = write_shaped_gguf(tmp_path / "q4k.gguf", shape)
    found = fix_values(tmp_path, model, "--memory", "1M", context_length=1024, parallel=1)
    assert found and [f for f in found if f[0] == "model.path"] == []


@pytest.mark.parametrize(
    ("gpu_layers", "host_compute"),
    [
        # All 4 layers and the output on gpu0: the host only looks up the token embeddings of
        # a ubatch (4 x hidden 128 x 512 tokens) beside the logits of 4 slots.
        ("all", 4 * 128 * 512 + LOGITS_PER_SLOT * 4),
        # blk.0 stays on the host (4 of layers + output offloaded): it computes a layer's
        # activations for the ubatch.
        (4, ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT * 4),
    ],
)
def test_the_host_computes_only_what_stays_on_it(
    tmp_path: Path, model: Path, gpu_layers: Any, host_compute: int
) -> None:
    runtime = {**GPU_SHORT, "gpu_layers": gpu_layers}
    found = report(tmp_path, model, "--memory", "8G", "--gpu-memory", "8G", **runtime)
    assert device(found, "host")["breakdown"]["compute"] == host_compute


@pytest.mark.parametrize(("cache_ram", "counted"), [("1", 1 * MIB), ("0", 0)])
def test_the_prompt_cache_counts_at_its_bound(
    tmp_path: Path, model: Path, cache_ram: str, counted: int
) -> None:
    # --cache-ram N MiB bounds llama-server's prompt cache (the model has no sliding window, so
    # no context checkpoints); 0 turns it off.
    runtime = {"context_length": 1024, "parallel": 1, "extra_args": ["--cache-ram", cache_ram]}
    assert host(tmp_path, model, **runtime)["prompt_cache"] == counted


def test_the_device_most_over_its_budget_is_the_one_fixed(tmp_path: Path, model: Path) -> None:
    # host 314.7 MiB on 300M (14.7 MiB over), gpu0 416.7 MiB on 410M (6.7 MiB over): the host
    # is fixed, though gpu0's estimate (and estimate + budget) is the larger. On the host only
    # the slots' logits shrink with parallel: 2 slots x 2000 x 4 bytes; nothing is enough while
    # gpu0 stays short.
    options = ("--memory", "300M", "--gpu-memory", "410M")
    assert fix_values(tmp_path, model, *options, **GPU_SHORT) == [
        ("runtime.parallel", 4, 2, 2 * LOGITS_PER_SLOT, "host")
    ]
    assert fix_lines(tmp_path, model, *options, **GPU_SHORT) == [
        "parallel 4 -> 2 saves 15.6 KiB (not enough alone) (host)"
    ]


def test_a_gpu_without_a_budget_does_not_block_a_host_fix(tmp_path: Path, model: Path) -> None:
    # gpu_layers 0: the host holds 16384 cells x 4 layers x 128 = 8 MiB of KV, 325.7 MiB in all
    # on 320M; gpu0 (no budget) is unknown, which a fix may leave so. parallel 4 -> 1 saves 6 MiB
    # of KV and 3 slots' logits (enough; 2 would save 4 MiB); context 4096 -> 1024 saves 6 MiB.
    runtime = {"context_length": 4096, "parallel": 4, "gpus": 1, "gpu_layers": 0}
    assert fix_values(tmp_path, model, "--memory", "320M", **runtime) == [
        ("runtime.parallel", 4, 1, 12288 * 4 * CELL + 3 * LOGITS_PER_SLOT, "host"),
        ("runtime.context_length", 4096, 1024, 12288 * 4 * CELL, "host"),
        (
            "runtime.extra_args",
            "f16 KV cache",
            "--cache-type-k q8_0 --cache-type-v q8_0",
            8 * MIB * 30 // 64,
            "host",
        ),
    ]


def test_a_tight_host_is_fixed_to_fit_with_room(tmp_path: Path, model: Path) -> None:
    # 32768 x 8 slots: 262144 cells x 4 x 128 = 128 MiB of KV, 145.7 MiB on 150M: tight (over
    # 90 %). A fix must bring it under 135 MiB: q8_0 (128 x 30/64 = 60 MiB), 4 slots or 16384
    # tokens (64 MiB each) do, each alone.
    assert fix_lines(tmp_path, model, "--memory", "150M", context_length=32768, parallel=8) == [
        "KV cache q8_0 instead of f16 saves 60.0 MiB (extra_args: --cache-type-k q8_0 "
        "--cache-type-v q8_0) (host)",
        "parallel 8 -> 4 saves 64.0 MiB (host)",
        "context_length 32768 -> 16384 saves 64.0 MiB (host)",
    ]


# --- vLLM and TGI on a GPU, with Llama 3.1 8B's published config -----------------------------
# meta-llama/Llama-3.1-8B config.json (llmgen's catalog quotes it): 32 layers, hidden 4096,
# 8 KV heads of 128, vocabulary 128256, bfloat16; 8030261248 parameters, 2 bytes each.
# fit/hf_engines.py's sizing (vLLM's profiling pass, gpu_worker.py): activations of
# 2 bytes x (4 x hidden + 2 x 4 x hidden) per batched token, divided across the GPUs, plus
# float32 logits for the sequences; the CUDA context (600 MiB) and, unless eager, CUDA graphs
# (512 MiB); a sequence's KV is 32 layers x K and V x 8 heads x 128 x 2 bytes per token.

LLAMA_WEIGHTS = 8030261248 * 2
PER_TOKEN = 2 * (4 * 4096 + 2 * 4 * 4096)  # 98304 bytes of activations per batched token
LOGITS = 4 * 128256  # one sequence's float32 logits
KV_PER_TOKEN = 32 * 2 * 8 * 128 * 2  # 131072 bytes


def llama(tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch, **runtime: Any) -> Path:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    lines = ["name: demo", f"engine: {engine}", "model:", "  id: meta-llama/Llama-3.1-8B-Instruct"]
    lines += ["runtime:", "  gpus: 1", "  context_length: 8192"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in runtime.items()]
    spec = tmp_path / "spec.yaml"
    spec.write_text("\n".join(lines) + "\n")
    return spec


def gpu_report(spec: Path, *options: str) -> dict[str, Any]:
    code, out, err = fit(str(spec), "--format", "json", "--offline", "--memory", "64G", *options)
    assert code in (0, 1), err
    return dict(json.loads(out))


def test_a_cpu_kv_cache_size_is_halved_until_it_fits_with_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vLLM on CPU with kv_cache_memory 1G, on a budget equal to its own estimate: tight (above
    # 90 %), so the fix must leave room. 512M takes 512 MiB off, which is more than 10 % of any
    # estimate under 5 GiB (SmolLM2-135M's weights are 0.27 GB): the first halving is enough.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-135M-Instruct\n"
        "runtime:\n  kv_cache_memory: 1G\n"
    )

    def run_on(memory: str) -> dict[str, Any]:
        code, out, err = fit(str(spec), "--memory", memory, "--format", "json", "--offline")
        assert code in (0, 1), err
        return dict(json.loads(out))

    # The estimate is read only to place the budget.
    estimate = device(run_on("64G"), "host")["estimate_bytes"]
    assert estimate < 5 << 30
    found = run_on(str(estimate))
    assert found["verdict"] == "tight"
    # The only other fix: parallel 4 -> 2 drops two sequences' float32 logits of SmolLM2's
    # 49,152-token vocabulary, not enough alone; a shorter context saves nothing while the KV
    # size is given.
    fixes = [
        (f["field"], f["from"], f["to"], f["saves_bytes"], f["device"]) for f in found["fixes"]
    ]
    assert fixes == [
        ("runtime.kv_cache_memory", "1G", "512M", 512 * MIB, "host"),
        ("runtime.parallel", 4, 2, 2 * 4 * 49152, "host"),
    ]


def test_a_cpu_kv_cache_size_at_its_floor_is_halved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # kv_cache_memory 128M: 64M is the floor of the halving (64 MiB), offered though not enough
    # alone (64 MiB is under 10 % of the ~1.7 GiB estimate the budget equals).
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-135M-Instruct\n"
        "runtime:\n  kv_cache_memory: 128M\n"
    )
    code, out, err = fit(str(spec), "--memory", "64G", "--format", "json", "--offline")
    estimate = device(dict(json.loads(out)), "host")["estimate_bytes"]  # places the budget
    code, out, err = fit(str(spec), "--memory", str(estimate), "--format", "json", "--offline")
    assert code in (0, 1), err
    fixes = [
        (f["field"], f["from"], f["to"], f["saves_bytes"], f["device"])
        for f in json.loads(out)["fixes"]
    ]
    assert fixes == [
        ("runtime.parallel", 4, 2, 2 * 4 * 49152, "host"),
        ("runtime.kv_cache_memory", "128M", "64M", 64 * MIB, "host"),
    ]
    # A budget on which 32M would leave room and 64M would not: 90 % of it is the estimate less
    # 80 MiB. The halving still stops at its 64 MiB floor (one halving, not enough alone).
    budget = int((estimate - 80 * MIB) / 0.9)
    code, out, err = fit(str(spec), "--memory", str(budget), "--offline")
    assert code in (0, 1), err
    (line,) = [line.strip() for line in out.splitlines() if "kv_cache_memory" in line]
    assert line == "kv_cache_memory 128M -> 64M saves 64.0 MiB (not enough alone) (host)"


def test_an_unset_cpu_kv_size_is_offered_in_whole_64_mib(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SmolLM2-360M: 32 layers x K and V x 5 KV heads x 64 x 2 bytes = 40960 bytes a token;
    # 16 x 8192 tokens = 5120 MiB, whole 64 MiB (80 of them).
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-360M-Instruct\n"
        "runtime:\n  context_length: 8192\n  parallel: 16\n"
    )
    code, out, err = fit(str(spec), "--memory", "16G", "--offline")
    assert code in (0, 1), err
    (line,) = [line for line in out.splitlines() if "kv_cache_memory" in line]
    assert line.strip().startswith(
        "kv_cache_memory unset (92% of RAM) -> 5120M for 16 x 8192 tokens, saves "
    )


def test_vllm_fixes_count_what_it_needs_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a 12 GiB GPU even the least vLLM starts with (weights, one 8192-token sequence's KV,
    # the profiling pass, CUDA) does not fit, so each fix is worth what it takes off that least:
    # - gpus 1 -> 2: half the weights, half the KV heads, half the activations per token;
    # - parallel 4 -> 2: two sequences' logits only (the KV cache takes what is left);
    # - context 8192 -> 4096: half of one sequence's KV.
    spec = llama(tmp_path, "vllm", monkeypatch)
    found = gpu_report(spec, "--gpu-memory", "12G")
    assert found["verdict"] == "does-not-fit"
    gpus = LLAMA_WEIGHTS // 2 + KV_PER_TOKEN * 8192 // 2 + PER_TOKEN // 2 * 2048
    assert [(f["field"], f["from"], f["to"], f["saves_bytes"]) for f in found["fixes"]] == [
        ("runtime.gpus", 1, 2, gpus),
        ("runtime.parallel", 4, 2, 2 * LOGITS),
        ("runtime.context_length", 8192, 4096, KV_PER_TOKEN * 4096),
    ]


def test_vllm_s_gpus_fix_in_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first fix of the test above, as the text report words it (enough alone).
    spec = llama(tmp_path, "vllm", monkeypatch)
    saves = LLAMA_WEIGHTS // 2 + KV_PER_TOKEN * 8192 // 2 + PER_TOKEN // 2 * 2048
    code, out, err = fit(str(spec), "--offline", "--memory", "64G", "--gpu-memory", "12G")
    assert code == 1, err
    expected = (
        f"gpus 1 -> 2 (tensor parallel) halves the weights per GPU, saves {saves / 2**30:.1f} "
        "GiB (gpu0)"
    )
    assert expected in [line.strip() for line in out.splitlines()]


def test_vllm_halves_two_sequences_to_one_and_512_tokens_to_the_floor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fixes' floors: parallel 2 -> 1 (one sequence's logits) and context 512 -> 256 (half
    # of one sequence's KV at the least vLLM starts with), as in the test above.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: meta-llama/Llama-3.1-8B-Instruct\n"
        "runtime:\n  gpus: 1\n  context_length: 512\n  parallel: 2\n"
    )
    found = gpu_report(spec, "--gpu-memory", "12G")
    assert found["verdict"] == "does-not-fit"
    gpus = LLAMA_WEIGHTS // 2 + KV_PER_TOKEN * 512 // 2 + PER_TOKEN // 2 * 2048
    assert [(f["field"], f["from"], f["to"], f["saves_bytes"]) for f in found["fixes"]] == [
        ("runtime.gpus", 1, 2, gpus),
        ("runtime.parallel", 2, 1, LOGITS),
        ("runtime.context_length", 512, 256, KV_PER_TOKEN * 256),
    ]


@pytest.mark.parametrize(
    ("engine", "runtime", "batched", "overhead_mib"),
    [
        # vLLM 0.34.0 with no batch_size: 2048 batched tokens (the default the effective
        # configuration holds for it, docs/effective-config.md), CUDA graphs.
        ("vllm", {}, 2048, 600 + 512),
        ("vllm", {"batch_size": 8192}, 8192, 600 + 512),
        # --enforce-eager: no CUDA graphs.
        ("vllm", {"enforce_eager": True}, 2048, 600),
        # TGI: the launcher computes --max-batch-prefill-tokens, 4096 for most models
        # (../shared/engines/tgi-3.3.7-flags.tsv); no eager knob
        # in fit: graphs counted.
        ("tgi", {}, 4096, 600 + 512),
    ],
)
def test_the_gpu_compute_and_overhead_follow_the_batch_and_eager(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    engine: str,
    runtime: dict[str, Any],
    batched: int,
    overhead_mib: int,
) -> None:
    spec = llama(tmp_path, engine, monkeypatch, **runtime)
    gpu = device(gpu_report(spec, "--gpu-memory", "80G"), "gpu0")["breakdown"]
    assert gpu["compute"] == PER_TOKEN * batched + LOGITS * 4  # 4 sequences' logits
    assert gpu["overhead"] == overhead_mib * MIB


# --- fit_spec on its own, and the reports without an estimate --------------------------------


def test_fit_spec_alone_reads_the_spec_and_never_asks_the_hub(
    tmp_path: Path, model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the analysis' configuration and facts, fit_spec builds both itself; without
    # `online` it must not ask the hub: a closed loopback port stands for it, with an empty
    # cache, so asking would fail with another reason than "not asked".
    import socket

    from llmgen.fit.run import fit_spec
    from llmgen.rules.analysis import validate_text

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    unknown = "name: demo\nengine: vllm\nmodel:\n  id: nobody-here/not-a-model\n"
    found = fit_spec(validate_text(unknown + "runtime:\n  kv_cache_memory: 1G\n").spec)
    assert found.notes == (
        "unknown model: 'nobody-here/not-a-model' is not in the Hugging Face cache nor in "
        "llmgen's catalog, and the hub was not asked (offline)",
    )
    known = validate_text(write_spec(tmp_path, model, context_length=1024).read_text()).spec
    report = fit_spec(known, memory="8G", cpu_features=frozenset({"avx2"}))
    (host_device,) = report.devices
    # 1024 tokens x 4 slots (the default parallel): 4096 cells x 4 layers x 128 bytes.
    assert host_device.breakdown.kv_cache == 4096 * 4 * CELL


def test_missing_facts_are_named_one_by_one(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"num_hidden_layers": 4}))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: demo\nengine: vllm\nmodel:\n  path: {folder}\nruntime:\n  kv_cache_memory: 1G\n"
    )
    code, out, _ = fit(str(spec), "--memory", "8G", "--offline")
    assert code == 0
    assert [line for line in out.splitlines() if line.startswith("note: ")] == [
        f"note: {folder}/config.json does not give the weights' size, the attention heads, the "
        "head size; no estimate"
    ]


def test_the_v_cache_type_sets_its_bytes_too(tmp_path: Path, model: Path) -> None:
    # 1024 cells x 4 layers x 32 values each for K and V: K in q8_0 (34 bytes per 32 values),
    # V in q4_0 (18 bytes per 32 values), ggml/src/ggml-common.h.
    values = 1024 * 4 * 32
    extra = ["-ctk", "q8_0", "-ctv", "q4_0"]
    kv = host(tmp_path, model, context_length=1024, parallel=1, extra_args=extra)["kv_cache"]
    assert kv == values * 34 // 32 + values * 18 // 32


@pytest.mark.parametrize("mode", ["none", "dio"])
def test_without_mmap_the_host_reads_each_tensor_once(
    tmp_path: Path, model: Path, mode: str
) -> None:
    # --load-mode none/dio reads the tensors into buffers (src/llama-model-loader.cpp,
    # load_all_data) instead of mapping the whole file: the tensors' bytes, not the file's
    # (an F16 model repacks nothing).
    everything = sum(int(t.n_bytes) for t in gguf.GGUFReader(str(model)).tensors)
    extra = ["--load-mode", mode]
    weights = host(tmp_path, model, context_length=1024, parallel=1, extra_args=extra)["weights"]
    assert weights == everything < model.stat().st_size


@pytest.mark.parametrize(
    ("checkpoints", "parallel", "cells_saved"),
    [("0", 1, 0), ("1", 1, 1024), ("2", 1, 2 * 1024), ("2", 2, 2 * 2 * 1024)],
)
def test_context_checkpoints_count_per_slot_at_their_bound(
    tmp_path: Path, windowed: Path, checkpoints: str, parallel: int, cells_saved: int
) -> None:
    # Each checkpoint saves the sliding-window layers' cache of one slot
    # (tools/server/server-context.cpp, do_checkpoint): min(2048, 300 + 512) -> 1024 cells for
    # each of the 4 layers, 128 bytes a cell, for every slot; --ctx-checkpoints 0 saves none.
    extra = ["--ctx-checkpoints", checkpoints]
    found = host(tmp_path, windowed, context_length=2048, parallel=parallel, extra_args=extra)
    assert found["prompt_cache"] == cells_saved * 4 * CELL


def test_the_host_estimate_for_kubernetes_is_the_whole_host_total(
    tmp_path: Path, model: Path
) -> None:
    # What render/kube.py sizes a pod with: the mapped file, 1024 cells x 4 layers x 128 bytes
    # of KV, 512 tokens of activations and one slot's logits, 12 MiB + 155 bytes x 2000 entries.
    from llmgen.facts.resolve import local_facts
    from llmgen.fit.llamacpp import host_estimate_bytes
    from llmgen.rules.analysis import validate_text

    spec = validate_text(write_spec(tmp_path, model, context_length=1024, parallel=1).read_text())
    facts = local_facts(str(model))
    assert facts is not None
    expected = model.stat().st_size + 1024 * 4 * CELL
    expected += ACTIVATIONS_PER_TOKEN * 512 + LOGITS_PER_SLOT + (12 << 20) + 155 * 2000
    assert host_estimate_bytes(facts, spec.config, 0) == expected


def test_a_tight_host_beside_a_gpu_without_a_budget_is_fixed_to_fit(
    tmp_path: Path, model: Path
) -> None:
    # gpu_layers 0 keeps everything on the host: 32768 x 4 slots = 131072 cells x 4 x 128
    # = 64 MiB of KV, about 382 MiB in all on 400M: tight. Room means under 360 MiB: q8_0 saves
    # 64 x 30/64 = 30 MiB, 2 slots or 16384 tokens 32 MiB; gpu0 (no budget) stays unknown,
    # which a fix with room may leave so.
    runtime = {"context_length": 32768, "parallel": 4, "gpus": 1, "gpu_layers": 0}
    assert fix_lines(tmp_path, model, "--memory", "400M", **runtime) == [
        "KV cache q8_0 instead of f16 saves 30.0 MiB (extra_args: --cache-type-k q8_0 "
        "--cache-type-v q8_0) (host)",
        "parallel 4 -> 2 saves 32.0 MiB (host)",
        "context_length 32768 -> 16384 saves 32.0 MiB (host)",
    ]


@pytest.mark.parametrize(("gpu_layers", "prefixes"), [(0, ()), (1, ("output.", "output_norm"))])
def test_the_first_offloaded_layer_is_the_output(
    tmp_path: Path, model: Path, gpu_layers: int, prefixes: tuple[str, ...]
) -> None:
    # src/llama-model.cpp: i_gpu_start = n_layer + 1 - n_gpu_layers, the output layer counting
    # as layer n_layer: --gpu-layers 1 offloads the output alone, 0 nothing.
    options = ("--memory", "8G", "--gpu-memory", "8G")
    runtime = {"context_length": 1024, "parallel": 1, "gpus": 1, "gpu_layers": gpu_layers}
    gpu = device(report(tmp_path, model, *options, **runtime), "gpu0")["breakdown"]
    assert gpu["weights"] == (layer_bytes(model, *prefixes) if prefixes else 0)
    assert gpu["kv_cache"] == 0  # no repeating layer on the GPU, so no KV there


def test_a_smaller_batch_caps_the_ubatch(tmp_path: Path, model: Path) -> None:
    # runtime.batch_size 256 renders --batch-size 256: n_ubatch = min(n_batch, 512) = 256
    # tokens of activations (src/llama-context.cpp:248-250), plus one slot's logits.
    breakdown = host(tmp_path, model, context_length=1024, parallel=1, batch_size=256)
    assert breakdown["compute"] == ACTIVATIONS_PER_TOKEN * 256 + LOGITS_PER_SLOT
