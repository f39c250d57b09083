"""A small HTTP client on http.client: verify adds no runtime dependency for talking to servers."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections.abc import Generator
from typing import Any

from llmgen.records import record


@record
class Response:
    """A complete HTTP response."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not JSON)."""
        return json.loads(self.body.decode("utf-8", "replace"))


@record
class Endpoint:
    """An OpenAI-compatible server: where to connect and the API's base path (`/v1`)."""

    scheme: str
    host: str  # without brackets
    port: int
    base_path: str  # e.g. "/v1"; "" when the API sits at the root

    @classmethod
    def from_base_url(cls, base_url: str) -> Endpoint:
        """Parse `http://host:port/v1`; a URL without a path gets `/v1` (the OpenAI convention)."""
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"'{base_url}' is not an http(s) URL")
        default_port = 443 if parsed.scheme == "https" else 80
        path = parsed.path.rstrip("/") or "/v1"
        return cls(parsed.scheme, parsed.hostname, parsed.port or default_port, path)

    @property
    def origin(self) -> str:
        """`http://host:port` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL an OpenAI client is given."""
        return self.origin + self.base_path

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new connection (not yet connected)."""
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        api_key: str | None = None,
        timeout: float = 30.0,
    ) -> Response:
        """Send one request to `path` (absolute, e.g. `/health` or `/v1/models`)."""
        connection = self.connection(timeout)
        try:
            connection.request(method, path, body=_encode(body), headers=_headers(body, api_key))
            response = connection.getresponse()
            return Response(response.status, response.read())
        finally:
            connection.close()

    def stream(
        self, path: str, body: Any, *, api_key: str | None = None, timeout: float = 60.0
    ) -> Generator[tuple[float, str], None, None]:
        """POST `body` and yield (monotonic arrival time, data) for each server-sent event.

        Raises HttpStatusError when the server answers with anything but 200.
        """
        connection = self.connection(timeout)
        try:
            connection.request("POST", path, body=_encode(body), headers=_headers(body, api_key))
            response = connection.getresponse()
            if response.status != 200:
                raise HttpStatusError(response.status, response.read())
            while True:
                line = response.readline()
                if not line:
                    return
                text = line.decode("utf-8", "replace").strip()
                if text.startswith("data:"):
                    yield time.monotonic(), text[5:].strip()
        finally:
            connection.close()


class HttpStatusError(Exception):
    """A request that was answered with an unexpected status."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = body
        super().__init__(f"HTTP {status}: {short(body)}")


def short(body: bytes, limit: int = 200) -> str:
    """The start of a response body, on one line, for messages."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _encode(body: Any) -> bytes | None:
    return None if body is None else json.dumps(body).encode()


def _headers(body: Any, api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json, text/event-stream"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers
