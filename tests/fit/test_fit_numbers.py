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

from tests.fit.test_fit import SHAPE, fit, write_spec
from tests.support.gguf_shapes import write_shaped_gguf

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
