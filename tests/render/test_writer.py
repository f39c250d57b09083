"""Writing a bundle never loses anything the user has.

Through the real CLI (click's CliRunner, catch_exceptions=False):

- writes are atomic: a file is replaced by rename (a hard link to the old file keeps the old
  text, the inode changes), no temp file is left, and a failure half-way leaves the previous
  manifest in place and no temp files;
- render never overwrites or deletes a file it did not generate (the list is manifest.json),
  nor a manifest.json that is not llmgen's, nor anything a tampered manifest names outside the
  output directory; a file it generated and the spec no longer makes is removed only while it
  is unchanged;
- nothing is written or read through a symlink (a symlinked file, directory or manifest);
- a generated file the user edited is kept unless --force, and the message names it;
- `render --check` exits 1 with a unified diff when the files differ, 0 when they match;
- fsync where a crash could cost something: a file that replaces another is fsynced before
  its rename, and its directory once after; a new file and its directory are not (os.fsync
  and os.replace are recorded, not replaced: the writes really happen).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from llmgen.cli.app import main
from llmgen.errors import OutputError
from llmgen.render import writer
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "llamacpp-smollm2.yaml"


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def render(spec: Path, out: Path, *extra: str) -> Result:
    return cli("render", str(spec), "-o", str(out), *extra)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def renamed(tmp_path: Path) -> Path:
    """The example under another name, so its unit file has another name."""
    spec = tmp_path / "renamed.yaml"
    spec.write_text(EXAMPLE.read_text().replace("name: smollm2-gguf", "name: renamed"))
    return spec


@pytest.fixture
def retuned(tmp_path: Path) -> Path:
    """The example with another port, so almost every file changes."""
    spec = tmp_path / "retuned.yaml"
    spec.write_text(EXAMPLE.read_text().replace("port: 8080", "port: 8099"))
    return spec


def manifest_files(out: Path) -> dict[str, str]:
    files: dict[str, str] = json.loads((out / "manifest.json").read_text())["files"]
    return files


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


# --- atomic writes ---------------------------------------------------------------------------


def test_render_writes_every_file_with_its_mode_and_no_temp_files(out: Path) -> None:
    result = render(EXAMPLE, out)
    assert result.exit_code == 0, result.output
    listed = manifest_files(out)
    assert set(listed) | {"manifest.json"} == set(tree(out))
    for relative in listed:
        mode = stat.S_IMODE((out / relative).stat().st_mode)
        assert mode == (0o755 if relative.endswith(".sh") else 0o644), relative
    assert not list(out.rglob(".*.tmp"))


def test_a_changed_file_is_replaced_by_rename_not_rewritten(
    out: Path, retuned: Path, tmp_path: Path
) -> None:
    render(EXAMPLE, out)
    old_text = (out / "launch.sh").read_text()
    old_inode = (out / "launch.sh").stat().st_ino
    os.link(out / "launch.sh", tmp_path / "hard-link")
    assert render(retuned, out).exit_code == 0
    assert "8099" in (out / "launch.sh").read_text()
    assert (out / "launch.sh").stat().st_ino != old_inode
    # An in-place write would have changed the other name of the same inode too.
    assert (tmp_path / "hard-link").read_text() == old_text


def test_a_failure_half_way_keeps_the_old_manifest_and_leaves_no_temp_file(
    out: Path, retuned: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render(EXAMPLE, out)
    manifest_before = (out / "manifest.json").read_bytes()
    real_replace = os.replace
    calls = {"n": 0}

    def failing_replace(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_replace(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(writer.os, "replace", failing_replace)
    result = render(retuned, out)
    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.output
    assert (out / "manifest.json").read_bytes() == manifest_before
    assert not list(out.rglob(".*.tmp"))


class Syncs:
    """os.fsync and os.replace calls in order, each with the inode it concerned."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, int, str]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            kind = "fsync-dir" if stat.S_ISDIR(info.st_mode) else "fsync-file"
            self.events.append((kind, info.st_ino, ""))
            real_fsync(fd)

        def replace(src: str, dst: str, *, src_dir_fd: int, dst_dir_fd: int) -> None:
            inode = os.stat(src, dir_fd=src_dir_fd, follow_symlinks=False).st_ino
            self.events.append(("replace", inode, dst))
            real_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

        monkeypatch.setattr(writer.os, "fsync", fsync)
        monkeypatch.setattr(writer.os, "replace", replace)

    def of(self, kind: str) -> list[int]:
        return [inode for event, inode, _ in self.events if event == kind]


def test_a_render_into_a_new_directory_calls_no_fsync(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs = Syncs(monkeypatch)
    assert render(EXAMPLE, out).exit_code == 0
    assert len(syncs.of("replace")) == len(tree(out))  # sanity: every file went by rename
    assert syncs.of("fsync-file") == []
    assert syncs.of("fsync-dir") == []


def test_a_replaced_file_is_fsynced_before_its_rename_and_a_new_one_is_not(
    out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render(EXAMPLE, out)
    # Another name and port: renamed.service is new, most other files change.
    changed = tmp_path / "changed.yaml"
    changed.write_text(
        EXAMPLE.read_text()
        .replace("name: smollm2-gguf", "name: renamed")
        .replace("port: 8080", "port: 8099")
    )
    before = tree(out)
    syncs = Syncs(monkeypatch)
    assert render(changed, out).exit_code == 0
    after = tree(out)
    replaced = {name for name in after if name in before and after[name] != before[name]}
    assert {"launch.sh", "manifest.json", "clients/client.py"} <= replaced  # sanity
    assert "renamed.service" not in before
    synced = syncs.of("fsync-file")
    for name in after:
        inode = (out / name).stat().st_ino
        if name in replaced:
            position = syncs.events.index(("replace", inode, name.rsplit("/", 1)[-1]))
            assert ("fsync-file", inode, "") in syncs.events[:position], name
        elif name not in before:
            assert inode not in synced, name  # new: nothing of the user's to lose
    assert len(synced) == len(replaced)
    # Each directory holding a replaced file once, after its last rename.
    directories = {(out / name).parent.stat().st_ino for name in replaced}
    assert sorted(syncs.of("fsync-dir")) == sorted(directories)
    last_rename = max(i for i, event in enumerate(syncs.events) if event[0] == "replace")
    assert all(i > last_rename for i, event in enumerate(syncs.events) if event[0] == "fsync-dir")


def test_a_single_file_write_fsyncs_only_when_it_replaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "schema.json"
    syncs = Syncs(monkeypatch)
    writer.atomic_write(target, b"first\n", executable=False)
    assert syncs.of("fsync-file") == [] and syncs.of("fsync-dir") == []
    writer.atomic_write(target, b"second\n", executable=False)
    assert syncs.of("fsync-file") == [target.stat().st_ino]
    assert syncs.of("fsync-dir") == [tmp_path.stat().st_ino]
    assert target.read_bytes() == b"second\n"


# --- never clobber what llmgen did not generate ----------------------------------------------


def test_a_foreign_file_in_the_way_is_never_overwritten(out: Path) -> None:
    out.mkdir()
    (out / "launch.sh").write_text("my own script\n")
    result = render(EXAMPLE, out)
    assert result.exit_code == 1
    assert "will not overwrite files llmgen did not generate: launch.sh" in result.stderr
    assert (out / "launch.sh").read_text() == "my own script\n"
    assert sorted(p.name for p in out.iterdir()) == ["launch.sh"]  # nothing written at all


def test_unrelated_files_survive_renders_and_stale_generated_files_go(
    out: Path, renamed: Path
) -> None:
    render(EXAMPLE, out)
    (out / "notes.txt").write_text("mine\n")
    assert (out / "smollm2-gguf.service").exists()
    result = render(renamed, out)
    assert result.exit_code == 0, result.output
    assert "1 stale removed" in result.stdout
    assert not (out / "smollm2-gguf.service").exists()
    assert (out / "renamed.service").exists()
    assert (out / "notes.txt").read_text() == "mine\n"


def test_a_stale_file_the_user_edited_is_kept(out: Path, renamed: Path) -> None:
    render(EXAMPLE, out)
    (out / "smollm2-gguf.service").write_text("edited by hand\n")
    result = render(renamed, out)
    assert result.exit_code == 0
    assert "kept (edited, no longer generated): smollm2-gguf.service" in result.stderr
    assert (out / "smollm2-gguf.service").read_text() == "edited by hand\n"


def test_someone_elses_manifest_json_is_not_replaced(out: Path) -> None:
    out.mkdir()
    (out / "manifest.json").write_text('{"files": {}, "version": 3}\n')
    result = render(EXAMPLE, out)
    assert result.exit_code == 1
    assert "was not written by llmgen" in result.stderr
    assert (out / "manifest.json").read_text() == '{"files": {}, "version": 3}\n'
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


@pytest.mark.parametrize("listed", ["../outside.txt", "/tmp/llmgen-outside.txt", "a/../../x", ""])
def test_a_tampered_manifest_cannot_reach_outside_the_output_dir(
    out: Path, tmp_path: Path, listed: str
) -> None:
    render(EXAMPLE, out)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    manifest = json.loads((out / "manifest.json").read_text())
    # The manifest claims the outside file, with its true hash, as a stale generated file.
    manifest["files"][listed] = writer._sha256(outside.read_bytes())
    (out / "manifest.json").write_text(json.dumps(manifest))
    for command in (("render",), ("render", "--check")):
        result = cli(*command, str(EXAMPLE), "-o", str(out))
        assert result.exit_code == 1
        assert "outside the output directory" in result.stderr
        assert "precious" not in result.output
    assert outside.read_text() == "precious\n"


# --- symlinks ----------------------------------------------------------------------------------


def test_a_symlinked_file_is_not_written_through(out: Path, tmp_path: Path) -> None:
    render(EXAMPLE, out)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "launch.sh").unlink()
    (out / "launch.sh").symlink_to(victim)
    for extra in ((), ("--force",), ("--check",)):
        result = render(EXAMPLE, out, *extra)
        assert result.exit_code == 1
        assert "refusing to write through the symlink" in result.stderr
        assert "precious" not in result.output
    assert victim.read_text() == "precious\n"


def test_a_symlinked_directory_is_not_written_into(out: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "clients").symlink_to(elsewhere, target_is_directory=True)
    result = render(EXAMPLE, out)
    assert result.exit_code == 1
    assert "refusing to write through the symlink" in result.stderr
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_manifest_is_refused(out: Path, tmp_path: Path) -> None:
    render(EXAMPLE, out)
    real = tmp_path / "real-manifest.json"
    (out / "manifest.json").rename(real)
    (out / "manifest.json").symlink_to(real)
    result = render(EXAMPLE, out)
    assert result.exit_code == 1
    assert "manifest.json is a symlink; refusing to read or replace it" in result.stderr


def test_a_directory_swapped_for_a_symlink_after_the_checks_is_refused(
    out: Path, tmp_path: Path
) -> None:
    # The writer opens each directory with O_NOFOLLOW and writes relative to it, so even a
    # swap between its checks and its writes cannot redirect a write.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "clients").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OutputError, match="not a directory"):
        writer._write_at(out, ("clients", "client.py"), b"x", executable=False)
    assert list(elsewhere.iterdir()) == []


def test_a_file_where_a_directory_goes_is_named(out: Path) -> None:
    out.mkdir()
    (out / "clients").write_text("not a directory\n")
    result = render(EXAMPLE, out)
    assert result.exit_code == 1
    assert "clients/client.py" in result.stderr
    assert (out / "clients").read_text() == "not a directory\n"


def test_an_output_path_under_a_file_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = render(EXAMPLE, blocker / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("llmgen: cannot create")
    assert len(result.stderr.splitlines()) == 1


# --- edited files and --force -------------------------------------------------------------------


def test_an_edited_file_is_kept_without_force_and_named(out: Path, retuned: Path) -> None:
    render(EXAMPLE, out)
    (out / "launch.sh").write_text("#!/bin/sh\necho my edit\n")
    (out / "README.md").write_text("my notes\n")
    before = tree(out)
    result = render(retuned, out)
    assert result.exit_code == 1
    assert "edited since they were rendered: README.md, launch.sh" in result.stderr
    assert "--force" in result.stderr
    assert tree(out) == before  # nothing written, not even the files that were not edited

    forced = render(retuned, out, "--force")
    assert forced.exit_code == 0, forced.output
    assert "8099" in (out / "launch.sh").read_text()


def test_rendering_again_changes_nothing(out: Path) -> None:
    render(EXAMPLE, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    result = render(EXAMPLE, out)
    assert result.exit_code == 0
    assert "0 written" in result.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


# --- --check ------------------------------------------------------------------------------------


def test_check_is_quiet_and_exits_0_when_up_to_date(out: Path) -> None:
    render(EXAMPLE, out)
    result = render(EXAMPLE, out, "--check")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "is up to date" in result.stderr


def test_check_prints_a_unified_diff_and_exits_1_when_files_differ(
    out: Path, retuned: Path
) -> None:
    render(EXAMPLE, out)
    before = tree(out)
    result = render(retuned, out, "--check")
    assert result.exit_code == 1
    assert "--- a/launch.sh\n+++ b/launch.sh\n@@ " in result.stdout
    assert "-    --port 8080 \\\n" in result.stdout
    assert "+    --port 8099 \\\n" in result.stdout
    assert "differs from what" in result.stderr
    assert tree(out) == before  # --check writes nothing


def test_check_reports_missing_and_stale_files(out: Path, renamed: Path) -> None:
    render(EXAMPLE, out)
    (out / "clients" / "client.mjs").unlink()
    result = render(renamed, out, "--check")
    assert result.exit_code == 1
    assert "--- /dev/null\n+++ b/clients/client.mjs" in result.stdout
    assert "--- a/smollm2-gguf.service\n+++ /dev/null" in result.stdout
    assert "+++ b/renamed.service" in result.stdout


def test_check_of_a_directory_that_does_not_exist_fails(out: Path) -> None:
    result = render(EXAMPLE, out, "--check")
    assert result.exit_code == 1
    assert "+++ b/launch.sh" in result.stdout
    assert not out.exists()
