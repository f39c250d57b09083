"""The llama.cpp oracle: start the real llama-server b11434 on exactly the argv llmgen renders
and record what it does.

A run ends in one of four ways, decided by polling (no fixed sleeps) under one deadline:
- `healthy`: llmgen's health path answers 200 (after any number of 503 while loading);
- `exited`: the server ended on its own (its log says why);
- `moved`: the server runs but llmgen's health path answers 404 (a flag moved the routes);
- `timeout`: neither within the deadline.
Every server is started in its own process group and killed by that group's id in a finally.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tests.support.engines import free_port
from tests.support.oracle_common import Comparison, Kind, Verdict, llmgen_verdict, rendered_plan

Outcome = Literal["healthy", "exited", "moved", "timeout"]
DEADLINE_S = 30.0  # generous for a busy CI machine; a tiny model is up in well under a second
TEST_KEY = "oracle-test-key"


@dataclass(frozen=True)
class Case:
    """One spec of the corpus: runtime and server fields plus extra_args.

    `cause`: for a case either side refuses, a regular expression (case-insensitive) that both
    llmgen's message and the server's log must match; a pair gives (llmgen, server) separately.
    `policy`: llmgen refuses by a rule of its own while the engine starts; the words its
    message must contain (the case then asserts exactly that).
    `disagree`: a known disagreement left at the deadline, with its reason (strict xfail).
    """

    id: str
    extra: tuple[str, ...] = ()
    runtime: dict[str, Any] = field(default_factory=dict)
    server: dict[str, Any] = field(default_factory=dict)
    cause: str | tuple[str, str] = ""
    policy: str = ""
    disagree: str = ""
    model: str = "head-64"  # a key of the models given to judge()

    def patterns(self) -> tuple[str, str]:
        """(llmgen pattern, server pattern) of the expected cause."""
        if isinstance(self.cause, tuple):
            return self.cause
        return (self.cause, self.cause)


@dataclass(frozen=True)
class ServerRun:
    """What llama-server did with one argv."""

    outcome: Outcome
    log: str
    seconds: float
    returncode: int | None

    @property
    def verdict(self) -> Verdict:
        """A healthy server accepted the configuration; anything else refused it."""
        return "accept" if self.outcome == "healthy" else "refuse"


# The llama.cpp build the oracle runs unless told otherwise (scripts/build-llama-server.sh);
# the specs pin it, so llmgen judges them by that build's table.
ORACLE_BUILD = "b11434"


def spec_for(case: Case, model: Path, version: str = ORACLE_BUILD) -> dict[str, Any]:
    """The whole spec of a case: a tiny GGUF on a free loopback port, one small slot, pinned
    to the llama.cpp build that judges it."""
    server: dict[str, Any] = {"host": "127.0.0.1", "port": free_port(), **case.server}
    runtime: dict[str, Any] = {"context_length": 256, "parallel": 1, "threads": 1}
    runtime.update(case.runtime)
    if case.extra:
        runtime["extra_args"] = list(case.extra)
    return {
        "name": "oracle",
        "engine": "llamacpp",
        "engine_version": version,
        "model": {"path": str(model)},
        "server": server,
        "runtime": runtime,
    }


def _probe(url: str) -> int | None:
    """The HTTP status of GET `url`, or None when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def run_server(binary: Path, argv: tuple[str, ...], url: str, env: dict[str, str]) -> ServerRun:
    """Start `binary argv`, wait for a verdict on `url`, and always kill the process group."""
    with serving(binary, argv, url, env) as run:
        return run


@contextlib.contextmanager
def serving(
    binary: Path, argv: tuple[str, ...], url: str, env: dict[str, str]
) -> Iterator[ServerRun]:
    """Start `binary argv` and yield its verdict while it still runs; kill its group after."""
    with tempfile.TemporaryFile() as log:
        start = time.monotonic()
        process = subprocess.Popen(
            [str(binary), *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            outcome = _await_verdict(process, url, start)
            seconds = time.monotonic() - start
            log.seek(0)
            text = log.read().decode("utf-8", "replace")
            yield ServerRun(outcome, text, seconds, process.poll())
        finally:
            _kill_group(process)


def _await_verdict(process: subprocess.Popen[bytes], url: str, start: float) -> Outcome:
    while time.monotonic() - start < DEADLINE_S:
        if process.poll() is not None:
            return "exited"
        status = _probe(url)
        if status == 200:
            return "healthy"
        if status == 404:
            return "moved"
        time.sleep(0.01)  # a short poll interval, not a wait for readiness
    return "timeout"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the group this test started (by its id) and reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def server_environment(data: dict[str, Any]) -> dict[str, str]:
    """The environment launch.sh would give the server: the key under LLAMA_API_KEY."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_")}
    env.pop("HF_TOKEN", None)
    if data["server"].get("api_key_env"):
        env["LLAMA_API_KEY"] = TEST_KEY
    return env


def write_gguf_variants(dest: Path) -> dict[str, Path]:
    """The tiny GGUF of gguf_model.py with head size 16 (its own) and 64 (one head).

    llama.cpp quantizes the KV cache in blocks of 32 values, which must divide the head size
    (src/llama-context.cpp:3854-3862), so quantized-cache cases need the head-64 variant.
    """
    from tests.support import gguf_model

    made = {"head-16": gguf_model.write_tiny_gguf(dest / "tiny-head16.gguf")}
    heads = gguf_model.N_HEAD
    gguf_model.N_HEAD = 1  # read by write_tiny_gguf at call time; restored below
    try:
        made["head-64"] = gguf_model.write_tiny_gguf(dest / "tiny-head64.gguf")
    finally:
        gguf_model.N_HEAD = heads
    return made


def judge(
    case: Case, binary: Path, models: dict[str, Path], version: str = ORACLE_BUILD
) -> Comparison:
    """llmgen's verdict and llama-server's (build `version`) on one case, compared."""
    data = spec_for(case, models[case.model], version)
    said = llmgen_verdict(data)
    plan = rendered_plan(data)
    url = f"http://{plan.client_host}:{plan.port}{plan.health_path}"
    run = run_server(binary, plan.args, url, server_environment(data))
    ours, theirs = case.patterns()
    why = f"server: {run.outcome} in {run.seconds:.2f} s"
    if said.verdict != run.verdict:
        agree = False
        why += f"; llmgen {said.verdict}s"
        if said.errors:
            why += f": {said.errors[0]}"
        if run.outcome == "exited":
            why += f"; server log ends: {error_lines(run.log)}"
    elif said.verdict == "refuse":
        named_by_us = bool(ours) and re.search(ours, "\n".join(said.errors), re.I) is not None
        evidence = f"{run.log}\n[oracle] outcome: {run.outcome}"
        named_by_server = bool(theirs) and re.search(theirs, evidence, re.I) is not None
        agree = named_by_us and named_by_server
        why += f"; cause {theirs!r}: llmgen {named_by_us}, server {named_by_server}"
        if not agree:
            why += f"; llmgen: {said.errors}; server: {error_lines(run.log)}"
    else:
        agree = True
    kind: Kind = "agree" if agree else "disagree"
    if (
        case.policy
        and said.verdict == "refuse"
        and run.verdict == "accept"
        and re.search(case.policy, "\n".join(said.errors), re.I)
    ):
        kind = "policy"
    return Comparison(
        "llama.cpp",
        case.id,
        said.verdict,
        run.verdict,
        kind,
        why,
        case.disagree,
        {"argv": list(plan.args), "llmgen": said.text, "server_errors": error_lines(run.log)},
    )


def error_lines(log: str, limit: int = 3) -> str:
    """The server's error and warning lines (the last few), for messages and findings."""
    lines = [
        line.strip()
        for line in log.splitlines()
        if re.search(r"\berror\b|invalid|failed|warn|unsupported|not supported", line, re.I)
    ]
    return " | ".join(lines[-limit:])
