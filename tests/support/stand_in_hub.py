"""A local stand-in for the Hugging Face hub: a stdlib HTTP server on loopback that answers the
requests llmgen's hub client makes (model info with the file list, `resolve` downloads with
HEAD, and byte ranges), and records every request so tests can see what was fetched."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class Hub:
    """Repos (repo -> filename -> bytes) and the log of (method, path, bytes sent)."""

    repos: dict[str, dict[str, bytes]]
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    url: str = ""

    def bytes_sent(self, filename: str) -> int:
        """How many bytes of `filename` the server has sent in all."""
        return sum(size for _, path, size in self.requests if path.endswith("/" + filename))


@contextmanager
def stand_in_hub(repos: dict[str, dict[str, bytes]]) -> Iterator[Hub]:
    """Serve `repos` on 127.0.0.1 until the block ends."""
    hub = Hub(repos)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def _serve(self, body: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path.startswith("/api/models/"):
                rest = path.removeprefix("/api/models/")
                repo = "/".join(rest.split("/")[:2])
                if repo not in hub.repos:
                    return self._missing(body, "RepoNotFound")
                files = [{"rfilename": name} for name in sorted(hub.repos[repo])]
                data = json.dumps({"id": repo, "sha": COMMIT, "siblings": files}).encode()
                return self._send(200, data, {"Content-Type": "application/json"}, body)
            parts = path.lstrip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return self._missing(body, "RepoNotFound")
            repo, filename = "/".join(parts[:2]), "/".join(parts[4:])
            content = hub.repos.get(repo, {}).get(filename)
            if content is None:
                return self._missing(body, "EntryNotFound")
            headers = {
                "X-Repo-Commit": COMMIT,
                "ETag": '"' + hashlib.sha256(content).hexdigest() + '"',
                "Accept-Ranges": "bytes",
            }
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes="):
                start_text, _, end_text = wanted.removeprefix("bytes=").partition("-")
                start = int(start_text)
                end = min(int(end_text) if end_text else len(content) - 1, len(content) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
                return self._send(206, content[start : end + 1], headers, body)
            return self._send(200, content, headers, body)

        def _missing(self, body: bool, code: str) -> None:
            self._send(404, b"not found", {"X-Error-Code": code}, body)

        def _send(self, status: int, data: bytes, headers: dict[str, str], body: bool) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)
            hub.requests.append((self.command, self.path, len(data) if body else 0))

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
