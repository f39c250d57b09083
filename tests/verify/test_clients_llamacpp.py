"""The generated clients against a real llama-server (b11434): answers, streaming, errors.

One deployment with an API key and every client value at the edge of the OpenAI range runs
for the module (started by its own launch.sh). Streaming is proven with a handshake, not a
clock: a loopback proxy in front of the server forwards the answer up to its first token and
then holds the rest until the test has seen the client print that token. A client that waited
for the whole answer would print nothing until the release.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from llmgen.verify.clients import node_client
from tests.support.engines import free_port, group_gone, wait_for_http

pytest_plugins = ("tests.support.fixtures",)

pytestmark = pytest.mark.engine

KEY_ENV = "TINY_CLIENT_KEY"
CLIENTS = ["client.py", "client.sh", "client.mjs"]
# The edges of the OpenAI range, which llama.cpp accepts (the spec allows exactly these).
EDGE_VALUES = {
    "system_prompt": 'You answer "briefly".\nNo $HOME or `id`.',
    "temperature": 2.0,
    "top_p": 1.0,
    "max_tokens": 16,
    # Positive penalties keep the random model off repeated blanks; the negative edges are
    # proven by test_llamacpp_accepts_the_negative_penalty_edges.
    "frequency_penalty": 2.0,
    "presence_penalty": 2.0,
    "stop": ["\n\n\n", "User:", "'", "\\"],
    "seed": 4294967295,
}


@dataclass(frozen=True)
class Served:
    out: Path
    port: int
    key: str


def write_spec(path: Path, tiny_gguf: Path, port: int, **extra: object) -> Path:
    spec = {
        "name": "tiny-clients",
        "engine": "llamacpp",
        "model": {"path": str(tiny_gguf)},
        "server": {"host": "127.0.0.1", "port": port, "api_key_env": KEY_ENV},
        "runtime": {"context_length": 512, "parallel": 2, "threads": 2},
        **extra,
    }
    path.write_text(yaml.safe_dump(spec, sort_keys=False), "utf-8")
    return path


def render(spec: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["render", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, llama_server_bin: Path, tiny_gguf: Path
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("clients-llamacpp")
    port = free_port()
    out = render(
        write_spec(folder / "spec.yaml", tiny_gguf, port, client=EDGE_VALUES), folder / "out"
    )
    key = "k3y-for-the-client-tests"
    env = dict(os.environ, PATH=f"{llama_server_bin.parent}{os.pathsep}{os.environ['PATH']}")
    env[KEY_ENV] = key
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [str(out / "launch.sh")], stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout=120)
        yield Served(out, port, key)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        assert group_gone(server.pid)


def command(out: Path, name: str) -> list[str]:
    path = out / "clients" / name
    if name == "client.py":
        return [sys.executable, str(path)]
    if name == "client.sh":
        return ["bash", str(path)]
    run = node_client(path, os.environ)
    assert run.missing is None, f"{run.missing}: {run.fix} (the bootstrap installs it)"
    return run.argv


def run_client(
    served: Served, name: str, *args: str, key: str | None = None, url: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LLM_BASE_URL=url or f"http://127.0.0.1:{served.port}/v1")
    env[KEY_ENV] = served.key if key is None else key
    return subprocess.run(
        [*command(served.out, name), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str], name: str) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one line, no traceback
    assert lines[0].startswith(f"{name}: "), lines
    return lines[0]


@pytest.mark.parametrize("name", CLIENTS)
def test_client_answers_with_the_edge_values(served: Served, name: str) -> None:
    done = run_client(served, name, "Say", "hi")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no completion printed"
    assert done.stderr == ""


@pytest.mark.parametrize("name", CLIENTS)
@pytest.mark.parametrize("suffix", ["/", "/v1/"])
def test_client_takes_a_base_url_with_a_trailing_slash(
    served: Served, name: str, suffix: str
) -> None:
    """`http://host:port/` and `.../v1/` work in every client, as in the OpenAI SDKs.

    llama-server answers both /chat/completions and /v1/chat/completions; a doubled slash
    (`//chat/completions`) is a 404, which client.sh sent before it trimmed the slash.
    """
    url = f"http://127.0.0.1:{served.port}{suffix}"
    done = run_client(served, name, "Say", "hi", url=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "no completion printed"


def test_llamacpp_accepts_the_negative_penalty_edges(served: Served, tmp_path: Path) -> None:
    """-2 for both penalties (the spec's lower bound) is answered with HTTP 200."""
    source = (served.out / "clients" / "client.py").read_text("utf-8")
    edited = source.replace("FREQUENCY_PENALTY = 2.0", "FREQUENCY_PENALTY = -2.0")
    edited = edited.replace("PRESENCE_PENALTY = 2.0", "PRESENCE_PENALTY = -2.0")
    assert edited.count("_PENALTY = -2.0") == 2
    client = tmp_path / "client.py"
    client.write_text(edited, "utf-8")
    env = dict(os.environ, LLM_BASE_URL=f"http://127.0.0.1:{served.port}/v1")
    env[KEY_ENV] = served.key
    done = subprocess.run(
        [sys.executable, str(client), "Hi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("name", CLIENTS)
def test_wrong_key_names_the_key_variable(served: Served, name: str) -> None:
    line = one_line_error(run_client(served, name, key="not-the-key"), name)
    assert "HTTP 401" in line and KEY_ENV in line, line


@pytest.mark.parametrize("name", CLIENTS)
def test_missing_key_names_the_key_variable(served: Served, name: str) -> None:
    line = one_line_error(run_client(served, name, key=""), name)
    assert line == f"{name}: set {KEY_ENV} to the server's API key"


@pytest.mark.parametrize("name", CLIENTS)
def test_server_down_names_the_url_and_how_to_start_it(served: Served, name: str) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    line = one_line_error(run_client(served, name, url=url), name)
    assert f"cannot reach {url}" in line and "./launch.sh" in line, line


@pytest.mark.usefixtures("llama_on_path")
def test_verify_with_the_client_section_runs_every_client(tmp_path: Path, tiny_gguf: Path) -> None:
    """verify passes with the edge values; `--format json` lists each client's check."""
    spec = write_spec(tmp_path / "spec.yaml", tiny_gguf, free_port(), client=EDGE_VALUES)
    out = render(spec, tmp_path / "out")
    result = CliRunner().invoke(main, ["verify", str(out), "--format", "json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "models": "pass",
        "client.py": "pass",
        "client.sh": "pass",
        "client.mjs": "pass",
        "stream": "pass",
        "auth": "pass",
    }


class HoldingProxy:
    """A loopback TCP proxy that forwards the server's answer up to the end of its first
    server-sent event with text, then holds the rest until `release` is set."""

    FIRST_TOKEN = re.compile(rb'data: \{[^\n]*"content":"[^"\s][^\n]*\n\n')

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.holding = threading.Event()
        self.release = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HoldingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.listener.close()
        self._thread.join(timeout=30)

    def _serve(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            ahead = threading.Thread(target=self._pump, args=(client, upstream, False))
            ahead.start()
            self._pump(upstream, client, True)
            ahead.join(timeout=60)  # ends when the client closes its side

    def _pump(self, source: socket.socket, sink: socket.socket, hold: bool) -> None:
        seen = b""
        try:
            while data := source.recv(65536):
                if hold and not self.holding.is_set():
                    seen += data
                    found = self.FIRST_TOKEN.search(seen)
                    if found is None:
                        continue
                    sink.sendall(seen[: found.end()])
                    self.holding.set()
                    self.release.wait(timeout=120)
                    data = seen[found.end() :]
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.mark.parametrize("name", CLIENTS)
def test_stream_prints_the_first_token_before_the_answer_is_complete(
    served: Served, name: str
) -> None:
    with HoldingProxy(served.port) as proxy:
        env = dict(os.environ, LLM_BASE_URL=f"http://127.0.0.1:{proxy.port}/v1")
        env[KEY_ENV] = served.key
        process = subprocess.Popen(
            [*command(served.out, name), "--stream", "Tell", "a", "story"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        printed = threading.Event()
        first: list[bytes] = []

        def read_first() -> None:
            assert process.stdout is not None
            first.append(process.stdout.read1(4096))  # type: ignore[attr-defined]
            printed.set()

        threading.Thread(target=read_first, daemon=True).start()
        try:
            assert proxy.holding.wait(timeout=120), "the server sent no token"
            # The rest of the answer is held: output now can only be the streamed first token.
            assert printed.wait(timeout=60), f"{name} printed nothing while the answer was held"
            assert first[0], first
            assert not proxy.release.is_set()
        finally:
            proxy.release.set()
            stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr.decode()
    assert (first[0] + stdout).decode().strip()
