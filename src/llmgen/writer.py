"""Write a rendered bundle to disk without losing anything the user has.

Rules: writes are atomic (temp file + rename); only paths inside the output directory are
touched, never through a symlink; a file llmgen did not generate (not in the previous
manifest) is never overwritten or deleted; a generated file the user edited since is only
overwritten with force=True.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from llmgen.errors import OutputError
from llmgen.targets import MANIFEST


@dataclass
class WriteResult:
    """What a write did, for the CLI to report."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_edited: list[str] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _previous_manifest(out_dir: Path) -> dict[str, str]:
    """The `files` map of the manifest already on disk, or {} when there is none."""
    path = out_dir / MANIFEST
    if not path.is_file() or path.is_symlink():
        return {}
    try:
        files = json.loads(path.read_text("utf-8")).get("files", {})
    except (OSError, ValueError, AttributeError):
        raise OutputError(
            f"{path}: not a manifest llmgen can read; move it away or pick another output directory"
        ) from None
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items()}


def _safe_target(out_dir: Path, relative: str) -> Path:
    """The absolute path for `relative`, refusing anything that escapes `out_dir`."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or ".." in parts or not parts:
        raise OutputError(f"refusing to write '{relative}': outside the output directory")
    target = out_dir / relative
    current = out_dir
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise OutputError(f"refusing to write through the symlink {current}")
    return target


def _atomic_write(target: Path, data: bytes, executable: bool) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o755 if executable else 0o644)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _disk_sha(path: Path) -> str | None:
    return _sha256(path.read_bytes()) if path.is_file() else None


def write_bundle(files: dict[str, str], out_dir: Path, force: bool = False) -> WriteResult:
    """Write `files` under `out_dir`; refuses (before writing anything) when it would clobber."""
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a directory")
    previous = _previous_manifest(out_dir) if out_dir.is_dir() else {}
    result = WriteResult()
    plan: list[tuple[Path, str, bytes]] = []
    foreign: list[str] = []
    edited: list[str] = []
    for relative, text in files.items():
        target = _safe_target(out_dir, relative)
        data = text.encode("utf-8")
        on_disk = _disk_sha(target)
        if target.exists() and on_disk is None:
            foreign.append(relative)  # a directory or a special file where a file goes
        elif on_disk is None or on_disk == _sha256(data) or relative == MANIFEST:
            pass  # new, identical, or our own manifest
        elif relative not in previous:
            foreign.append(relative)
        elif previous[relative] != on_disk and not force:
            edited.append(relative)
        plan.append((target, relative, data))
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
    stale = sorted(set(previous) - set(files))
    # The manifest goes last, so an interrupted run leaves the old manifest describing old files.
    plan.sort(key=lambda item: item[1] == MANIFEST)
    for target, relative, data in plan:
        if _disk_sha(target) == _sha256(data):
            result.unchanged.append(relative)
            continue
        _atomic_write(target, data, executable=relative.endswith(".sh"))
        result.written.append(relative)
    for relative in stale:
        target = _safe_target(out_dir, relative)
        if _disk_sha(target) == previous[relative]:
            target.unlink()
            result.removed.append(relative)
        elif target.exists():
            result.kept_edited.append(relative)
    return result


def diff_bundle(files: dict[str, str], out_dir: Path) -> str:
    """A unified diff from the files on disk to what the spec renders; '' when identical."""
    chunks: list[str] = []
    previous = _previous_manifest(out_dir) if out_dir.is_dir() else {}
    for relative in sorted(set(files) | set(previous)):
        target = out_dir / relative
        old = target.read_text("utf-8", errors="replace") if target.is_file() else ""
        new = files.get(relative, "")
        if old == new:
            continue
        chunks.extend(
            difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"a/{relative}" if target.is_file() else "/dev/null",
                tofile=f"b/{relative}" if relative in files else "/dev/null",
            )
        )
        if chunks and not chunks[-1].endswith("\n"):
            chunks.append("\n")
    return "".join(chunks)
