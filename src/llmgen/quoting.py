"""Quoting rules, one per target syntax. argv stays a list until one of these runs.

Each function takes one argument and returns text that the target's parser turns back into
exactly that one argument, with no expansion of any kind.
"""

from __future__ import annotations

import json
import re
import shlex

_SYSTEMD_BARE = re.compile(r"[A-Za-z0-9_./:=,@+-]+")


def shell_word(value: str) -> str:
    """POSIX shell: a single word, never expanded."""
    return shlex.quote(value)


def systemd_word(value: str) -> str:
    """One word of a systemd ExecStart= line.

    systemd expands `%` specifiers and `$VAR` in ExecStart= even inside quotes, so both are
    doubled; anything beyond a safe bare set is double-quoted with C-style escapes.
    """
    escaped = value.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_BARE.fullmatch(escaped):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_assignment(key: str, value: str) -> str:
    """A `KEY=value` item for Environment=, quoted as one word (only `%` is expanded there)."""
    text = f"{key}={value}".replace("%", "%%")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def json_string(value: object) -> str:
    """JSON text: Dockerfile exec form, JSON/YAML/Python/JavaScript string literals."""
    return json.dumps(value)


def compose_string(value: str) -> str:
    """A double-quoted YAML scalar for docker compose, which expands `$VAR` unless doubled."""
    return json.dumps(value.replace("$", "$$"))


def group_flag_values(args: tuple[str, ...] | list[str]) -> list[list[str]]:
    """Split an argument list into display lines: a flag with its value, or a lone argument.

    Purely cosmetic (one line per option reads well); the quoting of each item is unchanged.
    """
    lines: list[list[str]] = []
    for arg in args:
        if lines and _is_flag(lines[-1][0]) and len(lines[-1]) == 1 and not _is_flag(arg):
            lines[-1].append(arg)
        else:
            lines.append([arg])
    return lines


def _is_flag(arg: str) -> bool:
    return arg.startswith("-") and len(arg) > 1 and not arg[1:].replace(".", "").isdigit()
