"""The spec's `client:` section: its bounds, each engine's narrower limits, and the values
reaching client.py, client.mjs and client.sh as literals and on the wire.

Expected values come from the spec written here and, for TGI, from its router's source at
v3.3.7 (github.com/huggingface/text-generation-inference, tag v3.3.7):

- router/src/validation.rs:258-264: `top_p` must be > 0.0 and < 1.0 (1.0 is only its default);
- router/src/lib.rs:960: `repetition_penalty = presence_penalty.map(|x| x + 2.0)`, and
  router/src/validation.rs:246-249 refuses a repetition_penalty <= 0, so presence_penalty > -2;
- router/src/lib.rs:966-969: temperature 0 means greedy (so validation.rs:242's
  `temperature <= 0.0` never sees it);
- router/src/validation.rs:251-254: frequency_penalty within [-2, 2];
- launcher/src/main.rs:662-663: `--max-stop-sequences` defaults to 4.

llama.cpp and vLLM accept the whole OpenAI range: tests/verify/test_clients_llamacpp.py and
tests/verify/test_verify_vllm.py run verify (every client) with the extreme values against the real
engines.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmgen.errors import Severity, SpecError
from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_text
from tests.support.bundles import require_tool, write_files

CLIENT = {
    "system_prompt": "Be \"brief\".\n\tNo $HOME, `id`, ${x}, \\n or 'quotes' \u00e9.",
    "temperature": 0.7,
    "top_p": 0.95,
    "max_tokens": 100,
    "frequency_penalty": 0.5,
    "presence_penalty": -0.5,
    "stop": ["\n\n", "User:", "'", "\\"],
    "seed": 4294967295,
    "stream": True,
}
SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "frequency_penalty", "presence_penalty")


def spec_text(engine: str = "llamacpp", **client: Any) -> str:
    model = (
        {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"}
        if engine == "llamacpp"
        else {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"}
    )
    spec = {
        "name": "client-test",
        "engine": engine,
        "model": model,
        "runtime": {"context_length": 1024},
        "client": client,
    }
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        validate_text(text, "spec.yaml")
    return [
        f"{d.path}: {d.message}" for d in caught.value.diagnostics if d.severity is Severity.ERROR
    ]


# --- bounds ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("temperature", 2.01),
        ("temperature", -0.1),
        ("temperature", True),  # a YAML boolean is not a number
        ("temperature", "0.7"),  # nor is a string
        ("top_p", 0),
        ("top_p", 1.01),
        ("max_tokens", 0),
        ("max_tokens", 1.5),
        ("frequency_penalty", 2.5),
        ("presence_penalty", -2.5),
        ("stop", ["a", "b", "c", "d", "e"]),  # the OpenAI API's limit, and TGI's default
        ("stop", [""]),
        ("stop", "User:"),  # a list, not a string
        ("seed", -1),
        ("seed", 2**32),  # llama.cpp keeps the seed in 32 bits
        ("stream", "yes"),
        ("system_prompt", "bell \x07 here"),
        ("system_prompt", ""),
        ("top_k", 40),  # not a field: unknown keys are errors
    ],
)
def test_values_outside_the_api_range_are_refused(key: str, value: object) -> None:
    found = errors_of(spec_text(**{key: value}))
    assert any(line.startswith(f"client.{key}") for line in found), found


def test_the_whole_openai_range_is_valid_for_llamacpp_and_vllm() -> None:
    extremes = {
        "temperature": 2,
        "top_p": 1,
        "frequency_penalty": -2,
        "presence_penalty": -2,
        "max_tokens": 1023,
        "seed": 0,
        "stop": ["a", "b", "c", "d"],
    }
    for engine in ("llamacpp", "vllm"):
        spec = validate_text(spec_text(engine, **extremes), "spec.yaml").spec
        assert spec.client.top_p == 1 and spec.client.presence_penalty == -2


def test_max_tokens_must_leave_room_for_the_prompt() -> None:
    for engine in ("llamacpp", "vllm", "tgi"):
        found = errors_of(spec_text(engine, max_tokens=1024))
        assert found == [
            "client.max_tokens: 1024 leaves no room for the prompt in runtime.context_length "
            "(1024): the engine refuses such requests"
        ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("top_p", 1.0, "TGI refuses top_p 1.0"),  # router/src/validation.rs:258-264
        ("presence_penalty", -2.0, "TGI refuses presence_penalty -2"),  # lib.rs:960
    ],
)
def test_tgi_limits_from_its_router(key: str, value: float, message: str) -> None:
    found = errors_of(spec_text("tgi", **{key: value}))
    assert len(found) == 1 and found[0].startswith(f"client.{key}: {message}"), found


def test_tgi_accepts_what_its_router_accepts() -> None:
    accepted = {
        "temperature": 0,  # lib.rs:966-969: greedy
        "top_p": 0.99,  # validation.rs:258-264: below 1
        "frequency_penalty": 2,  # validation.rs:251-254: within [-2, 2]
        "presence_penalty": -1.99,  # lib.rs:960: repetition_penalty 0.01 > 0
        "stop": ["a", "b", "c", "d"],  # launcher/src/main.rs:662-663: at most 4
        "seed": 2**32 - 1,  # u64 in the router
    }
    validate_text(spec_text("tgi", **accepted), "spec.yaml")


# --- literals --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = validate_text(spec_text("llamacpp", **CLIENT), "spec.yaml").spec
    out = tmp_path_factory.mktemp("clients")
    write_files(render(spec).files, out)
    return out / "clients"


def python_constants(path: Path) -> dict[str, object]:
    found = {}
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name) and node.value is not None:
                with contextlib.suppress(ValueError):  # BASE_URL = os.environ.get(...)
                    found[target.id] = ast.literal_eval(node.value)
    return found


def test_python_literals_are_the_spec_values(clients: Path) -> None:
    constants = python_constants(clients / "client.py")
    for key, value in CLIENT.items():
        assert constants[key.upper()] == value, key


def test_javascript_literals_are_the_spec_values(clients: Path) -> None:
    source = (clients / "client.mjs").read_text("utf-8")
    prompt = re.search(r"^const SYSTEM_PROMPT = (.*); //", source, re.MULTILINE)
    assert prompt and json.loads(prompt.group(1)) == CLIENT["system_prompt"]
    assert re.search(r"^const STREAM = true;", source, re.MULTILINE)
    block = source.split("const SAMPLING = {\n", 1)[1].split("\n};", 1)[0]
    sampling = dict(
        (key, json.loads(value.rstrip(",")))
        for key, value in (line.strip().split(": ", 1) for line in block.splitlines())
    )
    assert sampling == {k: v for k, v in CLIENT.items() if k not in ("system_prompt", "stream")}


def test_shell_literals_are_the_spec_values(clients: Path) -> None:
    source = (clients / "client.sh").read_text("utf-8")
    settings = source.split("# Sent with every request", 1)[1].split("\n", 1)[1]
    settings = settings.split("\nfail() {", 1)[0]
    names = ["system_prompt", "stream", *SAMPLING_KEYS, "seed", "stop"]
    # bash itself reads the assignments: what it gets is what the script sends.
    script = settings + "\n" + "".join(f'printf "%s\\0" "${name}"\n' for name in names)
    done = subprocess.run(["bash", "-c", script], capture_output=True, check=True, timeout=600)
    values = dict(zip(names, done.stdout.decode().split("\0")[:-1], strict=True))
    assert values.pop("system_prompt") == CLIENT["system_prompt"]
    assert values.pop("stream") == "true"
    assert {k: json.loads(v) for k, v in values.items()} == {
        k: v for k, v in CLIENT.items() if k not in ("system_prompt", "stream")
    }


# --- on the wire -----------------------------------------------------------------------------


# What the server answers: JSON escapes (quote, backslash, newline, \\u20ac) that client.sh
# decodes with bash alone.
REPLY = ["Hi", ' "the\\re"', "\n\u20ac!"]


class RecordingServer:
    """Records each chat request body and answers with a fixed OpenAI-style completion."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                recorder.bodies.append(body)
                if body.get("stream"):
                    events = [
                        {"choices": [{"index": 0, "delta": {"content": word}}]} for word in REPLY
                    ]
                    text = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
                    payload = (text + "data: [DONE]\n\n").encode()
                    kind = "text/event-stream"
                else:
                    message = {"role": "assistant", "content": "".join(REPLY)}
                    answer = {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    }
                    payload = json.dumps(answer).encode()
                    kind = "application/json"
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> RecordingServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def recorder() -> Iterator[RecordingServer]:
    with RecordingServer() as server:
        yield server


def client_command(clients: Path, name: str) -> list[str]:
    from llmgen.verify.clients import node_client

    if name == "client.py":
        import sys

        return [sys.executable, str(clients / name)]
    if name == "client.sh":
        return ["bash", str(clients / name)]
    run = node_client(clients / name, dict(__import__("os").environ))
    assert run.missing is None, f"{run.missing} ({run.fix}): bootstrap installs it"
    return run.argv


@pytest.mark.parametrize("name", ["client.py", "client.sh", "client.mjs"])
def test_every_client_sends_the_spec_values(
    clients: Path, recorder: RecordingServer, name: str
) -> None:
    import os

    done = subprocess.run(
        [*client_command(clients, name), "my", "question"],
        env=dict(os.environ, LLM_BASE_URL=recorder.url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Streamed (stream: true in the spec) and decoded, then a newline.
    assert done.stdout == "".join(REPLY) + "\n"
    (body,) = recorder.bodies
    assert body["messages"] == [
        {"role": "system", "content": CLIENT["system_prompt"]},
        {"role": "user", "content": "my question"},
    ]
    assert body["model"] == "bartowski/SmolLM2-360M-Instruct-GGUF"
    assert body["stream"] is True
    for key in (*SAMPLING_KEYS, "seed", "stop"):
        assert body[key] == CLIENT[key], key


HOSTILE_PROMPT = 'a "quoted" \\ back\\nslash\nnew line\ttab $(id) `id` ${HOME} \x01 é 😀 \u2028'


@pytest.mark.parametrize("name", ["client.py", "client.sh", "client.mjs"])
def test_a_hostile_prompt_arrives_unchanged(
    clients: Path, recorder: RecordingServer, name: str
) -> None:
    """client.sh encodes JSON with bash alone: quotes, backslashes, control characters and
    non-ASCII reach the server exactly as given, nothing is expanded."""
    import os

    done = subprocess.run(
        [*client_command(clients, name), HOSTILE_PROMPT],
        env=dict(os.environ, LLM_BASE_URL=recorder.url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (body,) = recorder.bodies
    assert body["messages"][-1] == {"role": "user", "content": HOSTILE_PROMPT}


# `SYSTEM_PROMPT: str | None = "..."` is 28 + 2 + n characters: one line up to n = 58 (88,
# ruff format's default width); parenthesized, 4 + 2 + n, up to n = 82; beyond, split.
WORDS = "You are a terse assistant " * 40
LAYOUT_PROMPTS = {
    **{f"words-{n}": WORDS[:n] for n in (58, 59, 82, 83, 86, 87, 88, 150, 1000)},
    "no-space-300": "x" * 300,
    "double-quotes": 'Say "hi" and "bye" ' * 10,
    "more-double-than-single": 'it\'s "x"',
    "escapes": "tab\tnew\nline back\\slash \u00e9 \U0001f600 bell " * 8,
}


@pytest.fixture(scope="module")
def layout_clients(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    found = {}
    for key, prompt in LAYOUT_PROMPTS.items():
        spec = validate_text(spec_text("llamacpp", system_prompt=prompt), "spec.yaml").spec
        out = tmp_path_factory.mktemp(key)
        write_files(render(spec).files, out)
        found[key] = out / "clients" / "client.py"
    return found


def test_client_py_passes_ruff_format_for_any_system_prompt(
    layout_clients: dict[str, Path],
) -> None:
    # Failed before for a prompt of 83+ characters (ruff 0.17 parenthesizes a too-long annotated
    # string even when it stays too long) and for any prompt with more " than ' (ruff picks
    # single quotes then).
    ruff = require_tool("ruff", "pip install ruff")
    files = [str(path) for path in layout_clients.values()]
    done = subprocess.run(
        [ruff, "format", "--isolated", "--no-cache", "--check", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for key, path in layout_clients.items():
        assert python_constants(path)["SYSTEM_PROMPT"] == LAYOUT_PROMPTS[key], key


def test_client_py_lays_a_long_system_prompt_out_as_ruff_does(
    layout_clients: dict[str, Path],
) -> None:
    def assignment(key: str) -> str:
        text = layout_clients[key].read_text("utf-8")
        return text[text.index("SYSTEM_PROMPT:") : text.index("STREAM =")]

    assert assignment("words-58") == f'SYSTEM_PROMPT: str | None = "{WORDS[:58]}"\n'
    assert assignment("words-59") == f'SYSTEM_PROMPT: str | None = (\n    "{WORDS[:59]}"\n)\n'
    assert assignment("words-82") == f'SYSTEM_PROMPT: str | None = (\n    "{WORDS[:82]}"\n)\n'
    # 83 characters: pieces of at most 84 - 2 quotes = 82 characters, cut after the last space
    # that fits (WORDS[81] is a space).
    assert assignment("words-83") == (
        f'SYSTEM_PROMPT: str | None = (\n    "{WORDS[:82]}"\n    "{WORDS[82:83]}"\n)\n'
    )
    assert assignment("more-double-than-single") == "SYSTEM_PROMPT: str | None = 'it\\'s \"x\"'\n"
