"""Wait until a server is ready, by the readiness contract its engine declares.

Two contracts (written into manifest.json by `render`):

- `refused-while-loading` (vLLM, TGI): the port is closed until the model is loaded; the
  first answer of the health route is 200.
- `503-while-loading` (llama.cpp): the port may open early, and the health route answers 503
  until the model is loaded, then 200.

Both treat a refused connection as "not up yet"; what differs is which answers mean "still
loading". An answer that can never turn into readiness (404, 401, 403) fails at once instead of
waiting for the timeout. The poll interval is short (25 ms, a fresh connection each time, a
connect timeout well under a second) so readiness is noticed within 100 ms.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from typing import Literal

from llmgen.records import record
from llmgen.verify.failures import ServerExitedError, VerifyError
from llmgen.verify.http import Endpoint, short

CONTRACTS = ("refused-while-loading", "503-while-loading")
POLL_INTERVAL_S = 0.025
PROBE_TIMEOUT_S = 0.5

State = Literal["starting", "loading", "ready", "broken"]


@record
class Probe:
    """What one health request saw: a status code, or no answer and why."""

    status: int | None
    detail: str  # "connection refused", "timed out", or the start of the body


@record
class Ready:
    """The server answered its health route with 200."""

    seconds: float  # from the start of waiting
    polls: int
    at: float  # time.monotonic() when readiness was noticed


def probe(endpoint: Endpoint, path: str, timeout: float) -> Probe:
    """GET the health route once."""
    connection = endpoint.connection(timeout)
    try:
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        body = response.read(4096)
        return Probe(response.status, short(body, 120))
    except ConnectionRefusedError:
        return Probe(None, "connection refused")
    except TimeoutError:
        return Probe(None, "timed out")
    except (ConnectionError, http.client.HTTPException, OSError) as exc:
        # Reset or closed mid-answer: the server is (re)starting its listener.
        return Probe(None, type(exc).__name__)
    finally:
        connection.close()


def interpret(contract: str, seen: Probe) -> State:
    """Map one probe to a state under `contract`."""
    if seen.status is None:
        # A closed port *is* the loading signal of refused-while-loading engines; under the
        # 503 contract it only means the listener is not bound yet.
        return "loading" if contract == "refused-while-loading" else "starting"
    if seen.status == 200:
        return "ready"
    if seen.status in (401, 403, 404, 405):
        return "broken"
    # 503 is the loading signal of the 503 contract; other answers (a 503 where refusals were
    # promised, a 502 from a proxy in front) may still settle, so keep waiting on them too.
    return "loading"


def wait_until_ready(
    endpoint: Endpoint,
    health_path: str,
    contract: str,
    timeout: float,
    *,
    exited: Callable[[], int | None] | None = None,
    on_poll: Callable[[State, Probe], None] | None = None,
    poll_interval: float = POLL_INTERVAL_S,
) -> Ready:
    """Poll `health_path` until 200; raise VerifyError on timeout, exit or a hopeless answer.

    `exited` returns the server's exit status once it has ended (None while it runs), so a
    server that dies while loading is reported at once rather than at the timeout.
    """
    if contract not in CONTRACTS:
        raise VerifyError(
            "bad-directory",
            f"unknown readiness contract '{contract}' in manifest.json",
            "re-render the directory with this version of llmgen",
        )
    start = time.monotonic()
    deadline = start + timeout
    polls = 0
    last = Probe(None, "not polled yet")
    while True:
        if exited is not None:
            code = exited()
            if code is not None:
                raise ServerExitedError(code)
        remaining = deadline - time.monotonic()
        last = probe(endpoint, health_path, max(0.001, min(PROBE_TIMEOUT_S, remaining)))
        polls += 1
        state = interpret(contract, last)
        if on_poll is not None:
            on_poll(state, last)
        now = time.monotonic()
        if state == "ready":
            return Ready(now - start, polls, now)
        if state == "broken":
            raise VerifyError(
                "not-ready",
                f"GET {endpoint.origin}{health_path} answered {last.status} ({last.detail}); "
                "that will not turn into readiness",
                "check that the health path and port in manifest.json belong to this server",
            )
        if now >= deadline:
            seen = f"HTTP {last.status}" if last.status is not None else last.detail
            raise VerifyError(
                "readiness-timeout",
                f"the server was not ready after {timeout:g} s "
                f"(last answer from {health_path}: {seen})",
                "raise --timeout if the model is large or still downloading",
            )
        time.sleep(min(poll_interval, max(0.0, deadline - now)))
