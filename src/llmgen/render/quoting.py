"""Quoting rules, one per target syntax. argv stays a list until one of these runs.

Each function takes one argument and returns text that the target's parser turns back into
exactly that one argument, with no expansion of any kind. Characters that a target cannot
carry literally (newlines, other control and non-printable characters) are written as that
target's escape sequence, so no value can end a line, a quoted string or a directive early.
"""

from __future__ import annotations

import json
import re
import shlex

_SYSTEMD_BARE = re.compile(r"[A-Za-z0-9_./:=,@+-]+")


def _escape_unprintable(char: str, *, short_x: bool = True) -> str:
    """A C-style escape for `char`: \\xNN, \\uNNNN or \\UNNNNNNNN."""
    code = ord(char)
    if code < 0x80 and short_x:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _is_literal(char: str) -> bool:
    # Printable per Unicode: not a control, format (so not the BOM), separator or surrogate
    # character; the plain space is the one separator Python counts as printable. Everything
    # else is escaped.
    return char.isprintable()


def shell_word(value: str) -> str:
    """POSIX shell: a single word, never expanded (single quotes carry every byte literally)."""
    return shlex.quote(value)


def _double_quoted(text: str) -> str:
    """`text` in double quotes with C escapes: the common form of systemd and Python strings."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif _is_literal(char):
            out.append(char)
        else:
            out.append(_escape_unprintable(char))
    return '"' + "".join(out) + '"'


def _systemd_quoted(text: str) -> str:
    """A double-quoted systemd word with C escapes (systemd.syntax(7), "Quoting")."""
    if "\x00" in text:
        raise ValueError("systemd cannot carry a NUL character")
    return _double_quoted(text)


def systemd_word(value: str) -> str:
    """One word of a systemd ExecStart= line.

    systemd expands `%` specifiers and `$VAR` in ExecStart= even inside quotes, so both are
    doubled; anything beyond a safe bare set is double-quoted with C-style escapes.
    """
    escaped = value.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_BARE.fullmatch(escaped):
        return escaped
    return _systemd_quoted(escaped)


def systemd_assignment(key: str, value: str) -> str:
    """A `KEY=value` item for Environment=, quoted as one word (only `%` is expanded there)."""
    return _systemd_quoted(f"{key}={value}".replace("%", "%%"))


def json_string(value: object) -> str:
    """JSON text: Dockerfile exec form and JavaScript string literals (ASCII-only output)."""
    return json.dumps(value)


def python_string(value: str) -> str:
    """A Python string literal, double-quoted (as ruff format writes it), that evaluates to value.

    Unlike JSON, whose `\\uD83D\\uDE00` surrogate pairs Python would read as two broken
    characters, characters beyond the BMP are written literally or as `\\UNNNNNNNN`.
    """
    return _double_quoted(value)


def yaml_string(value: str) -> str:
    """A double-quoted YAML scalar that every YAML 1.1 and 1.2 parser reads back as `value`.

    Always quoted, so a value such as `no`, `null`, `1e3` or `*ref` stays a string; line
    breaks of any kind (including NEL and U+2028, which YAML 1.1 folds) are escaped.
    """
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif _is_literal(char):  # U+FEFF (BOM, a format character) is escaped here too
            out.append(char)
        else:
            out.append(_escape_unprintable(char))
    return '"' + "".join(out) + '"'


def compose_string(value: str) -> str:
    """A YAML scalar for docker compose, which interpolates `$VAR` / `${VAR}` unless `$$`."""
    return yaml_string(value.replace("$", "$$"))


def kubernetes_string(value: str) -> str:
    """A YAML scalar for a container's args or env value, where Kubernetes expands `$(VAR)`.

    Kubernetes turns `$$` into `$`, so doubling every `$` leaves the value inert.
    """
    return yaml_string(value.replace("$", "$$"))


def dockerfile_env_value(value: str) -> str:
    """The value of a Dockerfile `ENV KEY=value`: double-quoted, `$` not substituted.

    Inside double quotes the Dockerfile lexer only treats a backslash before `"`, `$` or `\\`
    as an escape; a line cannot carry control characters at all.
    """
    if any(not _is_literal(char) for char in value):
        raise ValueError(f"a Dockerfile ENV value cannot carry control characters: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return '"' + escaped + '"'


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
