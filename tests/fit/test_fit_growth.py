"""What grows under traffic: llama-server's prompt cache and context checkpoints.

Expected values come from llama.cpp b11434's source, not from fit:
- common/common.h: `cache_ram_mib = 8192` (-1 no limit, 0 off); tools/server/server-task.h:
  `limit_size = 1024ull*1024ull*limit_size_mib`, and server_prompt_cache::alloc/update
  (tools/server/server-task.cpp) evict the oldest states until the cache fits the limit.
- tools/server/server-context.cpp `do_checkpoint`: models with sliding-window layers keep up to
  `--ctx-checkpoints` (32) partial states per slot, each the sequence's window-layer KV.
- src/llama-model.cpp (LLM_ARCH_GEMMA3): `hparams.set_swa_pattern(6)`, five sliding layers
  then one global; src/llama-kv-cache-iswa.cpp sizes the window cache
  pad(min(n_ctx_seq, n_swa + n_ubatch), 256) cells per slot.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main

MIB = 1 << 20
GIB = 1 << 30
SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0"
GEMMA = "google/gemma-3-1b-it-GGUF:Q8_0"


def spec_file(tmp_path: Path, model_id: str, extra_args: list[str], **runtime: object) -> Path:
    spec = {
        "name": "grow",
        "engine": "llamacpp",
        "model": {"id": model_id},
        "runtime": {"context_length": 4096, "parallel": 2, **runtime, "extra_args": extra_args},
    }
    path = tmp_path / f"spec-{len(list(tmp_path.glob('spec-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return path


def host(path: Path) -> dict[str, int]:
    result = CliRunner().invoke(
        main, ["fit", str(path), "--offline", "--memory", "64G", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (device,) = json.loads(result.stdout)["devices"]
    assert isinstance(device["breakdown"], dict)
    return {"total": device["estimate_bytes"], **device["breakdown"]}


def pod_memory(tmp_path: Path, path: Path) -> int:
    out = tmp_path / f"out-{path.stem}"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    docs = list(yaml.safe_load_all((out / "kubernetes.yaml").read_text("utf-8")))
    pod = next(d for d in docs if d and d["kind"] in ("Deployment", "StatefulSet"))
    resources = pod["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"]["memory"] == resources["requests"]["memory"]
    value = str(resources["limits"]["memory"])
    assert value.endswith("Gi")
    return int(value[:-2]) * GIB


def test_the_prompt_cache_is_rendered_off_and_counts_nothing(tmp_path: Path) -> None:
    path = spec_file(tmp_path, SMOL, [])
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    launch = (tmp_path / "out" / "launch.sh").read_text("utf-8")
    assert "--cache-ram 0" in launch
    assert host(path)["prompt_cache"] == 0


def test_a_given_cache_ram_is_the_bound_fit_and_the_pod_count(tmp_path: Path) -> None:
    off = host(spec_file(tmp_path, SMOL, []))
    on_path = spec_file(tmp_path, SMOL, ["--cache-ram", "2048"])
    on = host(on_path)
    assert on["prompt_cache"] == 2048 * MIB
    assert on["total"] - off["total"] == 2048 * MIB
    launch_off = pod_memory(tmp_path, spec_file(tmp_path, SMOL, []))
    launch_on = pod_memory(tmp_path, on_path)
    # The pod's limit grows by at least the bound (plus fit's margin, whole GiB).
    assert launch_on - launch_off >= 2 * GIB


def test_an_unbounded_cache_is_named_not_counted(tmp_path: Path) -> None:
    path = spec_file(tmp_path, SMOL, ["--cache-ram", "-1"])
    result = CliRunner().invoke(main, ["fit", str(path), "--offline", "--memory", "64G"])
    assert result.exit_code == 0, result.output
    assert "--cache-ram -1: llama-server's prompt cache has no limit" in result.stdout


def test_sliding_window_checkpoints_are_counted_at_their_bound(tmp_path: Path) -> None:
    # gemma-3-1b: 26 layers, 1 KV head of 256, window 512 (config.json). Layers 5, 11, 17, 23
    # are global, 22 slide; a slot of 4096 cells keeps pad(min(4096, 512 + 512), 256) = 1024
    # window cells; one cell of one layer is K + V = 2 x 256 x 2 bytes (f16).
    checkpoint = 22 * 1024 * 2 * 256 * 2
    both = host(spec_file(tmp_path, GEMMA, []))
    assert both["prompt_cache"] == 32 * 2 * checkpoint
    fewer = host(spec_file(tmp_path, GEMMA, ["--ctx-checkpoints", "4"]))
    assert fewer["prompt_cache"] == 4 * 2 * checkpoint
    assert host(spec_file(tmp_path, GEMMA, ["--swa-full"]))["prompt_cache"] == 0
    assert math.isclose(both["total"] - fewer["total"], 28 * 2 * checkpoint)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_spec_that_does_not_load_exits_2_with_one_line(tmp_path: Path, fmt: str) -> None:
    path = spec_file(tmp_path, SMOL, ["--cache-ram", "lots"])
    result = CliRunner().invoke(main, ["fit", str(path), "--offline", "--format", fmt])
    assert result.exit_code == 2
    assert "invalid value 'lots' for '--cache-ram'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    if fmt == "json":
        report = json.loads(result.stdout)
        assert report["verdict"] is None and report["error"]["kind"] == "spec"
        assert report["error"]["diagnostics"][0]["path"] == "runtime.extra_args.1"
    else:
        assert result.stdout == ""


def test_a_missing_spec_and_a_bad_size_exit_2(tmp_path: Path) -> None:
    missing = CliRunner().invoke(main, ["fit", str(tmp_path / "nope.yaml"), "--format", "json"])
    assert missing.exit_code == 2 and json.loads(missing.stdout)["error"]["kind"] == "spec"
    path = spec_file(tmp_path, SMOL, [])
    bad = CliRunner().invoke(main, ["fit", str(path), "--memory", "x", "--format", "json"])
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["error"]["message"].startswith("--memory: 'x' is not a size")
