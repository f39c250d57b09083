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
from llmgen.rules import access
from llmgen.rules.access import unreadable_reason
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


# --- the mode bits one by one, and the words whole -------------------------------------------

FIX = (
    "chmod -R o+rX {model} and o+x on each folder above it, or move the model to a "
    "world-readable place such as /srv/models (launch.sh and the containers are unaffected)"
)


def test_the_warning_whole(tmp_path: Path, public: Path) -> None:
    model = gguf_like(public, 0o640)  # the group may read; the DynamicUser is in no group
    spec = spec_for(tmp_path, model)
    assert access_warnings(spec) == [
        f"{spec}:3:3: warning: model.path: the systemd unit's DynamicUser cannot read the "
        f"model: {model} is mode 0640: a user that owns nothing cannot read it "
        f"({FIX.format(model=model)})"
    ]


@pytest.mark.parametrize(
    ("mode", "need"),
    [
        (0o751, "list and enter it"),  # o+x without o+r: the folder cannot be listed
        (0o754, "list and enter it"),  # o+r without o+x: nor entered
        (0o755, None),
    ],
)
def test_a_model_folder_needs_both_read_and_enter(
    public: Path, mode: int, need: str | None
) -> None:
    folder = public / "hf"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "weights.bin").write_bytes(b"")
    (folder / "sub").chmod(mode)
    expected = f"{folder / 'sub'} is mode {mode:04o}: a user that owns nothing cannot {need}"
    try:
        assert unreadable_reason(str(folder)) == (expected if need else None)
    finally:
        (folder / "sub").chmod(0o755)


@pytest.mark.parametrize(("mode", "named"), [(0o604, False), (0o640, True), (0o600, True)])
def test_a_file_in_a_model_folder_needs_other_read(public: Path, mode: int, named: bool) -> None:
    folder = public / "hf"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "config.json").chmod(mode)
    expected = (
        f"{folder / 'config.json'} is mode {mode:04o}: a user that owns nothing cannot read it"
    )
    assert unreadable_reason(str(folder)) == (expected if named else None)


def test_a_single_model_file_needs_other_read_only(public: Path) -> None:
    # o+r is enough for a file; o+x is not asked of it.
    assert unreadable_reason(str(gguf_like(public, 0o644))) is None
    assert unreadable_reason(str(gguf_like(public, 0o004))) is None
    assert unreadable_reason(str(gguf_like(public, 0o641))) == (
        f"{public / 'm.gguf'} is mode 0641: a user that owns nothing cannot read it"
    )


def test_a_missing_model_is_left_to_the_other_rules(public: Path) -> None:
    assert unreadable_reason(str(public / "absent.gguf")) is None


def test_the_walk_stops_after_max_files(monkeypatch: pytest.MonkeyPatch, public: Path) -> None:
    # The walk reads a folder's files before its subfolders: 3 readable files at the top, then
    # one unreadable file in sub/, the 4th file seen. A limit of 4 reaches it; 3 stops before.
    folder = public / "hf"
    (folder / "sub").mkdir(parents=True)
    for name in ("a", "b", "c"):
        (folder / name).write_text("x")
    (folder / "sub" / "d").write_text("x")
    (folder / "sub" / "d").chmod(0o600)
    monkeypatch.setattr(access, "MAX_FILES", 4)
    assert unreadable_reason(str(folder)) == (
        f"{folder / 'sub' / 'd'} is mode 0600: a user that owns nothing cannot read it"
    )
    monkeypatch.setattr(access, "MAX_FILES", 3)
    assert unreadable_reason(str(folder)) is None


def test_the_limit_is_ten_thousand_files() -> None:
    # A model folder holds tens of files; a mistaken path such as / must not walk the disk.
    assert access.MAX_FILES == 10_000
