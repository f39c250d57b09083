"""The writer's refusals, each with its whole message, and its bounds (render/writer.py's
write_bundle on a small bundle written here; tests/render/test_writer.py covers the CLI)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from pathlib import Path

import pytest

from llmgen.errors import OutputError
from llmgen.render import writer
from llmgen.render.writer import write_bundle

MANIFEST_TEXT = json.dumps({"llmgen_version": "0.1.0", "files": {"a.txt": "x"}})


def bundle(**extra: str) -> dict[str, str]:
    return {"a.txt": "alpha\n", **extra, "manifest.json": MANIFEST_TEXT}


def refused(files: dict[str, str], out: Path) -> str:
    with pytest.raises(OutputError) as caught:
        write_bundle(files, out)
    return str(caught.value)


def old_manifest(out: Path, content: object | str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "manifest.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize("relative", ["../x", "a/./b", "a/../b", "/etc/x", "a//b", "a\\b", "a\0b"])
def test_a_bundle_path_that_could_leave_the_directory_is_refused(
    tmp_path: Path, relative: str
) -> None:
    message = refused({relative: "x"}, tmp_path / "out")
    assert message == f"refusing to write {relative!r}: outside the output directory"


@pytest.mark.parametrize("relative", ["../x", "a/./b", "a\\b", "a\0b", ""])
def test_a_tampered_manifest_entry_is_refused_with_the_manifest_named(
    tmp_path: Path, relative: str
) -> None:
    path = old_manifest(tmp_path / "out", {"llmgen_version": "0", "files": {relative: "0" * 64}})
    assert refused(bundle(), tmp_path / "out") == (
        f"refusing to write {relative!r} (listed in {path}): outside the output directory"
    )


def test_a_manifest_of_exactly_1_mib_is_read_one_byte_more_is_not(tmp_path: Path) -> None:
    text = json.dumps({"llmgen_version": "0", "files": {}})
    out = tmp_path / "out"
    old_manifest(out, text + " " * ((1 << 20) - len(text)))
    assert (out / "manifest.json").stat().st_size == 1 << 20
    write_bundle(bundle(), out)  # read (and replaced)
    path = old_manifest(out, text + " " * ((1 << 20) + 1 - len(text)))
    assert refused(bundle(), out) == (
        f"{path}: not a manifest llmgen can read; move it away or pick another output directory"
    )


def test_a_manifest_that_is_not_a_regular_file_is_never_opened(tmp_path: Path) -> None:
    # A FIFO: opening it to read would wait for a writer. A thread stands ready to write a
    # valid manifest into it, so a reader that did open it would get one and carry on.
    out = tmp_path / "out"
    out.mkdir()
    fifo = out / "manifest.json"
    os.mkfifo(fifo)
    valid = json.dumps({"llmgen_version": "0", "files": {}}).encode()

    def feed() -> None:
        # Blocks until a reader opens it; the release below closes at once (a broken pipe).
        # Unbuffered on purpose: a buffered file whose close fails on the broken pipe tries to
        # flush again when collected, an "unraisable" error that pytest turns into a failure.
        descriptor = os.open(fifo, os.O_WRONLY)
        try:
            with contextlib.suppress(BrokenPipeError):
                os.write(descriptor, valid)
        finally:
            os.close(descriptor)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        assert refused(bundle(), out) == (
            f"{fifo}: not a manifest llmgen can read; move it away or pick another output directory"
        )
    finally:
        # Release the feeder: hold a reader open until its write went through (it may not
        # have reached its open yet on a busy machine), then close it.
        for _ in range(100):
            if not feeder.is_alive():
                break
            reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            feeder.join(timeout=0.1)
            os.close(reader)
        assert not feeder.is_alive()


@pytest.mark.parametrize(
    "content",
    [
        {"files": {}},  # no llmgen_version
        {"llmgen_version": "0", "files": []},
        {"llmgen_version": "0", "files": {"a.txt": 1}},  # a hash that is not text
        ["llmgen_version"],
    ],
)
def test_someone_else_s_manifest_is_named_and_kept(tmp_path: Path, content: object) -> None:
    path = old_manifest(tmp_path / "out", content)
    before = path.read_bytes()
    assert refused(bundle(), tmp_path / "out") == (
        f"{path} was not written by llmgen; move it away or pick another output directory"
    )
    assert path.read_bytes() == before


def test_a_symlinked_manifest_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "elsewhere.json").write_text(MANIFEST_TEXT)
    (out / "manifest.json").symlink_to(tmp_path / "elsewhere.json")
    assert refused(bundle(), out) == (
        f"{out / 'manifest.json'} is a symlink; refusing to read or replace it"
    )


def test_a_symlinked_file_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "target").write_text("theirs")
    (out / "a.txt").symlink_to(tmp_path / "target")
    assert refused(bundle(), out) == f"refusing to write through the symlink {out / 'a.txt'}"
    assert (tmp_path / "target").read_text() == "theirs"


def test_a_directory_where_a_file_goes_is_not_llmgen_s(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "a.txt").mkdir(parents=True)
    assert refused(bundle(), out) == (
        f"{out}: will not overwrite files llmgen did not generate: a.txt "
        "(move them away or render elsewhere)"
    )


def test_the_output_directory_is_made_with_its_parents(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    result = write_bundle(bundle(**{"sub/dir/b.sh": "#!/bin/sh\n"}), out)
    assert sorted(result.written) == ["a.txt", "manifest.json", "sub/dir/b.sh"]
    assert (out / "sub" / "dir" / "b.sh").stat().st_mode & 0o777 == 0o755
    assert (out / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (out / "sub").stat().st_mode & 0o777 == 0o755


def test_an_output_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("x")
    assert refused(bundle(), out) == f"{out} exists and is not a directory"


def test_a_file_or_symlink_swapped_in_after_the_checks_is_refused_and_named(
    tmp_path: Path,
) -> None:
    # Between write_bundle's checks and its writes (simulated by writing directly): every
    # directory is opened with O_DIRECTORY | O_NOFOLLOW, so neither a file nor a symlink where
    # a directory goes is written into.
    out = tmp_path / "out"
    out.mkdir()
    (out / "clients").write_text("a file now")
    with pytest.raises(OutputError) as caught:
        writer._write_at(out, ("clients", "client.py"), b"x", executable=False)
    assert str(caught.value) == (
        f"refusing to write into {out / 'clients'}: clients is not a directory (Not a directory)"
    )
    (out / "clients").unlink()
    (tmp_path / "elsewhere").mkdir()
    (out / "clients").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(OutputError) as caught:
        writer._write_at(out, ("clients", "client.py"), b"x", executable=False)
    assert str(caught.value) == (
        f"refusing to write into {out / 'clients'}: clients is not a directory (Not a directory)"
    )  # Linux answers O_DIRECTORY | O_NOFOLLOW on a symlink with ENOTDIR
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_stale_generated_file_in_a_subdirectory_is_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    nested = {"sub/dir/x.txt": "x\n", "manifest.json": ""}
    first = write_bundle(nested, out)
    assert first.written == ["sub/dir/x.txt", "manifest.json"]
    sha = hashlib.sha256(b"x\n").hexdigest()
    manifest = json.dumps({"llmgen_version": "0", "files": {"sub/dir/x.txt": sha}})
    (out / "manifest.json").write_text(manifest)
    second = write_bundle({"a.txt": "a\n", "manifest.json": manifest}, out)
    assert second.removed == ["sub/dir/x.txt"]
    assert not (out / "sub" / "dir" / "x.txt").exists()


def test_the_temp_file_is_created_exclusively_never_through_a_planted_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone who could guess the temp name and plant a symlink there gets nothing written
    # through it: the temp file is opened with O_CREAT | O_EXCL | O_NOFOLLOW.
    monkeypatch.setattr(writer.secrets, "token_hex", lambda size: "0" * (2 * size))
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("theirs")
    (out / f".a.txt.{'0' * 12}.tmp").symlink_to(victim)
    with pytest.raises(OutputError) as caught:
        write_bundle(bundle(), out)
    assert str(caught.value) == f"cannot write into {out}: File exists (.a.txt.{'0' * 12}.tmp)"
    assert victim.read_text() == "theirs"


def test_a_stale_file_is_removed_only_if_still_the_generated_regular_file(tmp_path: Path) -> None:
    # The last check before the unlink, for a file changed after write_bundle looked at it.
    out = tmp_path / "out"
    out.mkdir()
    sha = hashlib.sha256(b"x\n").hexdigest()
    assert writer._remove_at(out, ("gone.txt",), sha) is False  # vanished meanwhile
    (out / "edited.txt").write_text("y\n")
    assert writer._remove_at(out, ("edited.txt",), sha) is False  # changed
    assert (out / "edited.txt").read_text() == "y\n"
    (tmp_path / "target").write_text("x\n")
    (out / "link.txt").symlink_to(tmp_path / "target")
    with pytest.raises(OSError):  # never read through a symlink (O_NOFOLLOW: ELOOP)
        writer._remove_at(out, ("link.txt",), sha)
    (out / "same.txt").write_text("x\n")
    assert writer._remove_at(out, ("same.txt",), sha) is True
    assert not (out / "same.txt").exists()


def test_an_edited_generated_file_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sha = hashlib.sha256(b"alpha\n").hexdigest()
    manifest = json.dumps({"llmgen_version": "0", "files": {"a.txt": sha}})
    write_bundle({"a.txt": "alpha\n", "manifest.json": manifest}, out)
    (out / "a.txt").write_text("mine\n")
    with pytest.raises(OutputError, match=r"^.*were edited since they were rendered: a\.txt"):
        write_bundle({"a.txt": "beta\n", "manifest.json": manifest}, out)
    assert (out / "a.txt").read_text() == "mine\n"
    write_bundle({"a.txt": "beta\n", "manifest.json": manifest}, out, force=True)
    assert (out / "a.txt").read_text() == "beta\n"


def test_an_output_directory_that_cannot_be_made_is_named_with_the_reason(
    tmp_path: Path,
) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "out"
    assert refused(bundle(), out) == f"cannot create {out}: Not a directory"


def test_the_manifest_is_written_last_whatever_the_bundle_s_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    old = json.dumps({"llmgen_version": "0", "files": {}})
    write_bundle({"manifest.json": old}, out)
    real = writer._write_at

    def failing(base: Path, parts: tuple[str, ...], data: bytes, executable: bool) -> bool:
        if parts == ("z.txt",):
            raise OSError(28, "No space left on device")
        return real(base, parts, data, executable)

    monkeypatch.setattr(writer, "_write_at", failing)
    new = json.dumps({"llmgen_version": "0", "files": {"a.txt": "x", "z.txt": "y"}})
    with pytest.raises(OutputError, match=r"^cannot write into .*: No space left on device$"):
        write_bundle({"manifest.json": new, "a.txt": "a\n", "z.txt": "z\n"}, out)
    assert (out / "manifest.json").read_text() == old  # still the old one


def test_unchanged_files_do_not_stop_the_others(tmp_path: Path) -> None:
    out = tmp_path / "out"
    same, one = (hashlib.sha256(text).hexdigest() for text in (b"same\n", b"one\n"))
    manifest = json.dumps({"llmgen_version": "0", "files": {"a.txt": same, "b.txt": one}})
    write_bundle({"a.txt": "same\n", "b.txt": "one\n", "manifest.json": manifest}, out)
    result = write_bundle({"a.txt": "same\n", "b.txt": "two\n", "manifest.json": "{}"}, out)
    assert result.unchanged == ["a.txt"]
    assert (out / "b.txt").read_text() == "two\n"


def test_a_stale_entry_already_gone_does_not_stop_the_other_removals(tmp_path: Path) -> None:
    out = tmp_path / "out"
    sha = hashlib.sha256(b"x\n").hexdigest()
    manifest = json.dumps({"llmgen_version": "0", "files": {"a.txt": sha, "b.txt": sha}})
    write_bundle({"a.txt": "x\n", "b.txt": "x\n", "manifest.json": manifest}, out)
    (out / "a.txt").unlink()  # the user removed the first stale file already
    result = write_bundle({"c.txt": "c\n", "manifest.json": "{}"}, out)
    assert result.removed == ["b.txt"]
    assert not (out / "b.txt").exists()
