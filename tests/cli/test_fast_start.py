"""Start-up: each command imports only what it needs (read from `python -X importtime`).

These are behaviours, not timings (docs/benchmarks.md has the figures): `--version` is
answered before click, pydantic or yaml is imported, pydantic is imported only by commands
that read a spec, and validate loads neither the template engine nor the JSON Schema
validator nor any engine's client library.
"""

from __future__ import annotations

import os
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
        timeout=600,
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
        [sys.executable, "-m", "llmgen", "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    from click.testing import CliRunner

    from llmgen.cli.app import main

    assert done.stdout == CliRunner().invoke(main, ["--version"]).stdout  # the same words
    assert not top_level(imported("--version")) & {"click", "pydantic", "yaml", "json", "jinja2"}


def test_validate_loads_no_click_templates_schema_validator_or_clients() -> None:
    loaded = top_level(imported("validate", str(EXAMPLE)))
    assert {"llmgen", "yaml"} <= loaded  # sanity: the imports really were recorded
    assert not loaded & {"click", "jinja2", "jsonschema", "openai", "gguf", "httpx", "numpy"}
    assert "click" in top_level(imported("validate", "--help"))  # help is click's


PYDANTIC = {"pydantic", "pydantic_core", "annotated_types"}


@pytest.mark.parametrize(
    ("args", "exit_code", "reads_a_spec"),
    [
        (("validate", str(EXAMPLE)), 0, True),
        (("render", str(EXAMPLE), "--check", str(REPO / "missing")), 1, True),  # nothing rendered
        (("--version",), 0, False),
        (("--help",), 0, False),
        (("validate", "--help"), 0, False),
        (("engines",), 0, False),
    ],
)
def test_pydantic_is_imported_only_where_a_spec_is_read(
    args: tuple[str, ...], exit_code: int, reads_a_spec: bool
) -> None:
    """The spec is pydantic models (llmgen.spec.models); a command that reads no spec, and
    `--version` and `--help` above all, pays for neither pydantic nor the template engine."""
    loaded = imported(*args, exit_code=exit_code)
    assert "llmgen" in top_level(loaded)  # sanity: the imports really were recorded
    assert ("llmgen.spec.models" in loaded) is reads_a_spec
    assert bool(top_level(loaded) & PYDANTIC) is reads_a_spec
    if not reads_a_spec:
        assert "jinja2" not in top_level(loaded)
    # pydantic's plugin scan (importlib.metadata and its email parser) is skipped by the command.
    assert "importlib.metadata" not in loaded
    assert "email" not in top_level(loaded)


def test_importing_llmgen_as_a_library_leaves_pydantic_plugins_alone() -> None:
    probe = (
        "import sys; from llmgen.rules.analysis import validate_file; "
        f"validate_file({str(EXAMPLE)!r}); "
        "from pydantic.plugin import _loader; "
        "print(_loader.__doc__ is None or 'llmgen' not in _loader.__doc__, "
        "'importlib.metadata' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    assert done.stdout.split() == ["True", "True"]  # pydantic's own loader, which scanned


def test_a_pydantic_that_wants_more_of_its_loader_gets_the_real_one() -> None:
    probe = (
        "from llmgen.spec.plugins import skip_pydantic_plugins; skip_pydantic_plugins(); "
        "from pydantic.plugin._loader import get_plugins; print(list(get_plugins())); "
        "from pydantic.plugin._loader import PYDANTIC_ENTRY_POINT_GROUP as group; print(group); "
        "import pydantic.plugin._loader as now; print('llmgen' in (now.__doc__ or ''))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
        timeout=60,
    )
    assert done.stdout.split("\n")[:3] == ["[]", "pydantic", "False"]


CLICK_ONLY = (
    "import sys; from llmgen.cli.app import main; sys.argv[0] = 'llmgen'; main(prog_name='llmgen')"
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
    console_script = Path(sys.executable).parent / "llmgen"  # llmgen.cli.entry:main
    fast = subprocess.run(
        [str(console_script), "validate", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    click = subprocess.run(
        [sys.executable, "-c", CLICK_ONLY, "validate", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        click.returncode,
        click.stdout,
        click.stderr,
    )


def test_the_fast_path_knows_the_formats_click_offers() -> None:
    import click

    from llmgen.cli.app import main
    from llmgen.cli.entry import VALIDATE_FORMATS

    option = next(p for p in main.commands["validate"].params if p.name == "output_format")  # type: ignore[attr-defined]
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == VALIDATE_FORMATS


@pytest.mark.parametrize("args", [("engines",), ("init", "-o", "-")])
def test_light_commands_build_no_templates(args: tuple[str, ...]) -> None:
    assert not top_level(imported(*args)) & {"jinja2", "jsonschema", "openai", "gguf"}


# --- render ------------------------------------------------------------------------------------

RETUNED = EXAMPLE.read_text().replace("port: 8080", "port: 8099")


def _render_before(folder: Path, spec: Path = EXAMPLE) -> None:
    """What an earlier `llmgen render SPEC -o out` left in `folder`."""
    import io

    from llmgen.cli.render import run_render

    assert run_render(spec, folder / "out", False, io.StringIO(), io.StringIO()) == 0


def _edited(folder: Path) -> None:
    _render_before(folder)
    (folder / "out" / "launch.sh").write_text("#!/bin/sh\necho my edit\n")


def _foreign(folder: Path) -> None:
    (folder / "out").mkdir()
    (folder / "out" / "launch.sh").write_text("my own script\n")


def _nothing(folder: Path) -> None:
    pass


RENDER_CASES = {
    "new directory": (_nothing, ["render", str(EXAMPLE), "-o", "out"]),
    "again, unchanged": (_render_before, ["render", str(EXAMPLE), "-o", "out"]),
    "again, changed": (_render_before, ["render", "retuned.yaml", "--output", "out"]),
    "refused: edited": (_edited, ["render", "retuned.yaml", "-o", "out"]),
    "forced": (_edited, ["render", "--force", "retuned.yaml", "--output=out"]),
    "refused: not ours": (_foreign, ["render", str(EXAMPLE), "-o", "out"]),
    "invalid spec": (_nothing, ["render", str(BAD), "-o", "out"]),
    "warnings": (_nothing, ["render", str(WARN), "-o", "out"]),
    "missing spec": (_nothing, ["render", "no-such-file.yaml", "-o", "out"]),
    "default directory": (_nothing, ["render", "--", str(EXAMPLE)]),
    # Left to click by the fast path, so the same by definition; here to show nothing leaks.
    "two specs": (_nothing, ["render", str(EXAMPLE), str(WARN), "-o", "out"]),
    "no value": (_nothing, ["render", str(EXAMPLE), "-o"]),
    "no spec": (_nothing, ["render", "-o", "out"]),
    "check": (_render_before, ["render", "--check", str(EXAMPLE), "-o", "out"]),
    "help": (_nothing, ["render", "-h"]),
}


def _files(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mode, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("case", RENDER_CASES)
def test_the_fast_render_path_answers_and_writes_as_click_does(case: str, tmp_path: Path) -> None:
    prepare, args = RENDER_CASES[case]
    console_script = Path(sys.executable).parent / "llmgen"  # llmgen.cli.entry:main
    runs = {}
    for way, argv in {
        "fast": [str(console_script), *args],
        "click": [sys.executable, "-c", CLICK_ONLY, *args],
    }.items():
        folder = tmp_path / way
        folder.mkdir()
        (folder / "retuned.yaml").write_text(RETUNED)
        prepare(folder)
        done = subprocess.run(argv, capture_output=True, cwd=folder, check=False, timeout=600)
        runs[way] = (done.returncode, done.stdout, done.stderr, _files(folder))
    assert runs["fast"] == runs["click"]


NOTHING_LEFT_PROBE = """
import atexit, os, sys, threading
from llmgen.cli.entry import fast_path
code = fast_path(sys.argv[1:])
try:
    os.waitpid(-1, os.WNOHANG)
    children = "unreaped"
except ChildProcessError:
    children = "none"
print(code, atexit._ncallbacks(), threading.active_count(), children, file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["render", "validate-1", "validate-120"])
def test_a_fast_command_leaves_nothing_for_a_normal_exit_to_do(
    command: str, tmp_path: Path
) -> None:
    """The fast paths end with os._exit (entry.exit_without_teardown), which runs no exit
    handler and waits for no thread or child: this fails when one starts to rely on them."""
    if command == "render":
        args = ["render", str(EXAMPLE), "-o", str(tmp_path / "out")]
    elif command == "validate-1":
        args = ["validate", str(EXAMPLE)]
    else:  # enough files for forked workers (cli/validate.py FILES_PER_WORKER)
        for index in range(120):
            (tmp_path / f"spec{index}.yaml").write_text(EXAMPLE.read_text())
        args = ["validate", "-q", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-c", NOTHING_LEFT_PROBE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # exit code, exit handlers, threads, children not reaped
    assert done.stderr.splitlines()[-1] == "0 0 1 none"


def test_a_fast_render_into_a_file_keeps_all_it_printed(tmp_path: Path) -> None:
    """stdout to a file is block-buffered and os._exit drops what was not flushed (echo flushes
    each line, exit_without_teardown flushes again: this fails if neither does)."""
    console_script = Path(sys.executable).parent / "llmgen"
    log = tmp_path / "log"
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with log.open("wb") as sink:
        done = subprocess.run(
            [str(console_script), "render", str(EXAMPLE), "-o", str(tmp_path / "out")],
            stdout=sink,
            stderr=subprocess.PIPE,
            env=buffered,
            check=False,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = log.read_text().splitlines()
    assert lines[0].startswith("rendered llamacpp deployment 'smollm2-gguf' into ")
    assert lines[1].startswith("clients send model ")
    assert len(lines) == 2


def test_the_fast_render_path_takes_only_the_simple_forms() -> None:
    from llmgen.cli.entry import plain_render_arguments

    assert plain_render_arguments(["a.yaml"]) == (Path("a.yaml"), None, False)
    assert plain_render_arguments(["-o", "d", "--force", "a.yaml"]) == (
        Path("a.yaml"),
        Path("d"),
        True,
    )
    assert plain_render_arguments(["--output=d", "--", "-a.yaml"]) == (
        Path("-a.yaml"),
        Path("d"),
        False,
    )
    for args in (
        [],
        ["a.yaml", "b.yaml"],
        ["--check", "a.yaml"],
        ["a.yaml", "-o"],
        ["a.yaml", "-o", "d", "-o", "e"],
        ["a.yaml", "-od"],
        ["a.yaml", "-o", "--force"],
        ["a.yaml", "--output="],
        [""],
        ["a.yaml", "-h"],
        ["a.yaml", "--forc"],
    ):
        assert plain_render_arguments(args) is None, args


def test_the_fast_render_path_does_not_import_click(tmp_path: Path) -> None:
    loaded = imported("render", str(EXAMPLE), "-o", str(tmp_path / "out"))
    assert "llmgen.render.bundle" in loaded and "jinja2" in top_level(loaded)  # sanity: it rendered
    assert "click" not in top_level(loaded)
    assert (tmp_path / "out" / "launch.sh").is_file()


def test_render_of_a_catalog_model_skips_fits_search_and_the_gguf_reader(tmp_path: Path) -> None:
    """The pod's memory needs fit's llama.cpp estimate only; the model is no local file."""
    loaded = imported("render", str(EXAMPLE), "-o", str(tmp_path / "out"))
    assert "llmgen.fit.llamacpp" in loaded  # sanity: the estimate was made
    assert not loaded & {"llmgen.fit.run", "llmgen.fit.hf_engines", "llmgen.facts.gguf_file"}


@pytest.mark.parametrize(
    ("args", "interrupted"),
    [
        (("validate", str(EXAMPLE)), "llmgen.cli.validate.check_files"),
        (("render", str(EXAMPLE), "-o", "OUT"), "llmgen.cli.render.render_spec"),
    ],
)
def test_ctrl_c_on_a_fast_path_aborts_as_click_does(
    args: tuple[str, ...], interrupted: str, tmp_path: Path
) -> None:
    """A real SIGINT, raised where the command does its work: the fast path and click both
    print an empty line and "Aborted!", exit 1, and show no traceback."""
    module, function = interrupted.rsplit(".", 1)
    argv = [arg.replace("OUT", str(tmp_path / "out")) for arg in args]

    def run(via_click: bool) -> subprocess.CompletedProcess[str]:
        probe = (
            "import os, signal, sys, importlib\n"
            # Python installs its Ctrl-C handler only where SIGINT was not ignored at start; a
            # background job of a non-interactive shell starts with it ignored, and the probe
            # would then pause for ever. A terminal's disposition, set explicitly:
            "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            f"target = importlib.import_module({module!r})\n"
            "def interrupted(*args, **kwargs):\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    signal.pause()\n"
            f"setattr(target, {function!r}, interrupted)\n"
            f"sys.argv = ['llmgen', *{argv!r}]\n"
            + (
                "from llmgen.cli.app import main; main()\n"
                if via_click
                else "from llmgen.cli.entry import main; main()\n"
            )
        )
        return subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=False,
            timeout=60,
        )

    fast, click = run(via_click=False), run(via_click=True)
    assert (fast.returncode, fast.stdout, fast.stderr) == (1, "", "\nAborted!\n")
    assert (click.returncode, click.stdout, click.stderr) == (1, "", "\nAborted!\n")
