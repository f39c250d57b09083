"""validate and doctor say when the systemd unit's DynamicUser cannot read a local model.

Ground truth: under a real systemd 252, a unit whose model is root-owned and mode 0600 fails
(tests/render/test_systemd_runtime.py::
test_a_model_the_dynamic_user_cannot_read_fails_with_the_engines_words; vLLM says "No such
file or directory"). The user that owns nothing reads only through the "other" bits.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_file
from tests.support.engines import free_port


@pytest.fixture
def public() -> Iterator[Path]:
    """A world-traversable folder right under /tmp: pytest's own base folder is 0700."""
    folder = Path(tempfile.mkdtemp(prefix="llmgen-access-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def gguf_like(folder: Path, mode: int) -> Path:
    model = folder / "m.gguf"
    model.write_bytes(b"not read by these rules")
    model.chmod(mode)
    return model


def spec_for(tmp_path: Path, model: Path) -> Path:
    data = {
        "name": "acc",
        "engine": "llamacpp",
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": free_port()},
        "runtime": {"gpus": 0},
    }
    path = tmp_path / "acc.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def access_warnings(spec: Path) -> list[str]:
    try:
        diagnostics = validate_file(spec).diagnostics
    except SpecError as exc:
        diagnostics = tuple(exc.diagnostics)
    return [d.format() for d in diagnostics if "DynamicUser" in d.message]


def test_a_world_readable_model_gives_no_warning(tmp_path: Path, public: Path) -> None:
    assert access_warnings(spec_for(tmp_path, gguf_like(public, 0o644))) == []


def test_a_0600_model_file_is_named_with_the_fix(tmp_path: Path, public: Path) -> None:
    model = gguf_like(public, 0o600)
    [found] = access_warnings(spec_for(tmp_path, model))
    assert "warning: model.path:" in found
    assert f"{model} is mode 0600" in found
    assert f"chmod -R o+rX {model}" in found


def test_a_closed_folder_above_the_model_is_named(tmp_path: Path, public: Path) -> None:
    closed = public / "closed"
    closed.mkdir()
    model = gguf_like(closed, 0o644)
    closed.chmod(0o700)
    [found] = access_warnings(spec_for(tmp_path, model))
    assert f"{closed} is mode 0700" in found
    assert "cannot enter it" in found


def test_an_unreadable_file_inside_a_model_folder(tmp_path: Path, public: Path) -> None:
    folder = public / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "model.safetensors").chmod(0o600)  # what safetensors' save_file leaves for root
    data = {
        "name": "acc",
        "engine": "vllm",
        "model": {"path": str(folder)},
        "runtime": {"gpus": 0, "kv_cache_memory": "64M"},
    }
    spec = tmp_path / "v.yaml"
    spec.write_text(yaml.safe_dump(data))
    [found] = access_warnings(spec)
    assert f"{folder / 'model.safetensors'} is mode 0600" in found


def test_doctor_names_it_without_blocking_launch_sh(tmp_path: Path, public: Path) -> None:
    model = gguf_like(public, 0o600)
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "doctor", str(spec_for(tmp_path, model))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in done.stderr
    [found] = [x for x in done.stdout.splitlines() if "model access:" in x]
    assert found.startswith("problem model access: the systemd unit's DynamicUser")
    assert f"-- fix: chmod -R o+rX {model}" in found
    assert "blocked (model access" not in done.stdout  # launch.sh and docker still run it
