"""The client section as the generated clients print it: the values every request sends,
and each language's literal for them."""

from __future__ import annotations

import json
import re

from llmgen.records import record
from llmgen.render.quoting import python_string, shell_word
from llmgen.spec.models import Spec

DEFAULT_MAX_TOKENS = 256
PYTHON_LINE_LENGTH = 88  # ruff format's default, which the generated client.py passes


def effective_max_tokens(spec: Spec) -> int:
    """What the clients send as max_tokens: the spec's value, or a default that fits the context."""
    given = spec.client.max_tokens
    if given is not None:
        return given
    return min(DEFAULT_MAX_TOKENS, spec.runtime.context_length // 2)


@record
class ClientContext:
    """What the client templates need beyond the plan: the values every request sends."""

    system_prompt: str | None
    stream: bool
    # (OpenAI parameter, value) in a fixed order; only the values the spec sets, plus max_tokens.
    sampling: tuple[tuple[str, object], ...]
    start_hint: str  # how to start the deployment, for the "server down" error

    @staticmethod
    def python_assignment(target: str, value: object) -> str:
        """`target = literal`, laid out as ruff format would (the client passes its check)."""
        literal = python_literal(value)
        line = f"{target} = {literal}"
        if len(line) <= PYTHON_LINE_LENGTH or "\n" in literal:
            return line
        if len(literal) + 4 <= PYTHON_LINE_LENGTH:  # it fits once wrapped in parentheses
            return f"{target} = (\n    {literal}\n)"
        if isinstance(value, str):
            # Too long even in parentheses: pieces that each fit, concatenated implicitly. ruff
            # keeps such a split as it is, while a lone over-long string is parenthesized by
            # some ruff versions and left bare by others (annotated or not).
            pieces = "".join(f"    {piece}\n" for piece in _string_pieces(value))
            return f"{target} = (\n{pieces})"
        return line  # too long either way: the formatter leaves it on one line


def client_context(spec: Spec) -> ClientContext:
    """The client section as the templates use it."""
    client = spec.client
    values: list[tuple[str, object]] = [("max_tokens", effective_max_tokens(spec))]
    for key in ("temperature", "top_p", "frequency_penalty", "presence_penalty", "seed"):
        value = getattr(client, key)
        if value is not None:
            values.append((key, value))
    if client.stop:
        values.append(("stop", list(client.stop)))
    return ClientContext(
        system_prompt=client.system_prompt,
        stream=client.stream,
        sampling=tuple(values),
        start_hint="start it with ./launch.sh or ./docker-run.sh in the deployment folder",
    )


def _string_pieces(value: str) -> list[str]:
    """String literals, each at most PYTHON_LINE_LENGTH - 4 long, that concatenate to value;
    a piece ends after a space where one is near, so words stay whole."""
    width = PYTHON_LINE_LENGTH - 4
    pieces: list[str] = []
    rest = value
    while rest:
        end = 1
        while end < len(rest) and len(python_literal(rest[: end + 1])) <= width:
            end += 1
        if end < len(rest):
            space = rest.rfind(" ", 0, end)
            if space >= end // 2:
                end = space + 1
        pieces.append(python_literal(rest[:end]))
        rest = rest[end:]
    return pieces


def python_literal(value: object) -> str:
    """A Python literal for a client value (None, bool, number, string, list of strings)."""
    if isinstance(value, str):
        # ruff format's quotes: double, unless single quotes need fewer escapes.
        quote = "'" if value.count('"') > value.count("'") else '"'
        # Newline, tab and CR as the escapes people read (\n, not \x0a); the rest as the
        # generated files' one Python quoting rule writes it.
        pieces = [
            {"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(piece)
            or "".join(_in_quotes(char, quote) for char in piece)
            for piece in re.split(r"([\n\t\r])", value)
        ]
        return quote + "".join(pieces) + quote
    if isinstance(value, list):
        # One item per line with a trailing comma: readable, and ruff format keeps it so.
        return "[\n" + "".join(f"    {python_literal(item)},\n" for item in value) + "]"
    return repr(value)  # None, True/False, int, float: repr is the literal


def _in_quotes(char: str, quote: str) -> str:
    """One character inside a `quote`-quoted Python literal."""
    if char in "'\"":
        return "\\" + char if char == quote else char
    return python_string(char)[1:-1]


def javascript_literal(value: object) -> str:
    """A JavaScript literal for a client value (JSON is valid JavaScript)."""
    return json.dumps(value)


def shell_literal(value: object) -> str:
    """A client.sh assignment value: JSON text (what goes into the request), shell-quoted."""
    if value is None:
        return "''"
    return shell_word(value if isinstance(value, str) else json.dumps(value))
