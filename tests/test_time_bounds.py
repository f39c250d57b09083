"""The suite never hangs: every subprocess call in tests/ has a time limit, and every test has
one (pytest-timeout, configured in pyproject.toml)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BLOCKING = {"run", "call", "check_call", "check_output"}  # subprocess functions that wait


def unbounded_calls(source: str) -> list[tuple[int, str]]:
    """(line, call) for each waiting subprocess call without `timeout=`: subprocess.run & co.
    (also imported by name), and `.wait()` / `.communicate()` with no arguments at all."""
    tree = ast.parse(source)
    by_name = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess"
        for alias in node.names
        if alias.name in BLOCKING
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        keywords = {keyword.arg for keyword in node.keywords}
        if "timeout" in keywords or None in keywords:  # **options may carry it
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in by_name:
            found.append((node.lineno, func.id))
        elif isinstance(func, ast.Attribute):
            module_call = (
                isinstance(func.value, ast.Name)
                and func.value.id == "subprocess"
                and func.attr in BLOCKING
            )
            bare_wait = func.attr in ("wait", "communicate") and not node.args
            if module_call or bare_wait:
                found.append((node.lineno, func.attr))
    return found


def test_the_scanner_finds_each_kind_of_unbounded_call() -> None:
    source = (
        "import subprocess\n"
        "from subprocess import check_output as out\n"
        "subprocess.run(['true'])\n"
        "subprocess.check_output(['true'], text=True)\n"
        "out(['true'])\n"
        "process.wait()\n"
        "process.communicate()\n"
        "subprocess.run(['true'], timeout=5)\n"
        "process.wait(timeout=5)\n"
        "process.communicate(timeout=5)\n"
        "subprocess.run(['true'], **options)\n"
    )
    assert unbounded_calls(source) == [
        (3, "run"),
        (4, "check_output"),
        (5, "out"),
        (6, "wait"),
        (7, "communicate"),
    ]


def test_every_subprocess_call_in_the_tests_has_a_timeout() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}: {call}(...) without timeout="
        for path in sorted(TESTS.rglob("*.py"))
        for line, call in unbounded_calls(path.read_text("utf-8"))
    ]
    assert found == []


def test_every_test_has_a_time_limit() -> None:
    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text("utf-8"))
    options = config["tool"]["pytest"]["ini_options"]
    assert int(options["timeout"]) > 0
    test_extra = config["project"]["optional-dependencies"]["test"]
    assert any(requirement.startswith("pytest-timeout") for requirement in test_extra)
