"""Whether the systemd unit's DynamicUser can read a local model, from the mode bits alone.

The unit runs the engine as a throwaway user that owns nothing, so it reads the model only
through the "other" permission bits: every folder on the way needs o+x, the model file (and
each file of a model folder) o+r, a model folder and its subfolders o+rx. vLLM reports a model
it cannot read as "No such file or directory" (seen under a real systemd 252), so the cause
is better named before the unit starts. ACLs and group membership are left out on purpose: a
DynamicUser is in no group that a model file could name.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from llmgen.errors import Diagnostic, warning
from llmgen.rules.declare import Context, rule

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

MAX_FILES = 10_000  # a model folder has tens of files; stop early on a mistaken path like /


def unreadable_reason(model: str) -> str | None:
    """Why a user owning nothing cannot read `model` (a file or folder), or None if it can
    (or if the path does not exist: other rules report that)."""
    path = Path(os.path.abspath(model))
    try:
        top = path.stat()
    except OSError:
        return None
    for folder in reversed(path.parents):
        blocked = _lacks(folder, stat.S_IXOTH, "enter it")
        if blocked:
            return blocked
    if not stat.S_ISDIR(top.st_mode):
        return _lacks(path, stat.S_IROTH, "read it")
    return _folder_reason(path)


def _folder_reason(root: Path) -> str | None:
    seen = 0
    for folder, subfolders, files in os.walk(root):
        here = Path(folder)
        blocked = _lacks(here, stat.S_IXOTH | stat.S_IROTH, "list and enter it")
        if blocked:
            return blocked
        for name in files:
            seen += 1
            if seen > MAX_FILES:
                return None
            blocked = _lacks(here / name, stat.S_IROTH, "read it")
            if blocked:
                return blocked
        subfolders.sort()
    return None


def _lacks(path: Path, bits: int, need: str) -> str | None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if mode & bits == bits:
        return None
    return f"{path} is mode {stat.S_IMODE(mode):04o}: a user that owns nothing cannot {need}"


def unit_access_fix(model: str) -> str:
    """The one-line fix for `unreadable_reason`."""
    return (
        f"chmod -R o+rX {model} and o+x on each folder above it, or move the model to a "
        "world-readable place such as /srv/models (launch.sh and the containers are unaffected)"
    )


def unit_access_diagnostics(spec: Spec) -> list[Diagnostic]:
    """A warning at model.path when the unit's DynamicUser could not read the local model."""
    path = spec.model.path
    reason = unreadable_reason(path) if path else None
    if not reason or not path:
        return []
    message = f"the systemd unit's DynamicUser cannot read the model: {reason}"
    return [warning("model.path", message, unit_access_fix(path))]


@rule(
    "access.unit_user",
    "warning",
    "a local model that the systemd unit's DynamicUser cannot read (a folder on the way "
    "without o+x, a file without o+r)",
    "chmod -R o+rX the model and o+x each folder above it, or move it to e.g. /srv/models",
    when=lambda c: c.spec.model.path is not None,
)
def unit_access(c: Context) -> list[Diagnostic]:
    return unit_access_diagnostics(c.spec)
