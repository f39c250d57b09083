"""The checks verify runs against a ready server; each returns a CheckResult, never raises."""

from __future__ import annotations

import ast
import contextlib
import http.client
import json
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmgen.records import record
from llmgen.verify.http import Endpoint, HttpStatusError, short

if TYPE_CHECKING:
    from llmgen.verify.clients import ClientRun

PROMPT = "Say hello in one short sentence."
STREAM_MAX_TOKENS = 32
CLIENT_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0

_NETWORK_ERRORS = (OSError, http.client.HTTPException, ValueError)


@record
class CheckResult:
    """One check: passed or not, how long it took, what it saw, and how to fix a failure."""

    name: str
    ok: bool
    seconds: float
    detail: str
    hint: str = ""
    skipped: bool = False  # could not run here (never a pass): detail says why, hint the fix

    @property
    def status(self) -> str:
        """'pass', 'fail' or 'skip'."""
        return "skip" if self.skipped else ("pass" if self.ok else "fail")


@record
class StreamStats:
    """What the streaming check measured."""

    content_chunks: int
    tokens: int  # the server's usage count when it sends one, else the content chunks
    first_token_s: float | None  # request sent -> first content chunk
    # Completion tokens / (request sent -> last chunk): end to end for one request. Chunk
    # arrival times alone cannot give a decode rate: servers often flush several at once.
    tokens_per_second: float | None


def client_model_name(client_py: Path) -> str | None:
    """The `MODEL = "..."` constant of a generated clients/client.py, or None."""
    try:
        tree = ast.parse(client_py.read_text("utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "MODEL" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return node.value.value
    return None


def _timed(name: str, body: Callable[[], tuple[bool, str, str]]) -> CheckResult:
    start = time.monotonic()
    try:
        ok, detail, hint = body()
    except HttpStatusError as exc:
        ok, detail, hint = False, f"answered HTTP {exc.status}: {short(exc.body)}", ""
    except _NETWORK_ERRORS as exc:
        ok, detail = False, f"no usable answer ({type(exc).__name__}: {exc})"
        hint = "the server may have stopped; see the log"
    return CheckResult(name, ok, time.monotonic() - start, detail, hint)


def check_models(
    endpoint: Endpoint, served_name: str, client_name: str | None, api_key: str | None
) -> CheckResult:
    """`/v1/models` lists exactly the name the generated clients send."""

    def body() -> tuple[bool, str, str]:
        if client_name is not None and client_name != served_name:
            return (
                False,
                f"clients/client.py sends '{client_name}' but manifest.json says '{served_name}'",
                "re-render the directory with llmgen render",
            )
        response = endpoint.request(
            "GET", endpoint.base_path + "/models", api_key=api_key, timeout=REQUEST_TIMEOUT_S
        )
        if response.status != 200:
            return False, f"GET /models answered HTTP {response.status}", ""
        data = response.json().get("data")
        ids = [str(item.get("id")) for item in data if isinstance(item, dict)] if data else []
        if served_name in ids:
            others = [i for i in ids if i != served_name]
            extra = f" (also {', '.join(repr(i) for i in others)})" if others else ""
            return True, f"lists '{served_name}'{extra}", ""
        listed = ", ".join(repr(i) for i in ids) or "nothing"
        return (
            False,
            f"the server serves {listed}, but the generated clients send '{served_name}'",
            "make model.served_name match what the server serves, "
            "or check that this address runs this deployment",
        )

    return _timed("models", body)


def check_client(
    client_py: Path,
    *,
    base_url: str,
    key_env: str | None,
    api_key: str | None,
    python: str,
    env: Mapping[str, str],
    timeout: float = CLIENT_TIMEOUT_S,
) -> CheckResult:
    """Run the generated clients/client.py and expect it to print a completion."""
    from llmgen.verify.clients import python_client

    run = python_client(client_py, python)
    return _run_client(
        run, base_url=base_url, key_env=key_env, api_key=api_key, env=env, timeout=timeout
    )


def check_clients(
    clients_dir: Path,
    *,
    base_url: str,
    key_env: str | None,
    api_key: str | None,
    python: str,
    env: Mapping[str, str],
    timeout: float = CLIENT_TIMEOUT_S,
) -> list[CheckResult]:
    """Run every generated client this machine can run; the others are skipped with the fix."""
    from llmgen.verify.clients import all_clients

    return [
        _run_client(
            run, base_url=base_url, key_env=key_env, api_key=api_key, env=env, timeout=timeout
        )
        for run in all_clients(clients_dir, python, env)
    ]


def _run_client(
    run: ClientRun,
    *,
    base_url: str,
    key_env: str | None,
    api_key: str | None,
    env: Mapping[str, str],
    timeout: float,
) -> CheckResult:
    name = run.name
    if run.missing is not None:
        return CheckResult(name, False, 0.0, run.missing, run.fix, skipped=True)

    def body() -> tuple[bool, str, str]:
        child_env = dict(env, LLM_BASE_URL=base_url)
        if key_env and api_key:
            child_env[key_env] = api_key
        try:
            done = subprocess.run(
                [*run.argv, PROMPT],
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=child_env,
                stdin=subprocess.DEVNULL,
                cwd=run.cwd,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"{name} printed nothing within {timeout:g} s", ""
        finally:
            run.cleanup()
        printed = done.stdout.strip()
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if line.strip()]
            last = errors[-1].strip() if errors else "(nothing on stderr)"
            return False, f"{name} exited with status {done.returncode}: {last}", ""
        if printed in ("", "None", "null"):
            return False, f"{name} printed no completion", "see the server log"
        first = " ".join(printed.split())
        return True, f"printed {first[:60]!r}" + ("..." if len(first) > 60 else ""), ""

    result = _timed(name, body)
    missing = run.missing_from(result.detail)
    if missing is not None:  # e.g. `No module named 'openai'` in a foreign interpreter
        return CheckResult(name, False, result.seconds, missing[0], missing[1], skipped=True)
    return result


def _chat_body(model: str, max_tokens: int, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def check_stream(
    endpoint: Endpoint, served_name: str, api_key: str | None
) -> tuple[CheckResult, StreamStats | None]:
    """A streamed chat completion arrives in more than one chunk; measures first token and rate."""
    stats: list[StreamStats] = []
    path = endpoint.base_path + "/chat/completions"

    def body() -> tuple[bool, str, str]:
        request = _chat_body(served_name, STREAM_MAX_TOKENS, stream=True)
        try:
            found = _read_stream(endpoint, path, request, api_key)
        except HttpStatusError as exc:
            if exc.status not in (400, 422):
                raise
            # An older server may refuse stream_options; usage is optional for this check.
            del request["stream_options"]
            found = _read_stream(endpoint, path, request, api_key)
        stats.append(found)
        if found.content_chunks > 1:
            first = found.first_token_s or 0.0
            return True, f"{found.content_chunks} chunks, first after {first * 1000:.0f} ms", ""
        if found.content_chunks == 1:
            return False, "the whole answer arrived in one chunk (not streamed)", ""
        return False, "the stream carried no text", "see the server log"

    result = _timed("stream", body)
    return result, (stats[0] if stats else None)


def _read_stream(
    endpoint: Endpoint, path: str, request: dict[str, Any], api_key: str | None
) -> StreamStats:
    start = time.monotonic()
    chunks = 0
    usage_tokens: int | None = None
    first_at = last_at = 0.0
    events = endpoint.stream(path, request, api_key=api_key, timeout=REQUEST_TIMEOUT_S)
    with contextlib.closing(events):
        for at, data in events:
            if data == "[DONE]":
                break
            event = json.loads(data)
            usage = event.get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                usage_tokens = usage["completion_tokens"]
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    chunks += 1
                    first_at = first_at or at
                    last_at = at
    tokens = usage_tokens if usage_tokens is not None else chunks
    rate = tokens / (last_at - start) if tokens and last_at > start else None
    first = first_at - start if first_at else None
    return StreamStats(chunks, tokens, first, rate)


def check_auth(
    endpoint: Endpoint, served_name: str, key_env: str, api_key: str | None
) -> CheckResult:
    """Without the API key a request is refused; with it the same request succeeds."""
    path = endpoint.base_path + "/chat/completions"

    def body() -> tuple[bool, str, str]:
        if not api_key:
            return False, f"{key_env} is not set, so the key is unknown", f"export {key_env}=..."
        request = _chat_body(served_name, 1, stream=False)
        without = endpoint.request("POST", path, body=request, timeout=REQUEST_TIMEOUT_S)
        with_key = endpoint.request(
            "POST", path, body=request, api_key=api_key, timeout=REQUEST_TIMEOUT_S
        )
        detail = f"without the key: HTTP {without.status}; with it: HTTP {with_key.status}"
        if without.status not in (401, 403):
            return False, detail, "the server does not check the key: is the key variable exported?"
        if with_key.status != 200:
            return False, detail, f"the server refuses the key in {key_env}"
        return True, detail, ""

    return _timed("auth", body)
