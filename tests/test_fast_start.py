"""Start-up: each command imports only what it needs (read from `python -X importtime`).

These are behaviours, not timings (docs/benchmarks.md has the figures): `--version` is
answered before click, pydantic or yaml is imported, and validate loads neither the template
engine nor the JSON Schema validator nor any engine's client library.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "llamacpp-smollm2.yaml"


def imported(*args: str, cwd: Path = REPO, exit_code: int = 0) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "llmgen", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == exit_code, done.stderr[-2000:]
    modules = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    return modules


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_is_answered_before_click_is_imported() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llmgen", "--version"], capture_output=True, text=True, check=True
    )
    from click.testing import CliRunner

    from llmgen.cli import main

    assert done.stdout == CliRunner().invoke(main, ["--version"]).stdout  # the same words
    assert not top_level(imported("--version")) & {"click", "pydantic", "yaml", "json", "jinja2"}


def test_validate_loads_no_click_templates_schema_validator_or_clients() -> None:
    loaded = top_level(imported("validate", str(EXAMPLE)))
    assert {"llmgen", "yaml"} <= loaded  # sanity: the imports really were recorded
    assert not loaded & {"click", "jinja2", "jsonschema", "openai", "gguf", "httpx", "numpy"}
    assert "click" in top_level(imported("validate", "--help"))  # help is click's


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (("validate", str(EXAMPLE)), 0),
        (("render", str(EXAMPLE), "--check", str(REPO / "missing")), 1),  # nothing rendered yet
    ],
)
def test_no_command_imports_pydantic_or_reads_package_metadata(
    args: tuple[str, ...], exit_code: int
) -> None:
    """The spec is checked by llmgen.sections; importlib.metadata (and email) cost start-up."""
    loaded = imported(*args, exit_code=exit_code)
    assert "llmgen.sections" in loaded  # sanity: the spec was checked
    assert not top_level(loaded) & {"pydantic", "pydantic_core", "annotated_types", "email"}
    assert "importlib.metadata" not in loaded


CLICK_ONLY = (
    "import sys; from llmgen.cli import main; sys.argv[0] = 'llmgen'; main(prog_name='llmgen')"
)
BAD = REPO / "tests" / "cases" / "invalid" / "unknown-key.yaml"
WARN = REPO / "tests" / "cases" / "warning" / "vllm-cpu-kv-cache.yaml"


@pytest.mark.parametrize(
    "args",
    [
        [str(EXAMPLE)],
        [str(BAD)],
        [str(WARN), str(BAD), "-q"],
        ["--format", "github", str(WARN), str(BAD)],
        ["--format=json", str(REPO / "examples")],
        [str(REPO / "examples" / "*.yaml"), "--quiet", "--format", "text"],
        ["--", str(EXAMPLE)],
        ["no-such-file.yaml"],
        [],
        ["--format", "xml", str(EXAMPLE)],
        ["--format"],
        ["-qh"],
        ["--help"],
    ],
)
def test_the_fast_validate_path_answers_as_click_does(args: list[str]) -> None:
    console_script = Path(sys.executable).parent / "llmgen"  # llmgen.entry:main
    fast = subprocess.run(
        [str(console_script), "validate", *args], capture_output=True, text=True, check=False
    )
    click = subprocess.run(
        [sys.executable, "-c", CLICK_ONLY, "validate", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        click.returncode,
        click.stdout,
        click.stderr,
    )


def test_the_fast_path_knows_the_formats_click_offers() -> None:
    import click

    from llmgen.cli import main
    from llmgen.entry import VALIDATE_FORMATS

    option = next(p for p in main.commands["validate"].params if p.name == "output_format")  # type: ignore[attr-defined]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == VALIDATE_FORMATS


@pytest.mark.parametrize("args", [("engines",), ("init", "-o", "-")])
def test_light_commands_build_no_templates(args: tuple[str, ...]) -> None:
    assert not top_level(imported(*args)) & {"jinja2", "jsonschema", "openai", "gguf"}
