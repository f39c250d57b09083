"""The local Hugging Face cache: where it is, a fetched repo's snapshot, and which GGUF file
of a repo llama.cpp picks. Read by the facts lookup and the hub download alike."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE forbids the hub."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)."""
    return Path(_hub_cache_text())


def _hub_cache_text() -> str:
    environ = os.environ
    return _hub_cache_for(
        environ.get("HF_HUB_CACHE"),
        environ.get("HF_HOME"),
        environ.get("XDG_CACHE_HOME"),
        environ.get("HOME"),
    )


@lru_cache(maxsize=16)  # read once per spec: validate of many specs asks it again and again
def _hub_cache_for(
    hub_cache: str | None, hf_home: str | None, xdg_cache: str | None, user_home: str | None
) -> str:
    # user_home is a key only: expanduser reads HOME (the password database without one).
    if hub_cache:
        return hub_cache
    home = hf_home or os.path.join(xdg_cache or os.path.expanduser("~/.cache"), "huggingface")
    return os.path.join(home, "hub")


def cached_snapshot(repo: str, revision: str | None) -> Path | None:
    """The snapshot folder of a repo fetched before, or None."""
    repo_folder = os.path.join(_hub_cache_text(), "models--" + repo.replace("/", "--"))
    if not os.path.isdir(repo_folder):  # the usual case: one stat, no Path objects
        return None
    folder = Path(repo_folder)
    ref = folder / "refs" / (revision or "main")
    commit = ref.read_text("utf-8").strip() if ref.is_file() else (revision or "")
    snapshot = folder / "snapshots" / commit if commit else None
    return snapshot if snapshot is not None and snapshot.is_dir() else None


def choose_gguf(files: list[str], quant: str) -> str | None:
    """The file llama.cpp picks for `repo:QUANT`: the quant in the name, case-insensitive,
    default Q4_K_M, else the first .gguf (common/arg.cpp, `--hf-repo`); split files by part 1."""
    candidates = sorted(
        f for f in files if f.lower().endswith(".gguf") and "mmproj" not in f.lower()
    )
    wanted = (quant or "Q4_K_M").lower()
    for name in candidates:
        stem = name.lower()
        if wanted in stem and ("-of-" not in stem or "-00001-of-" in stem):
            return name
    return candidates[0] if candidates and not quant else None
