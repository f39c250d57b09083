"""Facts from the Hugging Face hub without downloading weights (only for `fit` and
`validate --online`): config.json, tokenizer_config.json and the safetensors index through
`huggingface_hub` (into the usual Hugging Face cache, where the engine finds them later), and
for GGUF repos only the header bytes of the chosen file, by HTTP range requests, cached under
~/.cache/llmgen/gguf-headers. HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from llmgen.facts.gguf_facts import facts_from_gguf_header
from llmgen.facts.gguf_file import GGUFHeader, TruncatedGGUFError, read_gguf_header
from llmgen.facts.hf_files import facts_from_config, safetensors_header_bytes
from llmgen.facts.model import ModelFacts

FIRST_RANGE = 1 << 20  # most GGUF headers fit; vocabularies of 250k tokens need a few MiB
LAST_RANGE = 64 << 20
TIMEOUT_S = 20.0


class HubError(Exception):
    """The hub could not answer (offline, unknown repo, no such file, no library)."""


def hub_facts(hub_id: str, revision: str | None, gguf: bool) -> ModelFacts:
    """Facts of a hub model, fetching only metadata."""
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:
        raise HubError("huggingface_hub is not installed (pip install 'llmgen[hub]')") from None
    _check_reachable(_endpoint())
    repo, _, quant = hub_id.partition(":")
    try:
        return _gguf_facts(repo, quant, revision, hub_id) if gguf else _hf_facts(repo, revision)
    except HubError:
        raise
    except Exception as exc:  # the library raises many kinds; one line for the user
        raise HubError(
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None


def _check_reachable(endpoint: str, timeout_s: float = 3.0) -> None:
    """Fail fast, in one line, when the hub's host cannot be reached at all.

    Without this, huggingface_hub retries a failed name lookup five times with back-off
    (about 25 s of warnings) before giving up, the usual case on a machine without network.
    """
    import socket
    import urllib.parse

    parts = urllib.parse.urlsplit(endpoint)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise HubError(
            f"cannot reach {endpoint} ({exc.strerror or exc}); "
            "set HF_HUB_OFFLINE=1 (or --offline) to skip the hub"
        ) from None


def _endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _download(repo: str, filename: str, revision: str | None) -> Path | None:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RemoteEntryNotFoundError

    from llmgen.facts.hf_cache import hf_hub_cache

    try:
        return Path(
            hf_hub_download(
                repo,
                filename,
                revision=revision,
                endpoint=_endpoint(),
                cache_dir=hf_hub_cache(),
            )
        )
    except (EntryNotFoundError, RemoteEntryNotFoundError):
        return None


def _json(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    data = json.loads(path.read_text("utf-8"))
    return data if isinstance(data, dict) else None


def _hf_facts(repo: str, revision: str | None) -> ModelFacts:
    config = _json(_download(repo, "config.json", revision))
    if config is None:
        raise HubError(f"{repo} has no config.json")
    tokenizer = _json(_download(repo, "tokenizer_config.json", revision))
    index = _json(_download(repo, "model.safetensors.index.json", revision))
    weight_bytes = None
    if index is not None:
        total = (index.get("metadata") or {}).get("total_size")
        weight_bytes = total if isinstance(total, int) else None
    if weight_bytes is None:
        weight_bytes = _single_safetensors_bytes(repo, revision)
    return facts_from_config(config, f"hub:{repo} ({_endpoint()})", tokenizer, weight_bytes)


def _single_safetensors_bytes(repo: str, revision: str | None) -> int | None:
    url = _file_url(repo, "model.safetensors", revision)
    try:
        head = _range(url, 0, 8)
    except HubError:
        return None
    (length,) = struct.unpack("<Q", head)
    header = json.loads(_range(url, 8, 8 + length).decode("utf-8"))
    return safetensors_header_bytes(header) if isinstance(header, dict) else None


def _gguf_facts(repo: str, quant: str, revision: str | None, hub_id: str) -> ModelFacts:
    from huggingface_hub import HfApi

    from llmgen.facts.hf_cache import choose_gguf

    info = HfApi(endpoint=_endpoint()).model_info(repo, revision=revision)
    files = [s.rfilename for s in info.siblings or []]
    chosen = choose_gguf(files, quant)
    if chosen is None:
        raise HubError(f"{repo} has no GGUF file for '{quant or 'Q4_K_M'}'")
    url = _file_url(repo, chosen, revision)
    header, size = _cached_header(url, str(info.sha or revision or "main"))
    return facts_from_gguf_header(header, f"hub:{hub_id} ({chosen})", size)


def _file_url(repo: str, filename: str, revision: str | None) -> str:
    return f"{_endpoint()}/{repo}/resolve/{revision or 'main'}/{filename}"


def _cache_dir() -> Path:
    root = os.environ.get("LLMGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "llmgen"
    )
    return Path(root) / "gguf-headers"


def _cached_header(url: str, commit: str) -> tuple[GGUFHeader, int | None]:
    key = hashlib.sha256(f"{url}@{commit}".encode()).hexdigest()[:32]
    cached = _cache_dir() / f"{key}.bin"
    if cached.is_file():
        data = cached.read_bytes()
        stored = int.from_bytes(data[:8], "little")
        return read_gguf_header(io.BytesIO(data[8:])), stored or None
    length = FIRST_RANGE
    while True:
        data, size = _range_with_size(url, length)
        try:
            header = read_gguf_header(io.BytesIO(data))
            break
        except TruncatedGGUFError:
            if length >= LAST_RANGE or (size is not None and length >= size):
                raise HubError(
                    f"the GGUF header of {url} is longer than {LAST_RANGE} bytes"
                ) from None
            length *= 4
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes((size or 0).to_bytes(8, "little") + data[: header.data_offset])
    return header, size


def _request(url: str, start: int, end: int) -> urllib.request.Request:
    headers = {"Range": f"bytes={start}-{end - 1}", "User-Agent": "llmgen"}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return urllib.request.Request(url, headers=headers)


def _range(url: str, start: int, end: int) -> bytes:
    return _range_with_size(url, end, start)[0]


def _range_with_size(url: str, end: int, start: int = 0) -> tuple[bytes, int | None]:
    try:
        with urllib.request.urlopen(_request(url, start, end), timeout=TIMEOUT_S) as response:
            data = response.read(end - start)
            total = response.headers.get("Content-Range", "").rpartition("/")[2]
            return data, int(total) if total.isdigit() else None
    except (urllib.error.URLError, OSError) as exc:
        raise HubError(f"{url}: {exc}") from None
