"""The per-user cache of compiled templates: same files, recompiled on change, never unsafe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from llmgen.render.template_cache import bytecode_cache, cache_dir
from tests.conftest import EXAMPLES


def render_in_new_process(spec: Path, out: Path, cache: Path) -> None:
    env = {**os.environ, "LLMGEN_CACHE": str(cache)}
    subprocess.run(
        [sys.executable, "-m", "llmgen", "render", str(spec), "-o", str(out)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
    )


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_cached_render_writes_the_same_files(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    spec = EXAMPLES[0]
    render_in_new_process(spec, tmp_path / "first", cache)  # compiles and fills the cache
    compiled = list((cache / next(iter(os.listdir(cache)))).iterdir())
    assert compiled, "the first render leaves compiled templates behind"
    render_in_new_process(spec, tmp_path / "second", cache)  # loads them
    assert tree(tmp_path / "first") == tree(tmp_path / "second")


def test_the_fast_render_path_loads_every_template_from_the_cache(tmp_path: Path) -> None:
    """`python -m llmgen render SPEC -o DIR` skips click (entry.py); the cache still serves it:
    jinja2 writes a cache file only for a template it had to compile, so none is rewritten."""
    cache = tmp_path / "cache"
    render_in_new_process(EXAMPLES[0], tmp_path / "first", cache)
    files = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert files
    render_in_new_process(EXAMPLES[0], tmp_path / "second", cache)
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == files


def test_an_edited_template_is_recompiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMGEN_CACHE", str(tmp_path / "cache"))
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text("one {{ x }}")

    def render() -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)), bytecode_cache=bytecode_cache()
        )
        return env.get_template("t.j2").render(x=1)

    assert render() == "one 1"
    assert any(cache_dir().iterdir())
    (templates / "t.j2").write_text("two {{ x }}")
    assert render() == "two 1"


def test_an_unsafe_cache_folder_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMGEN_CACHE", str(tmp_path / "cache"))
    folder = cache_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o777)  # others could plant compiled code there
    assert bytecode_cache() is None
    folder.chmod(0o700)
    assert bytecode_cache() is not None
    folder.rmdir()
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    folder.symlink_to(target)  # a link is not the folder it claims to be
    assert bytecode_cache() is None


def test_an_unwritable_cache_root_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("LLMGEN_CACHE", str(blocker))
    assert bytecode_cache() is None


def test_installs_in_different_places_share_one_entry_per_template(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two venvs' copies of the same templates: the second adds no entries and reuses the
    first's; a copy whose text differs is recompiled under the same entry, never reused."""
    monkeypatch.setenv("LLMGEN_CACHE", str(tmp_path / "cache"))

    def install(where: str, text: str) -> Path:
        templates = tmp_path / where / "templates"
        templates.mkdir(parents=True)
        (templates / "t.j2").write_text(text)
        return templates

    def render(templates: Path) -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)), bytecode_cache=bytecode_cache()
        )
        return env.get_template("t.j2").render(x=1)

    assert render(install("venv-a", "one {{ x }}")) == "one 1"
    entries = {p: p.stat().st_mtime_ns for p in cache_dir().iterdir()}
    assert len(entries) == 1
    assert render(install("venv-b", "one {{ x }}")) == "one 1"
    assert {p: p.stat().st_mtime_ns for p in cache_dir().iterdir()} == entries  # reused as is
    assert render(install("venv-c", "other {{ x }}")) == "other 1"
    assert list(cache_dir().iterdir()) == list(entries)  # the same entry, recompiled
