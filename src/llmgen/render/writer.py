"""Write a rendered bundle to disk without losing anything the user has.

Rules: writes are atomic (temp file + rename); only paths inside the output directory are
touched, never through a symlink (each directory below the output directory is opened with
O_NOFOLLOW and written relative to its descriptor, so a directory swapped for a symlink after
the checks is refused too); a file llmgen did not generate (not in the previous manifest) is
never overwritten or deleted; a generated file the user edited since is only overwritten with
force=True; a manifest that is not llmgen's, or that names a path outside the output
directory, stops the run before anything is written.

Durability (what fsync is for, and why most files get none). fsync is the slowest step of a
render (about 2 ms a call here, one per file and directory before this was decided), so it
is spent only where a crash of the machine could cost the user something:
- A file that REPLACES an existing one: its content is fsynced before the rename. Without it,
  a crash shortly after the rename can leave the new name pointing at a file whose blocks
  were never written (empty or partial), and the old content is gone: the rename must only
  ever expose complete content, so a crash leaves either the old or the new file.
- A file at a name that held nothing: no fsync. Whatever a crash leaves there (the file
  missing, empty or partial), nothing the user had is lost; the spec is the source and
  rendering it again writes the file. A damaged generated file no longer matches the
  manifest, so the next render treats it as edited and asks for --force, rather than
  silently trusting it; a damaged manifest is refused as unreadable. Both are visible.
- Directories: a rename is made durable by an fsync of its directory, not of the file. It is
  not needed for "old or new" (a journaled rename is atomic either way); it makes a replace
  that render reported as done survive a crash. So each directory in which a file was
  replaced is fsynced once, after all of its renames (manifest included), not once per file;
  directories that only received new files are not fsynced, for the reason above.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from llmgen.errors import OutputError
from llmgen.render.targets import MANIFEST

MAX_MANIFEST_BYTES = 1024 * 1024

State = Literal["absent", "file", "blocked"]


@dataclass
class WriteResult:
    """What a write did, for the CLI to report."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parts(relative: str, source: str = "") -> tuple[str, ...]:
    """The components of a bundle path, refusing anything that could leave the output dir."""
    parts = tuple(relative.split("/"))
    if (
        not relative
        or any(part in ("", ".", "..") for part in parts)
        or "\\" in relative
        or "\x00" in relative
    ):
        where = f" (listed in {source})" if source else ""
        raise OutputError(f"refusing to write {relative!r}{where}: outside the output directory")
    return parts


def _previous_manifest(out_dir: Path) -> dict[str, str]:
    """The `files` map of llmgen's manifest already in `out_dir`, or {} when there is none."""
    path = out_dir / MANIFEST
    try:
        info = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    if stat.S_ISLNK(info.st_mode):
        raise OutputError(f"{path} is a symlink; refusing to read or replace it")
    unreadable = OutputError(
        f"{path}: not a manifest llmgen can read; move it away or pick another output directory"
    )
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_MANIFEST_BYTES:
        raise unreadable
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise unreadable from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if (
        not isinstance(manifest, dict)
        or "llmgen_version" not in manifest
        or not isinstance(files, dict)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())
    ):
        # Someone else's manifest.json: replacing it would lose their file.
        raise OutputError(
            f"{path} was not written by llmgen; move it away or pick another output directory"
        )
    for relative in files:
        _parts(relative, str(path))
    return {str(k): str(v) for k, v in files.items()}


def _inspect(out_dir: Path, relative: str) -> tuple[State, str | None]:
    """What is at `relative` now, without following symlinks: absent, a file (with its sha256),
    or blocked (a directory, a special file, or a file where a directory must go)."""
    parts = _parts(relative)
    current = out_dir
    for index, part in enumerate(parts):
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return "absent", None
        except NotADirectoryError:
            return "blocked", None
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"refusing to write through the symlink {current}")
        last = index == len(parts) - 1
        if not last and not stat.S_ISDIR(info.st_mode):
            return "blocked", None  # a file where llmgen needs a directory
        if last:
            if not stat.S_ISREG(info.st_mode):
                return "blocked", None
            return "file", _sha256(current.read_bytes())
    return "blocked", None  # pragma: no cover - parts is never empty


def _open_dir(base: Path, parts: tuple[str, ...], create: bool) -> int:
    """A descriptor for base/parts..., each level opened with O_NOFOLLOW (created if asked)."""
    if create:
        base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                child = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                raise OutputError(
                    f"refusing to write into {base.joinpath(*parts)}: {part} is not a directory "
                    f"({exc.strerror})"
                ) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_at(base: Path, parts: tuple[str, ...], data: bytes, executable: bool) -> bool:
    """Atomically replace base/parts with data: temp file in the same directory, then rename.

    Returns whether an existing file was replaced. Only then is the content fsynced before
    the rename (module docstring: a new name has nothing to lose); fsyncing the directory,
    once for all its renames, is the caller's part (_sync_dirs).
    """
    dir_fd = _open_dir(base, parts[:-1], create=True)
    name = parts[-1]
    temp = f".{name}.{secrets.token_hex(6)}.tmp"
    try:
        handle = os.open(
            temp,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=dir_fd,
        )
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fchmod(stream.fileno(), 0o755 if executable else 0o644)
                # Looked up as late as possible, just before the rename that would replace it.
                replacing = _exists_at(dir_fd, name)
                if replacing:
                    os.fsync(stream.fileno())
            os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=dir_fd)
            raise
    finally:
        os.close(dir_fd)
    return replacing


def _exists_at(dir_fd: int, name: str) -> bool:
    """Whether `name` is in the directory `dir_fd` (not following a symlink)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _sync_dirs(base: Path, directories: set[tuple[str, ...]]) -> None:
    """fsync each directory base/parts... once, making the renames done in it durable."""
    for parts in sorted(directories):
        dir_fd = _open_dir(base, parts, create=False)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write(target: Path, data: bytes, executable: bool) -> None:
    """Write one file atomically (temp file + rename), creating its directory."""
    if _write_at(target.parent, (target.name,), data, executable):
        _sync_dirs(target.parent, {()})


def _remove_at(base: Path, parts: tuple[str, ...], expected_sha: str) -> bool:
    """Delete base/parts if it is still a regular file with the expected content."""
    dir_fd = _open_dir(base, parts[:-1], create=False)
    try:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
                return False
            if _sha256(stream.read()) != expected_sha:
                return False
        os.unlink(parts[-1], dir_fd=dir_fd)
        return True
    finally:
        os.close(dir_fd)


def write_bundle(files: dict[str, str], out_dir: Path, force: bool = False) -> WriteResult:
    """Write `files` under `out_dir`; refuses (before writing anything) when it would clobber."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    previous = _previous_manifest(out_dir)
    result = WriteResult()
    plan: list[tuple[str, bytes, str | None]] = []
    foreign: list[str] = []
    edited: list[str] = []
    for relative, text in files.items():
        data = text.encode("utf-8")
        state, on_disk = _inspect(out_dir, relative)
        if state == "blocked":
            foreign.append(relative)  # a directory or a special file where a file goes
        elif on_disk is None or on_disk == _sha256(data) or relative == MANIFEST:
            pass  # new, identical, or our own manifest (_previous_manifest checked it is ours)
        elif relative not in previous:
            foreign.append(relative)
        elif previous[relative] != on_disk and not force:
            edited.append(relative)
        plan.append((relative, data, on_disk))
    stale = sorted(set(previous) - set(files) - {MANIFEST})
    stale_states = {relative: _inspect(out_dir, relative) for relative in stale}
    if foreign:
        raise OutputError(
            f"{out_dir}: will not overwrite files llmgen did not generate: "
            f"{', '.join(sorted(foreign))} (move them away or render elsewhere)"
        )
    if edited:
        raise OutputError(
            f"{out_dir}: these generated files were edited since they were "
            f"rendered: {', '.join(sorted(edited))} (re-run with --force to "
            "overwrite them, or move your edits into the spec)"
        )
    # The manifest goes last, so an interrupted run leaves the old manifest describing old files.
    plan.sort(key=lambda item: item[0] == MANIFEST)
    replaced_in: set[tuple[str, ...]] = set()  # directories where a file was replaced
    try:
        for relative, data, on_disk in plan:
            if on_disk == _sha256(data):
                result.unchanged.append(relative)
                continue
            parts = _parts(relative)
            if _write_at(out_dir, parts, data, executable=relative.endswith(".sh")):
                replaced_in.add(parts[:-1])
            result.written.append(relative)
        _sync_dirs(out_dir, replaced_in)
        for relative in stale:
            state, on_disk = stale_states[relative]
            if state != "file":
                continue
            if on_disk == previous[relative] and _remove_at(
                out_dir, _parts(relative), previous[relative]
            ):
                result.removed.append(relative)
            else:
                result.kept_edited.append(relative)
    except OSError as exc:
        raise OutputError(
            f"cannot write into {out_dir}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else "")
        ) from None
    return result


def diff_bundle(files: dict[str, str], out_dir: Path) -> str:
    """A unified diff from the files on disk to what the spec renders; '' when identical.

    Only paths inside `out_dir` are read, never through a symlink.
    """
    chunks: list[str] = []
    previous = _previous_manifest(out_dir) if out_dir.is_dir() else {}
    for relative in sorted(set(files) | set(previous)):
        state, _ = _inspect(out_dir, relative)
        target = out_dir / relative
        on_disk = state == "file"
        old = target.read_text("utf-8", errors="replace") if on_disk else ""
        new = files.get(relative, "")
        if old == new and (on_disk or relative not in files):
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{relative}" if on_disk else "/dev/null",
                tofile=f"b/{relative}" if relative in files else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks.append("\n")
    return "".join(chunks)
