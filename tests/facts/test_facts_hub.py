"""Hub facts against a local stand-in hub on loopback: only metadata and GGUF header bytes are
fetched, HF_ENDPOINT and HF_HUB_OFFLINE are honoured, and `validate` never goes online."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmgen.facts.gguf_facts import facts_from_gguf_file
from llmgen.facts.resolve import lookup_facts
from llmgen.rules.analysis import validate_text
from llmgen.spec.models import Spec, parse_spec
from tests.support.gguf_shapes import Shape, write_shaped_gguf
from tests.support.stand_in_hub import Hub, stand_in_hub

pytest.importorskip("huggingface_hub")  # the `hub` extra; the test extra installs it

SHAPE = Shape("hub", vocab=3000, n_embd=256, n_layer=6, n_head=8, n_head_kv=2, n_ff=1024)
CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "hidden_size": 896,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "num_hidden_layers": 24,
    "vocab_size": 151936,
    "max_position_embeddings": 32768,
    "torch_dtype": "bfloat16",
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    gguf = write_shaped_gguf(tmp_path / "model-Q8_0.gguf", SHAPE)
    repos = {
        "acme/tiny-GGUF": {
            "tiny-F16.gguf": gguf.read_bytes(),
            "README.md": b"tiny",
        },
        "acme/tiny-chat": {
            "config.json": json.dumps(CONFIG).encode(),
            "tokenizer_config.json": json.dumps({"model_max_length": 4096}).encode(),
            "model.safetensors.index.json": json.dumps(
                {"metadata": {"total_size": 987654321}, "weight_map": {}}
            ).encode(),
        },
    }
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("LLMGEN_CACHE", str(tmp_path / "llmgen-cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with stand_in_hub(repos) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        server.repos["acme/tiny-GGUF"]["_local"] = str(gguf).encode()
        yield server


def spec(engine: str, model_id: str) -> Spec:
    return parse_spec({"name": "x", "engine": engine, "model": {"id": model_id}})


def test_gguf_repo_fetches_only_the_header(hub: Hub) -> None:
    found = lookup_facts(spec("llamacpp", "acme/tiny-GGUF:F16"), gguf=True, online=True)
    local = facts_from_gguf_file(Path(hub.repos["acme/tiny-GGUF"]["_local"].decode()))
    assert found.facts is not None
    assert found.facts.tensors == local.tensors
    assert (found.facts.layers, found.facts.kv_heads) == (SHAPE.n_layer, SHAPE.n_head_kv)
    assert found.facts.file_bytes == len(hub.repos["acme/tiny-GGUF"]["tiny-F16.gguf"])
    size = len(hub.repos["acme/tiny-GGUF"]["tiny-F16.gguf"])
    assert 0 < hub.bytes_sent("tiny-F16.gguf") < size / 2
    assert found.note == "hub:acme/tiny-GGUF:F16 (tiny-F16.gguf)"
    # Cached: asking again sends nothing more for the file.
    sent = hub.bytes_sent("tiny-F16.gguf")
    assert (
        lookup_facts(spec("llamacpp", "acme/tiny-GGUF:F16"), gguf=True, online=True).facts
        is not None
    )
    assert hub.bytes_sent("tiny-F16.gguf") == sent


def test_hf_repo_reads_config_tokenizer_and_index(hub: Hub) -> None:
    found = lookup_facts(spec("vllm", "acme/tiny-chat"), gguf=False, online=True)
    facts = found.facts
    assert facts is not None
    assert (facts.layers, facts.attention_heads, facts.kv_heads) == (24, 14, 2)
    assert facts.model_max_length == 4096 and facts.weight_bytes == 987654321
    assert not any('safetensors"' in path for _, path, _ in hub.requests)


def test_missing_quant_is_unknown(hub: Hub) -> None:
    found = lookup_facts(spec("llamacpp", "acme/tiny-GGUF:Q2_K"), gguf=True, online=True)
    assert found.facts is None and "no GGUF file for 'Q2_K'" in found.note


def test_offline_never_asks(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = lookup_facts(spec("vllm", "acme/tiny-chat"), gguf=False, online=True)
    assert found.facts is None and hub.requests == []


def test_validate_never_goes_online(hub: Hub) -> None:
    validate_text("name: x\nengine: vllm\nmodel:\n  id: acme/tiny-chat\nruntime:\n  gpus: 1\n")
    assert hub.requests == []


def test_validate_online_asks_the_hub_and_applies_its_facts(hub: Hub, tmp_path: Path) -> None:
    """`validate --online`: the stand-in hub's config.json (32768 positions) makes a longer
    context an error; the same file without --online sends nothing and passes."""
    from click.testing import CliRunner

    from llmgen.cli.app import main

    path = tmp_path / "long.yaml"
    path.write_text(
        "name: x\nengine: vllm\nmodel:\n  id: acme/tiny-chat\n"
        "runtime:\n  gpus: 1\n  context_length: 65536\n",
        "utf-8",
    )
    offline = CliRunner().invoke(main, ["validate", str(path)], catch_exceptions=False)
    assert offline.exit_code == 0, offline.output
    assert hub.requests == []
    online = CliRunner().invoke(main, ["validate", "--online", str(path)], catch_exceptions=False)
    assert online.exit_code == 1, online.output
    assert "runtime.context_length" in online.stderr and "32768" in online.stderr
    assert any("config.json" in path for _, path, _ in hub.requests)
