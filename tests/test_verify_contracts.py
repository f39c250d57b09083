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
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from llmgen.cli import main
from llmgen.verify import checks
from llmgen.verify.failures import VerifyError
from llmgen.verify.http import Endpoint
from llmgen.verify.process import MemorySampler, ServerProcess, port_in_use
from llmgen.verify.readiness import Probe, State, wait_until_ready
from llmgen.verify.report import ProgressLine
from llmgen.verify.runner import Progress
from tests.support.engines import free_port, group_gone

MODEL_DIR = "/models/tiny-llama"  # TGI reports the --model-id string as the model name


class FakeServer:
    """An OpenAI-compatible server on 127.0.0.1 that loads like TGI (or like llama.cpp).

    listen_after: seconds with the port closed (TGI: connection refused while loading).
    loading_503_for: seconds /health answers 503 once listening (llama.cpp's contract).
    """

    def __init__(
        self,
        port: int,
        model: str = MODEL_DIR,
        *,
        listen_after: float = 0.0,
        loading_503_for: float = 0.0,
        api_key: str | None = None,
        health_path: str = "/health",
    ) -> None:
        self.port = port
        self.model = model
        self.listen_after = listen_after
        self.loading_503_for = loading_503_for
        self.api_key = api_key
        self.health_path = health_path
        self.listening_at = 0.0
        self.ready_at = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._started = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._started.wait(timeout=10)
        if self._httpd is not None:
            self._httpd.shutdown()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        if self._stop.wait(self.listen_after):
            self._started.set()
            return
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == fake.health_path:
                    status = 200 if time.monotonic() >= fake.ready_at else 503
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
        self.listening_at = time.monotonic()
        self.ready_at = self.listening_at + self.loading_503_for
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


def test_refused_while_loading_is_noticed_within_100_ms() -> None:
    """TGI/vLLM contract: refused connections mean loading; the first 200 is noticed fast."""
    port = free_port()
    seen, on_poll = _record_states()
    with FakeServer(port, listen_after=0.5) as fake:
        ready = wait_until_ready(
            Endpoint.from_base_url(f"http://127.0.0.1:{port}/v1"),
            "/health",
            "refused-while-loading",
            timeout=10,
            on_poll=on_poll,
        )
    assert ready.at - fake.listening_at < 0.1
    assert ready.polls > 5
    assert seen[0] == ("loading", Probe(None, "connection refused"))
    assert seen[-1][0] == "ready"


def test_503_while_loading_is_noticed_within_100_ms() -> None:
    """llama.cpp contract, independent of llama.cpp: 503 means loading, then 200."""
    port = free_port()
    seen, on_poll = _record_states()
    with FakeServer(port, loading_503_for=0.4) as fake:
        fake._started.wait(5)
        ready = wait_until_ready(
            Endpoint.from_base_url(f"http://127.0.0.1:{port}"),
            "/health",
            "503-while-loading",
            timeout=10,
            on_poll=on_poll,
        )
    assert 0 <= ready.at - fake.ready_at < 0.1
    assert ("loading", 503) in {(state, probe.status) for state, probe in seen}


def test_health_404_fails_at_once_instead_of_waiting() -> None:
    """An answer that can never become ready (wrong health path) is not waited out."""
    port = free_port()
    with FakeServer(port, health_path="/elsewhere") as fake:
        fake._started.wait(5)
        start = time.monotonic()
        with pytest.raises(VerifyError) as caught:
            wait_until_ready(
                Endpoint.from_base_url(f"http://127.0.0.1:{port}/v1"),
                "/health",
                "refused-while-loading",
                timeout=30,
            )
    assert time.monotonic() - start < 1
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
    assert 0.3 <= time.monotonic() - start < 2
    assert caught.value.kind == "readiness-timeout"
    assert "connection refused" in caught.value.message


def test_verify_url_against_a_tgi_like_server(tgi_dir: Any) -> None:
    """Every check passes against a TGI-like server that was still loading when verify began."""
    out, port = tgi_dir()
    manifest = json.loads((out / "manifest.json").read_text("utf-8"))
    assert manifest["readiness"] == "refused-while-loading"
    with FakeServer(port, listen_after=0.3):
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
    assert report["metrics"]["time_to_ready_s"] >= 0.2  # it waited while the port was closed
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
            python=python,
            env=os.environ,
        )
    assert result.skipped and not result.ok and result.status == "skip"
    assert result.detail == f"the openai package is not installed for {python}"
    assert result.hint == f"{python} -m pip install openai"


def test_teardown_escalates_to_sigkill_and_leaves_nothing(tmp_path: Path) -> None:
    """A group that ignores SIGTERM (a shell and its child) is killed after the grace period."""
    script = tmp_path / "stubborn.sh"
    script.write_text("#!/bin/sh\ntrap '' TERM\nsleep 60 &\nwait\n", "utf-8")
    script.chmod(0o755)
    server = ServerProcess.spawn([str(script)], tmp_path / "log", os.environ)
    time.sleep(0.2)  # let the shell start its child
    teardown = server.stop(grace=0.3)
    assert teardown.signals == ("SIGTERM", "SIGKILL")
    assert teardown.leftover == ()
    assert teardown.returncode == -9
    assert group_gone(server.pgid)


def test_memory_sampler_sees_the_peak(tmp_path: Path) -> None:
    """Peak RSS of the group from /proc: a child holding 64 MiB is seen as at least that."""
    code = "import time; block = bytearray(b'x') * (64 * 2**20); time.sleep(0.5)"
    server = ServerProcess.spawn([sys.executable, "-c", code], tmp_path / "log", os.environ)
    sampler = MemorySampler(server.pgid, interval=0.05)
    sampler.start()
    time.sleep(0.4)
    sampler.stop()
    server.stop(grace=5)
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
