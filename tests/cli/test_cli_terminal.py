"""At home in a terminal: every --help has an example that uses real options; colour only on a
terminal (a real pseudo-terminal here) and never with NO_COLOR, nor in a pipe.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.conftest import REPO
from tests.support.terminal import Terminal

BAD = REPO / "tests" / "cases" / "invalid" / "unknown-key.yaml"
WARN = REPO / "tests" / "cases" / "warning" / "vllm-cpu-kv-cache.yaml"
RED, YELLOW = "\x1b[31m", "\x1b[33m"
COMMANDS = sorted(main.commands)  # type: ignore[attr-defined]


def help_text(*names: str) -> str:
    result = CliRunner().invoke(main, [*names, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    return result.stdout


def example_lines(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() in ("Example:", "Examples:"))
    return [line.strip() for line in lines[start + 1 :] if line.strip().startswith("llmgen ")]


@pytest.mark.parametrize("name", [None, *COMMANDS])
def test_every_help_has_an_example_using_real_options(name: str | None) -> None:
    text = help_text(*([name] if name else []))
    examples = example_lines(text)
    assert examples, f"`llmgen {name or ''} --help` shows no example"
    for example in examples:
        for command_line in example.split("&&"):
            words = shlex.split(command_line)
            assert words[0] == "llmgen"
            command = main.commands[words[1]]  # type: ignore[attr-defined]
            if name:
                assert words[1] == name
            known = {opt for param in command.params for opt in getattr(param, "opts", [])}
            used = {word.split("=")[0] for word in words[2:] if word.startswith("-")}
            assert used <= known, f"{example}: unknown options {used - known}"
            for param in command.params:
                if isinstance(param, click.Option) and isinstance(param.type, click.Choice):
                    for opt in param.opts:
                        if opt in words:
                            value = words[words.index(opt) + 1]
                            assert value in param.type.choices, example


def run_on_terminal(tmp_path: Path, env: dict[str, str]) -> str:
    terminal = Terminal("validate", str(BAD), str(WARN), cwd=tmp_path, env=env)
    try:
        return terminal.read_to_end()
    finally:
        assert terminal.close() == 1


def test_colour_on_a_terminal(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    seen = run_on_terminal(tmp_path, env)
    assert f": {RED}error\x1b[0m: server.prot" in seen
    assert f": {YELLOW}warning\x1b[0m: runtime.kv_cache_memory" in seen


@pytest.mark.parametrize("value", ["1", "true"])
def test_no_colour_with_no_color_even_on_a_terminal(tmp_path: Path, value: str) -> None:
    env = {**os.environ, "NO_COLOR": value, "TERM": "xterm"}
    seen = run_on_terminal(tmp_path, env)
    assert "server.prot" in seen
    assert "\x1b[" not in seen


def test_no_colour_in_a_pipe() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    run = subprocess.run(
        [sys.executable, "-m", "llmgen", "validate", str(BAD), str(WARN)],
        capture_output=True,
        text=True,
        env={**env, "TERM": "xterm"},
        check=False,
        timeout=600,
    )
    assert run.returncode == 1
    assert "error: server.prot" in run.stderr
    assert "\x1b[" not in run.stderr + run.stdout
