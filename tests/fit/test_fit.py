"""`llmgen fit`: the JSON contract, exit codes, verdicts, fixes, and the `hardware:` check.

The expected sizes come from outside fit: the file on disk, llama.cpp's KV sizing as its source
states it (src/llama-context.cpp rounds --ctx-size to 256 per slot; src/llama-kv-cache.cpp keeps
K and V of kv_heads x head_size in f16 per layer and cell), the spec's own kv_cache_memory.
The estimates measured against the real llama-server are in tests/fit/test_fit_engine.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_text
from tests.support.gguf_shapes import Shape, write_shaped_gguf

SHAPE = Shape("gqa", vocab=2000, n_embd=128, n_layer=4, n_head=8, n_head_kv=2, n_ff=256)
MIB = 1 << 20


@pytest.fixture(scope="module")
def gguf_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("fit") / "gqa.gguf", SHAPE)


def write_spec(folder: Path, model: Path, extra: str = "", **runtime: object) -> Path:
    lines = ["name: demo", "engine: llamacpp", "model:", f"  path: {model}", "runtime:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in runtime.items()]
    path = folder / "spec.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def fit(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["fit", *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_json_contract(tmp_path: Path, gguf_model: Path) -> None:
    spec = write_spec(tmp_path, gguf_model, context_length=1000, parallel=3)
    code, out, _ = fit(str(spec), "--memory", "8G", "--format", "json", "--offline")
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"engine", "model", "devices", "verdict", "fixes", "cpu_features"}
    assert report["engine"] == "llamacpp" and report["verdict"] == "fits"
    assert report["model"]["source"] == str(gguf_model)
    assert report["model"]["layers"] == SHAPE.n_layer
    (host,) = report["devices"]
    assert set(host) == {"name", "estimate_bytes", "budget_bytes", "breakdown"}
    assert host["name"] == "host" and host["budget_bytes"] == 8 << 30
    assert set(host["breakdown"]) == {"weights", "kv_cache", "compute", "overhead", "prompt_cache"}
    assert host["estimate_bytes"] == sum(host["breakdown"].values())
    # mmap maps the whole file.
    assert host["breakdown"]["weights"] == gguf_model.stat().st_size
    # 1000 tokens x 3 slots = 3000, rounded to 256 per slot: 1024 x 3 cells; K and V of
    # 2 KV heads x 16 in f16 for 4 layers.
    assert host["breakdown"]["kv_cache"] == 1024 * 3 * 4 * 2 * (2 * 16) * 2
    assert report["fixes"] == []


def test_does_not_fit_exits_1_with_ranked_fixes(tmp_path: Path, gguf_model: Path) -> None:
    spec = write_spec(tmp_path, gguf_model, context_length=32768, parallel=8)
    code, out, _ = fit(str(spec), "--memory", "100M", "--format", "json", "--offline")
    assert code == 1
    report = json.loads(out)
    assert report["verdict"] == "does-not-fit"
    fields = [f["field"] for f in report["fixes"]]
    assert "runtime.context_length" in fields and "runtime.parallel" in fields
    for fix in report["fixes"]:
        assert set(fix) == {"field", "from", "to", "saves_bytes", "device"}
        assert fix["saves_bytes"] > 0 and fix["device"] == "host"
    context = next(f for f in report["fixes"] if f["field"] == "runtime.context_length")
    assert context["from"] == 32768 and context["to"] < 32768
    # Applying the context fix really fits: the same budget, the fixed spec.
    fixed = write_spec(tmp_path, gguf_model, context_length=context["to"], parallel=8)
    assert fit(str(fixed), "--memory", "100M", "--offline")[0] == 0


def test_text_report_names_devices_verdict_and_fixes(tmp_path: Path, gguf_model: Path) -> None:
    spec = write_spec(tmp_path, gguf_model, context_length=32768, parallel=8)
    code, out, _ = fit(str(spec), "--memory", "100M", "--offline")
    assert code == 1
    assert "host" in out and "verdict: does-not-fit" in out
    assert "context_length 32768 -> " in out and " saves " in out


def test_usage_errors_exit_2(tmp_path: Path, gguf_model: Path) -> None:
    spec = write_spec(tmp_path, gguf_model)
    code, _, err = fit(str(spec), "--gpu-memory", "lots")
    assert code == 2 and "--gpu-memory: 'lots' is not a size" in err
    assert fit(str(spec), "--format", "yaml")[0] == 2


def test_unknown_model_is_unknown_not_a_guess(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: demo\nengine: vllm\nmodel:\n  id: acme/mystery-model\n")
    code, out, _ = fit(str(spec), "--format", "json", "--offline")
    report = json.loads(out)
    assert code == 0 and report["verdict"] == "unknown" and report["devices"] == []
    assert "not in the Hugging Face cache nor in llmgen's catalog" in report["model"]["unknown"]


def test_catalog_model_on_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: meta-llama/Llama-3.1-8B-Instruct\n"
        "runtime:\n  gpus: 1\n  context_length: 8192\n"
    )
    code, out, _ = fit(str(spec), "--gpu-memory", "12G", "--format", "json", "--offline")
    report = json.loads(out)
    # 8.03e9 bf16 parameters are 16 GB of weights: no 12 GiB GPU holds them.
    gpu = next(d for d in report["devices"] if d["name"] == "gpu0")
    assert gpu["breakdown"]["weights"] == pytest.approx(2 * 8.03e9, rel=0.01)
    assert code == 1 and report["verdict"] == "does-not-fit"
    fix = next(f for f in report["fixes"] if f["field"] == "runtime.gpus")
    assert (fix["from"], fix["to"]) == (1, 2)


def test_vllm_cpu_kv_cache_is_the_spec_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-135M-Instruct\n"
        "runtime:\n  kv_cache_memory: 1G\n"
    )
    code, out, _ = fit(str(spec), "--memory", "16G", "--format", "json", "--offline")
    (host,) = json.loads(out)["devices"]
    assert code == 0 and host["breakdown"]["kv_cache"] == 1 << 30


def test_hardware_section_makes_validate_refuse(tmp_path: Path, gguf_model: Path) -> None:
    hardware = "hardware:\n  memory: 100M\n"
    text = write_spec(tmp_path, gguf_model, hardware, context_length=32768, parallel=8)
    with pytest.raises(SpecError) as caught:
        validate_text(text.read_text(), "spec.yaml")
    (problem,) = [d for d in caught.value.diagnostics if d.path == "hardware"]
    assert "the deployment cannot fit: host needs" in problem.message
    assert "context_length 32768 -> " in problem.hint
    roomy = write_spec(tmp_path, gguf_model, "hardware:\n  memory: 8G\n", context_length=1024)
    assert not [d for d in validate_text(roomy.read_text()).diagnostics if d.path == "hardware"]


def test_hardware_gpus_bound_runtime_gpus(tmp_path: Path, gguf_model: Path) -> None:
    text = write_spec(tmp_path, gguf_model, "hardware:\n  gpus: 1\n", gpus=2)
    with pytest.raises(SpecError) as caught:
        validate_text(text.read_text(), "spec.yaml")
    assert any(
        d.path == "runtime.gpus" and "the machine has 1 (hardware.gpus)" in d.message
        for d in caught.value.diagnostics
    )


def test_offloaded_layers_are_the_last_ones(tmp_path: Path, gguf_model: Path) -> None:
    # llama.cpp offloads the last gpu_layers of (layers + output): with 2, blk.3 and the
    # output layer (src/llama-model.cpp, i_gpu_start = n_layer + 1 - n_gpu_layers).
    import gguf

    tensors = gguf.GGUFReader(str(gguf_model)).tensors
    expected = sum(
        int(t.n_bytes) for t in tensors if t.name.startswith(("blk.3.", "output.", "output_norm"))
    )
    spec = write_spec(tmp_path, gguf_model, gpus=1, gpu_layers=2, context_length=1024, parallel=4)
    code, out, _ = fit(str(spec), "--gpu-memory", "8G", "--memory", "8G", "--format", "json")
    gpu = next(d for d in json.loads(out)["devices"] if d["name"] == "gpu0")
    assert code == 0 and gpu["breakdown"]["weights"] == expected
    # One layer's KV (4 slots x 1024 cells, K and V of 2 x 16 in f16) goes with its layer.
    assert gpu["breakdown"]["kv_cache"] == 4 * 1024 * 2 * (2 * 16) * 2


def test_gpu_short_suggests_fewer_gpu_layers_first(tmp_path: Path, gguf_model: Path) -> None:
    spec = write_spec(tmp_path, gguf_model, gpus=1, gpu_layers="all", context_length=4096)
    code, out, _ = fit(str(spec), "--gpu-memory", "410M", "--memory", "8G", "--format", "json")
    report = json.loads(out)
    assert code == 1, report
    first = report["fixes"][0]
    assert first["field"] == "runtime.gpu_layers" and first["device"] == "gpu0"
    fixed = write_spec(tmp_path, gguf_model, gpus=1, gpu_layers=first["to"], context_length=4096)
    assert fit(str(fixed), "--gpu-memory", "410M", "--memory", "8G")[0] == 0


def test_vllm_cpu_without_kv_size_takes_most_of_the_ram(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # vllm/v1/worker/cpu_worker.py: requested = gpu_memory_utilization (0.92) x total RAM, and
    # the KV cache gets all of it but the process's RSS.
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-360M-Instruct\n")
    code, out, _ = fit(str(spec), "--memory", "16G", "--format", "json", "--offline")
    report = json.loads(out)
    (host,) = report["devices"]
    assert host["estimate_bytes"] == pytest.approx(0.92 * (16 << 30), rel=0.001)
    assert code == 0 and report["verdict"] == "tight"
    fix = report["fixes"][0]
    assert fix["field"] == "runtime.kv_cache_memory" and fix["from"] is None
    # What 4 sequences of 4096 tokens need, in whole 64 MiB: SmolLM2-360M's 32 layers x K and
    # V x 5 KV heads x 64 x 2 bytes (bf16) = 40960 bytes a token; x 16384 tokens = 640 MiB.
    assert fix["to"] == "640M"


def test_missing_facts_are_unknown_not_zero(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"num_hidden_layers": 4}))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"name: demo\nengine: vllm\nmodel:\n  path: {model}\nruntime:\n  kv_cache_memory: 1G\n"
    )
    code, out, _ = fit(str(spec), "--memory", "8G", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["verdict"] == "unknown" and report["devices"] == []
    code, out, _ = fit(str(spec), "--memory", "8G")
    assert "does not give the weights' size" in out


def _llama8b_spec(tmp_path: Path, fraction: float) -> Path:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: demo\nengine: vllm\nmodel:\n  id: meta-llama/Llama-3.1-8B-Instruct\n"
        f"runtime:\n  gpus: 1\n  context_length: 8192\n  gpu_memory_fraction: {fraction}\n"
    )
    return spec


def test_a_higher_gpu_memory_fraction_is_offered_first_when_it_is_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    spec = _llama8b_spec(tmp_path, 0.8)
    code, out, _ = fit(str(spec), "--gpu-memory", "20G", "--format", "json", "--offline")
    report = json.loads(out)
    # 0.8 x 20 GiB = 16 GiB for ~20.2 GiB of estimate; 0.95 x 20 GiB = 19 GiB is enough to
    # start (vLLM fits a smaller KV cache). The fix gives 0.15 x 20 GiB = 3 GiB more.
    assert code == 1 and report["verdict"] == "does-not-fit"
    assert report["devices"][1]["budget_bytes"] == 16 << 30
    assert report["fixes"][0] == {
        "field": "runtime.gpu_memory_fraction",
        "from": 0.8,
        "to": 0.95,
        "saves_bytes": 3 << 30,
        "device": "gpu0",
    }
    code, text, _ = fit(str(spec), "--gpu-memory", "20G", "--offline")
    assert "gpu_memory_fraction 0.8 -> 0.95 gives the engine 3.0 GiB more (gpu0)" in text


def test_gpu_memory_fraction_is_not_offered_when_not_enough_or_already_high(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    # 0.95 x 12 GiB = 11.4 GiB cannot hold 15 GiB of weights.
    spec = _llama8b_spec(tmp_path, 0.8)
    _, out, _ = fit(str(spec), "--gpu-memory", "12G", "--format", "json", "--offline")
    assert "runtime.gpu_memory_fraction" not in [f["field"] for f in json.loads(out)["fixes"]]
    # Already at 0.95: nothing to raise.
    spec = _llama8b_spec(tmp_path, 0.95)
    _, out, _ = fit(str(spec), "--gpu-memory", "20G", "--format", "json", "--offline")
    assert "runtime.gpu_memory_fraction" not in [f["field"] for f in json.loads(out)["fixes"]]
