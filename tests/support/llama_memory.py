"""Run the real llama-server on a GGUF with a given argv, send one long prompt, and read its
peak resident memory (VmHWM from /proc/PID/status) and the buffer sizes it logs.

Used by fit's accuracy benchmark and its engine test. Only the process started here is
signalled, by PID; it is always stopped.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.engines import free_port, wait_for_http
from tests.support.gguf_model import WORDS

_BUFFER = re.compile(r"(\S+) (model|KV|compute|output) buffer size =\s*([0-9.]+) MiB")


@dataclass(frozen=True)
class Measurement:
    """What the server used: peak RSS and its own buffer figures (MiB as logged)."""

    vm_hwm_bytes: int
    buffers: dict[str, float] = field(default_factory=dict)  # "CPU KV" -> MiB (summed)
    log_tail: str = ""


def prompt_of(tokens: int) -> str:
    """A prompt of at most `tokens` tokens. llama.cpp's SentencePiece tokenizer splits these
    random models' words into "▁" and one token per letter, so a word costs len + 1."""
    words: list[str] = []
    used = 1  # BOS
    while True:
        word = WORDS[len(words) % len(WORDS)]
        if used + len(word) + 1 > tokens:
            return " ".join(words)
        words.append(word)
        used += len(word) + 1


def measure_llama_server(
    binary: Path, args: list[str], prompt_tokens: int, timeout: float = 300.0
) -> Measurement:
    """Start `binary args` on a free port, wait for /health, send one completion of
    `prompt_tokens` tokens, read VmHWM, stop it."""
    port = free_port()
    argv = [str(binary), *_with_port(args, port)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/health", timeout=timeout)
            body = json.dumps(
                {"prompt": prompt_of(prompt_tokens), "max_tokens": 4, "temperature": 0}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
            hwm = _vm_hwm(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    return Measurement(hwm, _buffers(text), text[-3000:])


def _with_port(args: list[str], port: int) -> list[str]:
    out = list(args)
    if "--port" in out:
        out[out.index("--port") + 1] = str(port)
    else:
        out += ["--port", str(port)]
    return out


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def _buffers(log: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for device, kind, size in _BUFFER.findall(log):
        key = f"{device} {kind}"
        found[key] = found.get(key, 0.0) + float(size)
    return found
