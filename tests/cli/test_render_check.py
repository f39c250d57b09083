"""`llmgen render --check` with several specs, as a pre-commit hook passes them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.conftest import REPO

LLAMACPP = REPO / "examples" / "llamacpp-smollm2.yaml"  # name: smollm2-gguf
VLLM_CPU = REPO / "examples" / "vllm-cpu-smollm2.yaml"  # name: smollm2-vllm-cpu
BAD = REPO / "tests" / "cases" / "invalid" / "unknown-key.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def rendered(tmp_path: Path) -> Iterator[Path]:
    """Both examples rendered into out/<name> under a fresh working directory."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        for spec in (LLAMACPP, VLLM_CPU):
            assert invoke("render", str(spec))[0] == 0
        yield tmp_path
    finally:
        os.chdir(cwd)


def test_several_current_renderings_pass(rendered: Path) -> None:
    code, out, err = invoke("render", "--check", str(LLAMACPP), str(VLLM_CPU))
    assert code == 0, err
    assert out == ""
    assert err.splitlines() == [
        f"out/smollm2-gguf is up to date with {LLAMACPP}",
        f"out/smollm2-vllm-cpu is up to date with {VLLM_CPU}",
    ]


def test_one_stale_rendering_fails_with_its_diff(rendered: Path) -> None:
    launch = rendered / "out" / "smollm2-vllm-cpu" / "launch.sh"
    launch.write_text(launch.read_text() + "echo edited\n")
    code, out, err = invoke("render", "--check", str(LLAMACPP), str(VLLM_CPU))
    assert code == 1
    assert "-echo edited" in out or "+echo edited" in out
    assert f"out/smollm2-gguf is up to date with {LLAMACPP}" in err
    assert f"llmgen: out/smollm2-vllm-cpu differs from what {VLLM_CPU} renders" in err
    assert launch.read_text().endswith("echo edited\n")  # --check writes nothing


def test_an_invalid_spec_among_them_fails(rendered: Path) -> None:
    code, _, err = invoke("render", "--check", str(BAD), str(LLAMACPP))
    assert code == 1
    assert f"{BAD}:7:3: error: server.prot" in err
    assert f"out/smollm2-gguf is up to date with {LLAMACPP}" in err


def test_several_specs_need_check_and_no_output_directory(tmp_path: Path) -> None:
    code, _, err = invoke("render", str(LLAMACPP), str(VLLM_CPU), "-o", str(tmp_path / "o"))
    assert code == 2 and "several are accepted with --check" in err
    code, _, err = invoke("render", "--check", str(LLAMACPP), str(VLLM_CPU), "-o", str(tmp_path))
    assert code == 2 and "-o names one directory" in err
    assert not (tmp_path / "o").exists()
