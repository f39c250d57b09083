"""`llmgen fit` for TGI follows the spec's release: TGI_WIGGLE_ROOM's default moved.

server/text_generation_server/models/globals.py at each tag: `TGI_WIGGLE_ROOM =
float(os.getenv("TGI_WIGGLE_ROOM", ...))` is "0.95" at v3.0.2 (:31), "0.93" at v3.1.1 and
v3.2.3 (:31), "0.90" at v3.3.7 (:32); flash_causal_lm.py `warmup` gives the KV blocks the free
memory within MEMORY_FRACTION * TGI_WIGGLE_ROOM (v3.0.2 :1585, v3.1.1 :1593, v3.2.3 and
v3.3.7 :1556), so the memory a deployment's KV cache needs is its bytes / TGI_WIGGLE_ROOM.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main

WIGGLE_ROOM = {"3.0.2": 0.95, "3.1.1": 0.93, "3.2.3": 0.93, "3.3.7": 0.90}
# HuggingFaceTB/SmolLM2-360M (its config.json): 32 layers, 5 KV heads of 64, bfloat16.
KV_PER_TOKEN = 32 * 2 * 5 * 64 * 2  # K and V, every layer, 2 bytes: 40960 bytes
CONTEXT, PARALLEL = 4096, 4


@pytest.mark.parametrize(("release", "share"), WIGGLE_ROOM.items())
def test_the_kv_cache_counts_the_wiggle_room_of_the_release(
    release: str, share: float, tmp_path: Path
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "demo",
                "engine": "tgi",
                "engine_version": release,
                "model": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
                "runtime": {"gpus": 1, "context_length": CONTEXT, "parallel": PARALLEL},
            }
        ),
        "utf-8",
    )
    result = CliRunner().invoke(main, ["fit", str(spec), "--gpu-memory", "24G", "--format", "json"])
    assert result.exit_code == 0, result.output
    gpu = next(d for d in json.loads(result.stdout)["devices"] if d["name"] == "gpu0")
    assert gpu["breakdown"]["kv_cache"] == int(KV_PER_TOKEN * CONTEXT * PARALLEL / share)
