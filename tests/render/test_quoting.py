"""Each quoting rule, checked against an independent reader of its target syntax.

Every value of a hostile corpus is quoted and read back by something that is not llmgen: real
bash for shell words, the test-side systemd reader (tests/support/systemd_syntax.py, written
from systemd.syntax(7)), json, ast.literal_eval, PyYAML, and a Dockerfile double-quote
reader written here from the Dockerfile reference. Exact outputs pin what the readers cannot
tell apart. Fast on purpose: this module is what the mutation benchmark runs for quoting.py.
"""

from __future__ import annotations

import ast
import json
import subprocess

import pytest
import yaml

from llmgen.render import quoting
from tests.support.systemd_syntax import (
    resolve_specifiers,
    resolve_variables,
    split_words,
    undouble,
)

CORPUS = [
    "",
    "plain",
    "with space",
    "it's",
    'say "hi"',
    "back\\slash",
    "trailing\\",
    "$HOME",
    "${X}",
    "$(id)",
    "$$",
    "`id`",
    "%h %% %",
    "a;b && c | d > e",
    "* ? [a] ~ #c !x",
    "\n",
    "line\r\nbreak",
    "\t",
    "\x01",
    "\x1b[31m",
    "\x7f",
    "\x85",  # NEL: YAML 1.1 folds it
    "\xa0",
    "\u2028\u2029",
    "\ufeff",
    "\u200b",  # a format character: not printable
    "é 日本",
    "😀",
    "\U000e0001",  # a tag character beyond the BMP, not printable
    "no",
    "null",
    "1e3",
    "*ref",
    "-",
    "--flag=$x",
]
NO_NUL = CORPUS
PRINTABLE = [v for v in CORPUS if all(c == " " or c.isprintable() for c in v)]


def test_shell_word_is_one_literal_word_for_bash() -> None:
    """bash receives each quoted value as exactly one argument, unexpanded."""
    words = " ".join(quoting.shell_word(value) for value in CORPUS)
    done = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {words}"],
        capture_output=True,
        check=True,
        env={"HOME": "/nowhere", "X": "expanded", "PATH": "/usr/bin:/bin"},
        timeout=600,
    )
    assert done.stdout.decode().split("\0")[:-1] == CORPUS


def test_systemd_word_reads_back_as_one_word() -> None:
    for value in NO_NUL:
        word = quoting.systemd_word(value)
        assert [resolve_variables(resolve_specifiers(w)) for w in split_words(word)] == [value]


def test_systemd_word_bare_when_safe_and_quoted_otherwise() -> None:
    assert quoting.systemd_word("/opt/vllm/bin/vllm") == "/opt/vllm/bin/vllm"
    assert quoting.systemd_word("--port=8000,a@b+c-d:e") == "--port=8000,a@b+c-d:e"
    assert quoting.systemd_word("50%") == '"50%%"'
    assert quoting.systemd_word("$X") == '"$$X"'
    assert quoting.systemd_word("a b") == '"a b"'
    assert quoting.systemd_word("") == '""'
    with pytest.raises(ValueError, match=r"^systemd cannot carry a NUL character$"):
        quoting.systemd_word("a\x00b")


def test_systemd_assignment_reads_back() -> None:
    for value in NO_NUL:
        item = quoting.systemd_assignment("KEY", value)
        words = split_words(item)
        assert len(words) == 1
        # Environment= expands only % specifiers; a $ stays literal there.
        assert undouble(words[0], "%") == f"KEY={value}"


def test_systemd_assignment_refuses_nul() -> None:
    with pytest.raises(ValueError, match=r"^systemd cannot carry a NUL character$"):
        quoting.systemd_assignment("KEY", "\x00")


def test_json_string_reads_back_and_is_ascii() -> None:
    for value in CORPUS:
        text = quoting.json_string(value)
        assert json.loads(text) == value
        assert text.isascii()


def test_python_string_reads_back() -> None:
    for value in CORPUS:
        text = quoting.python_string(value)
        assert ast.literal_eval(text) == value
        assert text.startswith('"') and text.endswith('"')
        assert "\n" not in text and "\r" not in text


def test_python_string_escapes_exactly() -> None:
    assert quoting.python_string("\x01") == '"\\x01"'
    assert quoting.python_string("\x7f") == '"\\x7f"'
    assert quoting.python_string("\x85") == '"\\u0085"'
    # The edges of each escape form: \xNN below U+0080, \uNNNN up to U+FFFF, \U beyond.
    assert quoting.python_string("\x80") == '"\\u0080"'
    assert quoting.python_string("\uffff") == '"\\uffff"'
    assert quoting.python_string("a b") == '"a b"'
    assert quoting.python_string("\u2028") == '"\\u2028"'
    assert quoting.python_string("\U000e0001") == '"\\U000e0001"'
    assert quoting.python_string('a"b\\c') == '"a\\"b\\\\c"'
    assert quoting.python_string("é 😀") == '"é 😀"'  # printable: written as itself


def test_yaml_string_reads_back_as_a_string() -> None:
    for value in CORPUS:
        text = quoting.yaml_string(value)
        assert yaml.safe_load(f"key: {text}\n") == {"key": value}
        assert text.startswith('"') and "\n" not in text


def test_yaml_string_escapes_the_byte_order_mark() -> None:
    assert quoting.yaml_string("\ufeff") == '"\\ufeff"'
    assert quoting.yaml_string("\x85") == '"\\u0085"'
    assert quoting.yaml_string("no") == '"no"'


def test_compose_string_is_inert_to_interpolation() -> None:
    for value in CORPUS:
        loaded = yaml.safe_load(f"key: {quoting.compose_string(value)}\n")["key"]
        assert undouble(loaded, "$") == value  # compose reads $$ as one literal $


def test_kubernetes_string_is_inert_to_expansion() -> None:
    for value in CORPUS:
        loaded = yaml.safe_load(f"key: {quoting.kubernetes_string(value)}\n")["key"]
        assert undouble(loaded, "$") == value  # Kubernetes reads $$ as one literal $


def dockerfile_unquote(text: str) -> str:
    """A Dockerfile double-quoted value: a backslash escapes `"`, `$` and `\\` only; the
    value must be exactly one quoted string (an escaped closing quote does not close it)."""
    assert text.startswith('"'), text
    out, index = [], 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '"$\\':
            out.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            assert index == len(text) - 1, f"text after the closing quote in {text}"
            return "".join(out)
        assert char != "$", f"unescaped $ in {text}"
        out.append(char)
        index += 1
    raise AssertionError(f"no closing quote in {text}")


def test_dockerfile_env_value_reads_back() -> None:
    for value in PRINTABLE:
        assert dockerfile_unquote(quoting.dockerfile_env_value(value)) == value


def test_dockerfile_env_value_refuses_control_characters() -> None:
    for value in sorted(set(CORPUS) - set(PRINTABLE)):
        with pytest.raises(ValueError) as caught:
            quoting.dockerfile_env_value(value)
        assert str(caught.value) == (
            f"a Dockerfile ENV value cannot carry control characters: {value!r}"
        )


def test_group_flag_values_pairs_flags_with_their_values() -> None:
    args = ["serve", "--port", "8000", "--enforce-eager", "--x", "-1", "-n", "-1.5", "-", "a"]
    assert quoting.group_flag_values(args) == [
        ["serve"],
        ["--port", "8000"],
        ["--enforce-eager"],
        ["--x", "-1"],  # a negative number is a value, not a flag
        ["-n", "-1.5"],
        ["-"],  # a lone "-" is not a flag, so it takes no value either
        ["a"],
    ]
    assert quoting.group_flag_values(("--a", "--b", "v", "w")) == [["--a"], ["--b", "v"], ["w"]]
    assert quoting.group_flag_values([]) == []
