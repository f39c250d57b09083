"""llama.cpp's repacked weights: which matrices get a second host copy, per CPU feature set.

Expected bytes come from the file itself (gguf.GGUFReader) and the rules of
ggml/src/ggml-cpu/repack.cpp `ggml_repack_get_optimal_repack_type` (b11434): on x86 with AVX2,
Q4_0 matrices with a multiple of 8 rows are repacked; the token embeddings are read by get_rows
and stay mapped, but a tied model's output layer is a duplicate of them in the repack buffer
(src/llama-model-loader.cpp, TENSOR_DUPLICATED). The engine test reads the CPU_REPACK buffer
the real llama-server logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.engines import ENGINES
from llmgen.spec.models import parse_spec
from tests.support.gguf_shapes import Shape, write_shaped_gguf
from tests.support.llama_memory import measure_llama_server

pytest_plugins = ("tests.support.fixtures",)

MIB = 1 << 20
TIED = Shape(
    "tied-q4_0",
    vocab=32000,
    n_embd=256,
    n_layer=4,
    n_head=8,
    n_head_kv=2,
    n_ff=768,
    tied=True,
    weight_type="Q4_0",
)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shaped_gguf(tmp_path_factory.mktemp("repack") / "tied.gguf", TIED)


def file_tensors(path: Path) -> dict[str, tuple[str, int, int]]:
    """name -> (type, rows, bytes), read by the gguf package."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    return {
        t.name: (t.tensor_type.name, int(t.shape[1]) if len(t.shape) > 1 else 1, int(t.n_bytes))
        for t in reader.tensors
    }


def spec_dict(model: Path, extra_args: list[str]) -> dict[str, object]:
    return {
        "name": "repack",
        "engine": "llamacpp",
        "model": {"path": str(model)},
        "runtime": {"context_length": 512, "parallel": 1, "threads": 2, "extra_args": extra_args},
    }


def host_weights(tmp_path: Path, model: Path, features: str, extra_args: list[str]) -> int:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(model, extra_args)), "utf-8")
    args = ["fit", str(path), "--offline", "--memory", "8G", "--format", "json"]
    result = CliRunner().invoke(main, [*args, "--cpu-features", features])
    assert result.exit_code == 0, result.output
    (host,) = json.loads(result.stdout)["devices"]
    weights = host["breakdown"]["weights"]
    assert isinstance(weights, int)
    return weights


def test_avx2_repacks_q4_0_matrices_and_the_tied_output(tmp_path: Path, model: Path) -> None:
    tensors = file_tensors(model)
    matrices = sum(
        size
        for name, (kind, rows, size) in tensors.items()
        if kind == "Q4_0" and rows % 8 == 0 and name != "token_embd.weight"
    )
    tied_output = tensors["token_embd.weight"][2]
    file_size = model.stat().st_size
    assert host_weights(tmp_path, model, "avx2", []) == file_size + matrices + tied_output
    # No AVX2 (or an AVX-512-only type list): nothing of Q4_0 repacks.
    assert host_weights(tmp_path, model, "none", []) == file_size
    assert host_weights(tmp_path, model, "avx2", ["--no-repack"]) == file_size
    # Without mmap every tensor is read once into its buffer; the tied output still has its
    # own repacked copy.
    all_tensors = sum(size for _, _, size in tensors.values())
    got = host_weights(tmp_path, model, "avx2", ["--load-mode", "none"])
    assert got == all_tensors + tied_output


def test_the_cpu_features_option_refuses_unknown_names(tmp_path: Path, model: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(model, [])), "utf-8")
    result = CliRunner().invoke(main, ["fit", str(path), "--cpu-features", "avx3"])
    assert result.exit_code == 2
    assert "--cpu-features: unknown CPU feature avx3" in result.stderr


@pytest.mark.engine
@pytest.mark.parametrize("extra_args", [[], ["--no-repack"]])
def test_the_repack_buffer_llama_server_logs_is_fit_s(
    tmp_path: Path, model: Path, llama_server_bin: Path, extra_args: list[str]
) -> None:
    """The cached llama-server is built with GGML_NATIVE=OFF: AVX2 compiled in, no AVX-512."""
    spec = parse_spec(spec_dict(model, extra_args))
    # Verbosity 4 prints each buffer's size (load_tensors: "CPU_REPACK model buffer size").
    args = [*ENGINES["llamacpp"].plan(spec).args, "-lv", "4"]
    measured = measure_llama_server(llama_server_bin, args, 64)
    repacked = host_weights(tmp_path, model, "avx2", extra_args) - model.stat().st_size
    logged = measured.buffers.get("CPU_REPACK model", 0.0)
    assert abs(logged - repacked / MIB) < 0.01, (logged, repacked / MIB, measured.log_tail)
