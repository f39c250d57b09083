"""A per-user cache of compiled templates, so `llmgen render` does not compile them each run.

Compiling the templates is most of what a single render costs; jinja2 can keep the compiled
code (marshalled, keyed by template name and checked against the source's checksum, so an
edited or upgraded template is recompiled). The cache lives in $LLMGEN_CACHE, else
$XDG_CACHE_HOME/llmgen, else ~/.cache/llmgen, under templates-<version>. Compiled code is
executed when loaded, so the folder is used only when it is a real directory owned by this
user and writable by nobody else; anything odd means no cache, never an error.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from llmgen.version import __version__

if TYPE_CHECKING:
    import jinja2


def cache_dir() -> Path:
    """Where compiled templates of this llmgen version are kept."""
    root = os.environ.get("LLMGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "llmgen",
    )
    return Path(root) / f"templates-{__version__}"


def bytecode_cache() -> jinja2.BytecodeCache | None:
    """A FileSystemBytecodeCache on cache_dir() (one entry per template, whichever install
    compiled it), or None when it cannot be used safely."""
    import jinja2

    folder = cache_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if (
        not stat.S_ISDIR(info.st_mode)
        or info.st_uid != os.getuid()
        or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    ):
        return None

    class OneEntryPerTemplate(jinja2.FileSystemBytecodeCache):
        # jinja2 keys an entry by name and absolute file path, so every install of llmgen (each
        # venv, pre-commit's, CI's) added a full set of files that nothing ever removed. The
        # name alone is enough: an entry is used only when the checksum of the template's
        # source matches, so another install's different template is recompiled, never run.
        def get_cache_key(self, name: str, filename: str | None = None) -> str:
            return super().get_cache_key(name)

    return OneEntryPerTemplate(str(folder))
