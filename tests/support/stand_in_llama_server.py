#!/usr/bin/env python3
"""Stand-in for llama-server in verify's interrupt tests (not an engine: it serves fixed text).

It speaks just enough of llama.cpp's server for every verify phase to happen on demand:
/health answers 503 ("loading") to the first request and 200 after; /v1/models lists the
--alias; /v1/chat/completions streams or answers, checking LLAMA_API_KEY as llama.cpp does.
It starts a child process in its own process group, so a teardown must stop the whole group,
and records both PIDs in $STAND_IN_PIDS. Environment knobs, all handshakes:
  STAND_IN_LISTEN_WHEN=PATH   do not open the port until PATH exists (verify sees refusals)
  STAND_IN_IGNORE_TERM=1      ignore SIGTERM (and so does the child): only SIGKILL stops it
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def option(name: str) -> str:
    return sys.argv[sys.argv.index(name) + 1]


def main() -> None:
    if os.environ.get("STAND_IN_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # inherited by the child below
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(3600)"], stdin=subprocess.DEVNULL
    )
    with open(os.environ["STAND_IN_PIDS"], "w", encoding="utf-8") as stream:
        json.dump({"server": os.getpid(), "child": child.pid}, stream)
    listen_when = os.environ.get("STAND_IN_LISTEN_WHEN")
    while listen_when and not os.path.exists(listen_when):
        time.sleep(0.01)
    alias, key = option("--alias"), os.environ.get("LLAMA_API_KEY")
    health_answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            print(format % args, file=sys.stderr, flush=True)

        def do_GET(self) -> None:
            if self.path == "/health":
                status = 503 if not health_answers else 200
                health_answers.append(status)
                self._send(status, {"status": "loading" if status == 503 else "ok"})
            elif self.path == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": alias, "object": "model"}]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if key and self.headers.get("Authorization") != f"Bearer {key}":
                self._send(401, {"error": "Invalid API Key"})
            elif body.get("stream"):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for word in ("Hello", " from", " a", " stand-in"):
                    chunk = {"choices": [{"index": 0, "delta": {"content": word}}]}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
            else:
                message = {"role": "assistant", "content": "Hello from a stand-in."}
                self._send(
                    200,
                    {
                        "id": "1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": alias,
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    },
                )

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((option("--host"), int(option("--port"))), Handler)
    print(f"stand-in llama-server listening on port {option('--port')}", flush=True)
    server.serve_forever(poll_interval=0.05)


if __name__ == "__main__":
    main()
