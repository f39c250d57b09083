"""Sliding-window KV cache per architecture, as llama.cpp b11434's loaders decide it.

Expected cells come from the source, written out here:
- src/models/gemma2.cpp `load_swa_pattern(ml, 2)`, gemma3.cpp `load_swa_pattern(ml, 6)`, and
  src/llama-hparams.cpp `set_swa_pattern`: layer il slides when il % n < n - 1.
- src/models/phi3.cpp: "Phi SWA is currently disabled" (n_swa = 0): every layer is global.
- An architecture whose loader never reads the window (llama) keeps every layer global.
- src/llama-model.cpp `load_swa_pattern`: a `<arch>.attention.sliding_window_pattern` bool array
  in the GGUF replaces the period.
- src/llama-kv-cache-iswa.cpp: a sliding layer keeps pad(min(n_ctx_seq, n_swa + n_ubatch), 256)
  cells per slot; a global one n_ctx_seq (src/llama-context.cpp pads it to 256).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main


def kv_bytes(tmp_path: Path, model: dict[str, str], context: int, parallel: int = 1) -> int:
    spec = {
        "name": "swa",
        "engine": "llamacpp",
        "model": model,
        "runtime": {"context_length": context, "parallel": parallel},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), "utf-8")
    result = CliRunner().invoke(
        main, ["fit", str(path), "--offline", "--memory", "512G", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (host,) = json.loads(result.stdout)["devices"]
    value = host["breakdown"]["kv_cache"]
    assert isinstance(value, int)
    return value


def test_gemma2_slides_every_other_layer(tmp_path: Path) -> None:
    # gemma-2-2b: 26 layers, 4 KV heads of 256, window 4096; 8192 cells per slot.
    per_cell = 2 * 4 * 256 * 2
    sliding = 13 * min(8192, 4096 + 512) * per_cell
    global_ = 13 * 8192 * per_cell
    got = kv_bytes(tmp_path, {"id": "google/gemma-2-2b-it-GGUF:Q8_0"}, 8192)
    assert got == sliding + global_


def test_gemma3_has_five_sliding_layers_per_global_one(tmp_path: Path) -> None:
    # gemma-3-1b: 26 layers (5, 11, 17, 23 global), 1 KV head of 256, window 512.
    per_cell = 2 * 1 * 256 * 2
    expected = 22 * 1024 * per_cell + 4 * 8192 * per_cell
    assert kv_bytes(tmp_path, {"id": "google/gemma-3-1b-it-GGUF:Q8_0"}, 8192) == expected


def test_phi3_s_window_is_disabled_so_every_layer_is_global(tmp_path: Path) -> None:
    # Phi-3-mini: 32 layers, 32 KV heads of 96; config.json has sliding_window 2047.
    expected = 32 * 4096 * 2 * 32 * 96 * 2
    got = kv_bytes(tmp_path, {"id": "microsoft/Phi-3-mini-4k-instruct-GGUF:Q8_0"}, 4096)
    assert got == expected


def write_gguf(path: Path, arch: str, pattern: list[bool] | None) -> Path:
    """A header-only-sized GGUF: fit reads its metadata and tensor table, never runs it."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_context_length(8192)
    writer.add_embedding_length(64)
    writer.add_block_count(4)
    writer.add_feed_forward_length(128)
    writer.add_head_count(2)
    writer.add_head_count_kv(1)
    writer.add_key_length(32)
    writer.add_value_length(32)
    writer.add_sliding_window(512)
    if pattern is not None:
        writer.add_array(f"{arch}.attention.sliding_window_pattern", pattern)
    writer.add_tensor("token_embd.weight", np.zeros((300, 64), dtype=np.float16))
    for index in range(4):
        writer.add_tensor(f"blk.{index}.attn_q.weight", np.zeros((64, 64), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_gguf_s_own_pattern_decides_and_llama_ignores_the_window(tmp_path: Path) -> None:
    per_cell = 2 * 1 * 32 * 2  # K and V, 1 KV head of 32, f16
    own = write_gguf(tmp_path / "g3.gguf", "gemma3", [True, False, False, True])
    # Two sliding layers of pad(min(8192, 512 + 512), 256) cells, two global of 8192.
    expected = (2 * 1024 + 2 * 8192) * per_cell
    assert kv_bytes(tmp_path, {"path": str(own)}, 8192) == expected
    period = write_gguf(tmp_path / "g3p.gguf", "gemma3", None)
    # The period 6: layers 0-3 all slide.
    assert kv_bytes(tmp_path, {"path": str(period)}, 8192) == 4 * 1024 * per_cell
    llama = write_gguf(tmp_path / "llama.gguf", "llama", None)
    assert kv_bytes(tmp_path, {"path": str(llama)}, 8192) == 4 * 8192 * per_cell
