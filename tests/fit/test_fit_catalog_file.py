"""A hub id from the catalog and the same model as a file on disk get the same estimate.

The file is written with the catalog row's shapes (SmolLM2-135M's config.json: width 576, 30
layers, 9 heads, 3 KV heads, FFN 1536, 49,152 tokens, tied) in Q8_0, which llama.cpp's
quantizer gives every matrix, the tied embeddings included (src/llama-quant.cpp: the output
type stays Q8_0 for a Q8_0 preset). What only the file has is its header and alignment
padding, measured here with gguf.GGUFReader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.gguf_shapes import Shape, write_shaped_gguf

SMOL = Shape(
    "smollm2-135m",
    vocab=49152,
    n_embd=576,
    n_layer=30,
    n_head=9,
    n_head_kv=3,
    n_ff=1536,
    tied=True,
    weight_type="Q8_0",
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("catalog-file") / "smol.gguf", SMOL)


def host(tmp_path: Path, model: dict[str, str], features: str) -> dict[str, int]:
    spec = {
        "name": "same",
        "engine": "llamacpp",
        "model": model,
        "runtime": {"context_length": 4096, "parallel": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), "utf-8")
    args = ["fit", str(path), "--offline", "--memory", "8G", "--format", "json"]
    result = CliRunner().invoke(main, [*args, "--cpu-features", features])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (device,) = report["devices"]
    return {"source": report["model"]["source"], **device["breakdown"]}


@pytest.mark.parametrize("features", ["avx2", "neon,dotprod"])
def test_the_hub_id_and_the_file_agree(tmp_path: Path, model: Path, features: str) -> None:
    import gguf

    reader = gguf.GGUFReader(str(model))
    header_and_padding = model.stat().st_size - sum(int(t.n_bytes) for t in reader.tensors)
    from_file = host(tmp_path, {"path": str(model)}, features)
    from_hub = host(tmp_path, {"id": "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF:Q8_0"}, features)
    assert str(from_hub["source"]).startswith("catalog:HuggingFaceTB/SmolLM2-135M")
    assert from_file["source"] == str(model)
    # On ARM with dotprod every Q8_0 matrix (and the tied output) is repacked: both count it.
    assert from_hub["weights"] == from_file["weights"] - header_and_padding
    for part in ("kv_cache", "compute", "overhead", "prompt_cache"):
        assert from_hub[part] == from_file[part], part
