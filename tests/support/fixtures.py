"""pytest fixtures for tests that start real engines; load with
`pytest_plugins = ("tests.support.fixtures",)` in a test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from tests.support.engines import (
    EngineUnavailableError,
    SpecFactory,
    free_port,
    llama_server_binary,
)
from tests.support.gguf_model import write_tiny_gguf


@pytest.fixture(scope="session")
def llama_server_bin() -> Path:
    """A real llama-server b11434 (built once per machine by scripts/build-llama-server.sh)."""
    try:
        return llama_server_binary()
    except EngineUnavailableError as exc:
        pytest.fail(f"{exc}\n(deselect real-engine tests with -m 'not engine')", pytrace=False)


@pytest.fixture
def llama_on_path(llama_server_bin: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put llama-server's directory first on PATH, where the generated launch.sh looks."""
    monkeypatch.setenv("PATH", f"{llama_server_bin.parent}{os.pathsep}{os.environ['PATH']}")
    return llama_server_bin


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random llama GGUF (about 0.5 MB), written once per test session."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture
def llamacpp_spec(tmp_path: Path, tiny_gguf: Path) -> SpecFactory:
    """Write a llama.cpp spec serving the tiny GGUF on a free loopback port; returns its path.

    Keyword arguments override `server` keys (`api_key_env=...`), `model` keys
    (`model_path=...`, `served_name=...`) and the deployment `name`.
    """

    def make(
        name: str = "tiny",
        model_path: Path | None = None,
        served_name: str | None = None,
        **server: object,
    ) -> Path:
        model: dict[str, object] = {"path": str(model_path or tiny_gguf)}
        if served_name:
            model["served_name"] = served_name
        spec = {
            "name": name,
            "engine": "llamacpp",
            "model": model,
            "server": {"host": "127.0.0.1", "port": free_port(), **server},
            "runtime": {"context_length": 512, "parallel": 1, "threads": 2},
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
        return path

    return make
