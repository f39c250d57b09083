"""verify's readiness contracts, checks, teardown and report, without a real engine.

TGI cannot run on these machines (no CPU install outside its Docker images, and no Docker
engine), so its "refused while loading" contract is exercised against a real local HTTP server
(stdlib http.server in a thread) that behaves as TGI's router does: the port stays closed while
the model "loads", then opens and answers /health 200, /v1/models, and chat completions with
SSE streaming. The same server in "503 while loading" mode checks that contract independently
of llama.cpp. Process-group teardown and memory sampling run on real child processes.
"""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import threading
import time
import venv
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from llmgen.cli.app import main
from llmgen.verify import checks, readiness
from llmgen.verify.failures import VerifyError
from llmgen.verify.http import Endpoint
from llmgen.verify.process import MemorySampler, ServerProcess, port_in_use
from llmgen.verify.readiness import Probe, State, wait_until_ready
from llmgen.verify.report import ProgressLine
from llmgen.verify.runner import Progress
from tests.support.engines import free_port, group_gone, wait_for

MODEL_DIR = "/models/tiny-llama"  # TGI reports the --model-id string as the model name


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 that loads like TGI (or like llama.cpp).

    listen: the port stays closed until this event is set (TGI: connection refused while
        loading); None opens it at once.
    loading_503_polls: how many /health requests get 503 before the first 200 (llama.cpp's
        contract). Both are handshakes the test controls, never durations.
    """

    def __init__(
        self,
        port: int,
        model: str = MODEL_DIR,
        *,
        listen: threading.Event | None = None,
        loading_503_polls: int = 0,
        api_key: str | None = None,
        health_path: str = "/health",
    ) -> None:
        self.port = port
        self.model = model
        self.listen = listen
        self.loading_503_left = loading_503_polls
        self.health_answers: list[int] = []
        self.api_key = api_key
        self.health_path = health_path
        self.listening = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._started.wait(timeout=120)
        if self._httpd is not None:
            self._httpd.shutdown()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while self.listen is not None and not self.listen.wait(0.01):
            if self._stop.is_set():
                self._started.set()
                return
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == fake.health_path:
                    status = 503 if fake.loading_503_left > 0 else 200
                    fake.loading_503_left -= 1
                    fake.health_answers.append(status)
                    self._send(status, b"" if status == 200 else b'{"error":"Loading model"}')
                elif self.path == "/v1/models":
                    data = {"object": "list", "data": [{"id": fake.model, "object": "model"}]}
                    self._send(200, json.dumps(data).encode())
                else:
                    self._send(404, b'{"error":"not found"}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/v1/chat/completions":
                    self._send(404, b"{}")
                elif fake.api_key and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._send(401, b'{"error":"Unauthorized"}')
                elif body.get("stream"):
                    self._stream(body)
                else:
                    answer = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": fake.model,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "Hello from TGI."},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
                    }
                    self._send(200, json.dumps(answer).encode())

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _stream(self, body: dict[str, Any]) -> None:
                # HTTP/1.0 without Content-Length: the stream ends when the connection closes.
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = ["Hello", " from", " a", " fake", " TGI", "."]
                for word in words:
                    chunk = {"object": "chat.completion.chunk", "model": fake.model}
                    chunk["choices"] = [{"index": 0, "delta": {"content": word}}]
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.005)
                if (body.get("stream_options") or {}).get("include_usage"):
                    usage = {"choices": [], "usage": {"completion_tokens": len(words)}}
                    self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd = httpd
        self.listening.set()
        self._started.set()
        try:
            httpd.serve_forever(poll_interval=0.01)
        finally:
            httpd.server_close()


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tgi_dir(tmp_path: Path) -> Iterator[Any]:
    """Render a TGI spec on a free port; yields a function taking extra server keys."""

    def make(**server: object) -> tuple[Path, int]:
        port = free_port()
        spec = {
            "name": "tgi-fake",
            "engine": "tgi",
            "model": {"path": MODEL_DIR},
            "server": {"host": "127.0.0.1", "port": port, **server},
            "runtime": {"context_length": 512, "parallel": 1},
        }
        path = tmp_path / "tgi.yaml"
        path.write_text(yaml.safe_dump(spec), "utf-8")
        out = tmp_path / "out"
        result = invoke("render", str(path), "-o", str(out))
        assert result.exit_code == 0, result.output
        return out, port

    yield make


def _record_states() -> tuple[list[tuple[State, Probe]], Any]:
    seen: list[tuple[State, Probe]] = []

    def on_poll(state: State, probe: Probe) -> None:
        seen.append((state, probe))

    return seen, on_poll


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses wait_until_ready asks for between polls (what it controls, unlike the
    scheduler of a busy machine, which decides how long they really take)."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(readiness, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    return asked


def test_refused_while_loading_polls_until_the_port_opens(
    monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    """TGI/vLLM contract: refused connections mean loading; the first poll after the port has
    opened is the ready one, and polls are never more than 25 ms apart (so readiness is
    noticed within 100 ms). The port opens after the third refusal: a handshake, not a delay.
    """
    port = free_port()
    listen = threading.Event()
    opened_before_probe: list[bool] = []
    real_probe = readiness.probe

    def probe(endpoint: Endpoint, path: str, timeout: float) -> Probe:
        opened_before_probe.append(fake.listening.is_set())
        seen = real_probe(endpoint, path, timeout)
        if seen.status is None and len(opened_before_probe) == 3:
            listen.set()
        return seen

    monkeypatch.setattr(readiness, "probe", probe)
    seen, on_poll = _record_states()
    with FakeServer(port, listen=listen) as fake:
        ready = wait_until_ready(
            Endpoint.from_base_url(f"http://127.0.0.1:{port}/v1"),
            "/health",
            "refused-while-loading",
            timeout=120,
            on_poll=on_poll,
        )
    assert seen[:3] == [("loading", Probe(None, "connection refused"))] * 3
    assert seen[-1][0] == "ready"
    assert all(state == "loading" for state, _ in seen[:-1])
    # The port opened before the last probe began, and before no other one.
    assert opened_before_probe[-1] is True
    assert opened_before_probe.count(True) == 1
    assert ready.polls == len(seen)
    assert sleeps and max(sleeps) <= 0.025


def test_503_while_loading_polls_until_200(sleeps: list[float]) -> None:
    """llama.cpp contract, independent of llama.cpp: each 503 means loading; the first 200
    ends the wait at once (no poll after it), with pauses of at most 25 ms."""
    port = free_port()
    seen, on_poll = _record_states()
    with FakeServer(port, loading_503_polls=4) as fake:
        wait_for(fake.listening.is_set, what="the fake server to listen")
        ready = wait_until_ready(
            Endpoint.from_base_url(f"http://127.0.0.1:{port}"),
            "/health",
            "503-while-loading",
            timeout=120,
            on_poll=on_poll,
        )
    assert [(state, probe.status) for state, probe in seen] == [("loading", 503)] * 4 + [
        ("ready", 200)
    ]
    assert fake.health_answers == [503, 503, 503, 503, 200]
    assert ready.polls == 5
    assert len(sleeps) == 4 and max(sleeps) <= 0.025


def test_health_404_fails_at_once_instead_of_waiting() -> None:
    """An answer that can never become ready (wrong health path) is not waited out: the first
    answer ends the wait."""
    port = free_port()
    seen, on_poll = _record_states()
    with FakeServer(port, health_path="/elsewhere") as fake:
        wait_for(fake.listening.is_set, what="the fake server to listen")
        with pytest.raises(VerifyError) as caught:
            wait_until_ready(
                Endpoint.from_base_url(f"http://127.0.0.1:{port}/v1"),
                "/health",
                "refused-while-loading",
                timeout=120,
                on_poll=on_poll,
            )
    assert [(state, probe.status) for state, probe in seen] == [("broken", 404)]
    assert caught.value.kind == "not-ready"
    assert "answered 404" in caught.value.message


def test_readiness_timeout_on_a_closed_port() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(VerifyError) as caught:
        wait_until_ready(
            Endpoint.from_base_url(f"http://127.0.0.1:{port}/v1"),
            "/health",
            "refused-while-loading",
            timeout=0.3,
        )
    assert time.monotonic() - start >= 0.3  # never before the deadline
    assert caught.value.kind == "readiness-timeout"
    assert "connection refused" in caught.value.message


def test_verify_url_against_a_tgi_like_server(
    tgi_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every check passes against a TGI-like server that was still loading when verify began
    (its port opens only after verify has been refused twice)."""
    out, port = tgi_dir()
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["readiness"] == "refused-while-loading"
    listen = threading.Event()
    refused: list[Probe] = []
    real_probe = readiness.probe

    def probe(endpoint: Endpoint, path: str, timeout: float) -> Probe:
        seen = real_probe(endpoint, path, timeout)
        if seen.status is None:
            refused.append(seen)
            if len(refused) == 2:
                listen.set()
        return seen

    monkeypatch.setattr(readiness, "probe", probe)
    with FakeServer(port, listen=listen):
        result = invoke("verify", str(out), "--url", manifest["base_url"], "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert [(c["name"], c["ok"]) for c in report["checks"]] == [
        ("models", True),
        ("client.py", True),
        ("client.sh", True),
        ("client.mjs", True),
        ("stream", True),
    ]
    for check in report["checks"][1:4]:  # what each client printed
        assert "Hello from TGI." in check["detail"], check
        assert check["status"] == "pass"
    assert report["checks"][4]["detail"].startswith("6 chunks")
    assert len(refused) >= 2  # it kept waiting while the port was closed
    assert report["metrics"]["time_to_ready_s"] > 0
    assert report["pgid"] is None and report["teardown"] is None


def test_api_key_check_against_a_tgi_like_server(
    tgi_dir: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check 4 passes when the server refuses a missing key, fails when it does not check."""
    monkeypatch.setenv("TGI_KEY", "k-123")
    out, port = tgi_dir(api_key_env="TGI_KEY")
    url = f"http://127.0.0.1:{port}/v1"
    with FakeServer(port, api_key="k-123"):
        good = invoke("verify", str(out), "--url", url)
    assert good.exit_code == 0, good.output
    assert "PASS auth" in good.output
    assert "without the key: HTTP 401; with it: HTTP 200" in good.output
    with FakeServer(port, api_key=None):
        open_server = invoke("verify", str(out), "--url", url)
    assert open_server.exit_code == 1
    assert "FAIL auth" in open_server.output
    assert "the server does not check the key" in open_server.output


def test_wrong_model_name_is_reported(tgi_dir: Any) -> None:
    out, port = tgi_dir()
    with FakeServer(port, model="/models/other"):
        result = invoke("verify", str(out), "--url", f"http://127.0.0.1:{port}/v1")
    assert result.exit_code == 1
    assert (
        f"the server serves '/models/other', but the generated clients send '{MODEL_DIR}'"
        in result.output
    )


def test_client_check_without_openai_is_skipped_with_the_fix(tmp_path: Path, tgi_dir: Any) -> None:
    """An interpreter without the openai package: client.py is skipped (never passed), with the
    pip command as the fix."""
    bare = tmp_path / "bare"
    venv.create(bare, with_pip=False)  # a real interpreter with nothing installed
    python = str(bare / "bin" / "python")
    out, port = tgi_dir()
    with FakeServer(port):
        result = checks.check_client(
            out / "clients" / "client.py",
            base_url=f"http://127.0.0.1:{port}/v1",
            key_env=None,
            api_key=None,
            python=str(python),
            env=os.environ,
        )
    assert result.skipped and not result.ok and result.status == "skip"
    assert result.detail == f"the openai package is not installed for {python}"
    assert result.hint == f"{python} -m pip install openai"


def test_teardown_escalates_to_sigkill_and_leaves_nothing(tmp_path: Path) -> None:
    """A group that ignores SIGTERM (a shell and its child) is killed after the grace period."""
    script = tmp_path / "stubborn.sh"
    # The file says "TERM is ignored and the child runs", so SIGTERM cannot arrive too early.
    started = tmp_path / "started"
    script.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60 &\ntouch \"$1\"\nwait\n", "utf-8")
    script.chmod(0o755)
    server = ServerProcess.spawn([str(script), str(started)], tmp_path / "log", os.environ)
    wait_for(started.exists, what="the stubborn script to start its child")
    teardown = server.stop(grace=0.3)
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert teardown.leftover == ()
    assert teardown.returncode == -9
    assert group_gone(server.pgid)


def test_memory_sampler_sees_the_peak(tmp_path: Path) -> None:
    """Peak RSS of the group from /proc: a child holding 64 MiB is seen as at least that.

    The child says when its 64 MiB are resident (a file it creates), and holds them until it
    is stopped, so the sample never races the child's start-up on a busy machine.
    """
    held = tmp_path / "held"
    code = (
        "import pathlib, sys, time; block = bytearray(b'x') * (64 * 2**20); "
        "pathlib.Path(sys.argv[1]).touch(); time.sleep(600)"
    )
    server = ServerProcess.spawn(
        [sys.executable, "-c", code, str(held)], tmp_path / "log", os.environ
    )
    try:
        wait_for(held.exists, what="the child to hold its 64 MiB")
        sampler = MemorySampler(server.pgid, interval=0.05)
        sampler.start()
        sampler.stop()
    finally:
        teardown = server.stop(grace=5)
    assert teardown.leftover == ()
    assert sampler.peak_bytes >= 64 * 2**20


def test_port_in_use_sees_a_listener_not_a_closed_port() -> None:
    port = free_port()
    assert not port_in_use("127.0.0.1", port)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        assert port_in_use("127.0.0.1", port)


def test_url_with_docker_is_a_usage_error(tgi_dir: Any) -> None:
    out, port = tgi_dir()
    result = invoke("verify", str(out), "--url", f"http://127.0.0.1:{port}/v1", "--via", "docker")
    assert result.exit_code == 2
    assert "--url checks a running server" in result.output


@pytest.mark.parametrize("output_format", ["text", "json"])
def test_directory_without_manifest(tmp_path: Path, output_format: str) -> None:
    result = invoke("verify", str(tmp_path), "--format", output_format)
    assert result.exit_code == 1
    assert "has no manifest.json" in result.output
    assert "Traceback" not in result.output
    if output_format == "json":
        assert json.loads(result.stdout)["failure"]["kind"] == "bad-directory"


def test_progress_line_on_a_terminal_and_off_it() -> None:
    """A terminal gets one rewritten line with the last log line; a pipe one line per phase."""
    updates = [
        Progress("loading", 0.5, "load_model: loading", "/health: HTTP 503"),
        Progress("loading", 0.6, "load_model: still loading", "/health: HTTP 503"),
        Progress("ready", 0.7, "listening on http://127.0.0.1:8080"),
    ]
    terminal = io.StringIO()
    live = ProgressLine(terminal, is_terminal=True)
    for update in updates:
        live(update)
    live.close()
    assert terminal.getvalue().count("\r\x1b[2K") == 4
    assert "| load_model: still loading" in terminal.getvalue()
    assert "\n" not in terminal.getvalue()

    pipe = io.StringIO()
    plain = ProgressLine(pipe, is_terminal=False)
    for update in updates:
        plain(update)
    assert pipe.getvalue().splitlines() == [
        "[   0.5 s] loading (/health: HTTP 503)",
        "[   0.7 s] ready",
    ]


def test_url_that_is_not_http(tgi_dir: Any) -> None:
    out, _ = tgi_dir()
    result = invoke("verify", str(out), "--url", "ftp://127.0.0.1/v1")
    assert result.exit_code == 1
    assert "'ftp://127.0.0.1/v1' is not an http(s) URL" in result.output
