"""A test-side reader of systemd unit files, following systemd.syntax(7) and systemd.service(5).

It turns `ExecStart=` back into the argv systemd would execute, so tests can compare it with the
plan. Written from the documented rules (and systemd 252's parser where the docs are terse):

- a line ending in an unescaped backslash continues on the next line, the backslash read as a
  space; lines starting with `#` or `;` are comments;
- words are split on whitespace; `"..."` and `'...'` quote (also in the middle of a word), and
  C escapes (`\\n`, `\\xNN`, `\\uNNNN`, `\\UNNNNNNNN`, `\\NNN` octal, `\\s`, ...) are decoded
  inside and outside quotes;
- an unquoted lone `;` separates commands (refused here: a plan is one command);
- after unquoting, `%%` is a literal `%` and any other `%x` a specifier (refused here);
- at exec time `$$` is a literal `$`, and `$NAME` / `${NAME}` are expanded (refused here).

Anything the generator should never produce raises ValueError, so a quoting bug fails loudly.
"""

from __future__ import annotations

import re

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "s": " ",
}
_WHITESPACE = " \t\n\r"
_HEX = re.compile(r"[0-9a-fA-F]+")


def logical_lines(text: str) -> list[str]:
    """The unit's lines with continuations joined and comments dropped."""
    lines: list[str] = []
    pending: str | None = None
    for raw in text.split("\n"):
        stripped = raw.strip()
        if pending is None and (not stripped or stripped[0] in "#;"):
            continue
        if pending is not None and stripped[:1] in ("#", ";"):
            continue  # comments inside a continuation are skipped
        escaped = False
        for char in raw:
            escaped = (not escaped) and char == "\\"
        if escaped:
            pending = (pending or "") + raw[:-1] + " "
            continue
        lines.append((pending or "") + raw)
        pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def section_values(text: str, section: str, key: str) -> list[str]:
    """Every value of `key=` in `[section]`, in order (leading whitespace stripped)."""
    current = ""
    values = []
    for line in logical_lines(text):
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stripped[1:-1]
            continue
        name, sep, value = stripped.partition("=")
        if sep and current == section and name.strip() == key:
            values.append(value.lstrip())
    return values


def _unescape(text: str, index: int) -> tuple[str, int]:
    """Decode the C escape whose letter is at text[index]; return (char, next index)."""
    if index >= len(text):
        raise ValueError("a backslash ends the line")
    letter = text[index]
    if letter in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[letter], index + 1
    widths = {"x": 2, "u": 4, "U": 8}
    if letter in widths:
        digits = text[index + 1 : index + 1 + widths[letter]]
        if len(digits) != widths[letter] or not _HEX.fullmatch(digits):
            raise ValueError(f"bad \\{letter} escape")
        code = int(digits, 16)
        if code == 0:
            raise ValueError("systemd refuses \\x00")
        return chr(code), index + 1 + widths[letter]
    if letter in "01234567":
        digits = text[index : index + 3]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            raise ValueError("bad octal escape")
        return chr(int(digits, 8)), index + 3
    raise ValueError(f"unknown escape \\{letter}")


def split_words(value: str) -> list[str]:
    """systemd's extract_first_word(UNQUOTE | CUNESCAPE), repeated over the whole value."""
    words: list[str] = []
    index = 0
    while True:
        while index < len(value) and value[index] in _WHITESPACE:
            index += 1
        if index >= len(value):
            return words
        if value[index] == ";" and (index + 1 == len(value) or value[index + 1] in _WHITESPACE):
            raise ValueError("an unquoted ';' separates a second command")
        word: list[str] = []
        quote = ""
        while index < len(value):
            char = value[index]
            if quote:
                if char == quote:
                    quote = ""
                    index += 1
                elif char == "\\":
                    decoded, index = _unescape(value, index + 1)
                    word.append(decoded)
                else:
                    word.append(char)
                    index += 1
                continue
            if char in _WHITESPACE:
                break
            if char in "\"'":
                quote = char
                index += 1
            elif char == "\\":
                decoded, index = _unescape(value, index + 1)
                word.append(decoded)
            else:
                word.append(char)
                index += 1
        if quote:
            raise ValueError("unterminated quote")
        words.append("".join(word))


def undouble(text: str, char: str) -> str:
    """`char` doubled -> one `char`; a lone `char` would be expanded by the reader: an error.

    systemd reads `%%` this way in ExecStart=; compose and Kubernetes read `$$` so.
    """
    out = []
    index = 0
    while index < len(text):
        if text[index] == char:
            if text[index + 1 : index + 2] != char:
                raise ValueError(f"unescaped {char} in {text!r}")
            out.append(char)
            index += 2
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def resolve_specifiers(word: str) -> str:
    """`%%` -> `%`; any other specifier would be replaced by systemd, so it is an error here."""
    return undouble(word, "%")


def resolve_variables(word: str) -> str:
    """`$$` -> `$`; `$NAME` or `${NAME}` would be expanded at exec time, so it is an error."""
    out = []
    index = 0
    while index < len(word):
        if word[index] == "$":
            following = word[index + 1 : index + 2]
            if following == "$":
                out.append("$")
                index += 2
                continue
            if following == "{" or re.match(r"[A-Za-z_]", following):
                raise ValueError(f"unescaped variable reference in {word!r}")
        out.append(word[index])
        index += 1
    return "".join(out)


def exec_start_argv(unit_text: str) -> list[str]:
    """The argv systemd runs for the unit's single `ExecStart=`."""
    values = section_values(unit_text, "Service", "ExecStart")
    if len(values) != 1:
        raise ValueError(f"expected one ExecStart=, found {len(values)}")
    words = split_words(values[0])
    if not words:
        raise ValueError("empty ExecStart=")
    if words[0][:1] in "-@:+!":
        raise ValueError(f"ExecStart= prefix characters on {words[0]!r}")
    return [resolve_variables(resolve_specifiers(word)) for word in words]
