"""Hostile and broken spec files: one line on stderr, exit 1, no traceback, fast and small.

Each file (the small ones live in tests/hostile/, the large or special ones are made here) is
checked by running `python -m llmgen validate FILE` as a real subprocess, reaped with
os.wait4 so its own maximum RSS is read, and timed. Every case must:

- exit 1 (the spec is wrong; the user can fix it) or 2 (usage), with nothing on stdout;
- print exactly one diagnostic line on stderr, naming the file, the position where one is
  known, and what is wrong (validate prints no summary for a single failing spec);
- never print a traceback, and finish within 1 second of CPU time using under 100 MiB (CPU
  time, not wall time: a busy machine stretches the wall clock, not the work done).

Unreadable files: the tests run as root, and root reads a chmod 000 file anyway (it holds
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH). The unreadable case therefore runs the CLI through
`setpriv --bounding-set=-dac_override,-dac_read_search`, a root process without those two
capabilities, for which mode 000 means what it says. (Running as `nobody` is no option here:
the virtual environment's interpreter lives under /root, which nobody may not enter.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmgen.cli.app import main

HOSTILE = Path(__file__).parents[1] / "hostile"
MAX_SECONDS = 1.0
MAX_RSS_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class Expect:
    """What the one diagnostic line must say."""

    message: str  # a regex searched in the line
    position: tuple[int, int] | None = None  # (line, column) when the position is known


# Files shipped in tests/hostile/.
SHIPPED: dict[str, Expect] = {
    "billion-laughs.yaml": Expect(r"more than 10000 values \(an alias bomb\?\)", (2, 50)),
    "recursive-alias.yaml": Expect(r"nesting deeper than 32 levels", (1, 7)),
    "deep-flow.yaml": Expect(r"invalid YAML: .*nesting depth", (2, 1006)),
    "deep-block.yaml": Expect(r"nesting deeper than 32 levels", (33, 63)),
    "binary.yaml": Expect(r"binary content \(NUL byte\)", (2, 9)),
    "latin1.yaml": Expect(r"not valid UTF-8 \(save the file as UTF-8\)", (1, 8)),
    "utf16.yaml": Expect(r"UTF-16 or UTF-32, not UTF-8"),
    "duplicate-keys.yaml": Expect(r"duplicate key 'name'", (3, 1)),
    "tabs.yaml": Expect(r"invalid YAML: .*\(indent with spaces, not tabs\)", (3, 1)),
    "empty.yaml": Expect(r"the file is empty"),
    "whitespace-only.yaml": Expect(r"the file is empty"),
    "comments-only.yaml": Expect(r"the file is empty"),
    "list-top-level.yaml": Expect(r"the top level must be a mapping of keys, not a list", (1, 1)),
    "scalar-top-level.yaml": Expect(r"the top level must be a mapping of keys, not a str", (1, 1)),
    "two-documents.yaml": Expect(r"invalid YAML: .*another document", (2, 1)),
    "python-tag.yaml": Expect(r"the tag '.*python/object/apply:os\.system' is not allowed", (1, 7)),
    "huge-integer.yaml": Expect(r"invalid value: '9+\.\.\.' is not a valid int", (5, 9)),
    "unclosed-quote.yaml": Expect(r"invalid YAML: .*quoted scalar", (3, 1)),
}


def _over_one_mib(folder: Path) -> Path:
    path = folder / "over-1mib.yaml"
    path.write_text("name: demo\n" + "# padding\n" * (1024 * 1024 // 10))
    return path


def _many_tiny_values(folder: Path) -> Path:
    # Just under the size limit, half a million values: must stop early, not build them all.
    path = folder / "many-values.yaml"
    path.write_text("name: [" + "1," * 500_000 + "1]\n")
    assert path.stat().st_size < 1024 * 1024
    return path


def _many_keys(folder: Path) -> Path:
    path = folder / "many-keys.yaml"
    path.write_text("".join(f"k{i:06d}: 1\n" for i in range(80_000)))
    assert path.stat().st_size < 1024 * 1024
    return path


def _long_scalar(folder: Path) -> Path:
    path = folder / "long-scalar.yaml"
    path.write_text(
        "name: demo\nengine: vllm\nmodel: {id: org/model}\nrevision: " + "a" * 1_000_000
    )
    return path


def _directory(folder: Path) -> Path:
    path = folder / "a-directory.yaml"
    path.mkdir()
    return path


def _missing(folder: Path) -> Path:
    return folder / "no-such-file.yaml"


def _under_a_file(folder: Path) -> Path:
    parent = folder / "plain-file"
    parent.write_text("x")
    return parent / "spec.yaml"


def _fifo(folder: Path) -> Path:
    # Opening a FIFO for reading would block until a writer comes: it must be refused, not read.
    path = folder / "pipe.yaml"
    os.mkfifo(path)
    return path


def _device(folder: Path) -> Path:
    return Path("/dev/zero")  # endless: reading it would never end within the size limit


MADE: dict[str, tuple[Callable[[Path], Path], Expect]] = {
    "over-1mib": (_over_one_mib, Expect(r"file is larger than 1 MiB")),
    "many-values": (_many_tiny_values, Expect(r"more than 10000 values", (1, 20002))),
    "many-keys": (_many_keys, Expect(r"more than 10000 values", (5000, 10))),
    "long-scalar": (_long_scalar, Expect(r"unknown key 'revision'", (4, 1))),
    # A directory argument stands for its *.yaml and *.yml files (validate takes directories).
    "directory": (_directory, Expect(r"the directory holds no \*\.yaml or \*\.yml file")),
    "missing": (_missing, Expect(r"no such file \(check the path\)")),
    "under-a-file": (
        _under_a_file,
        Expect(r"no such file \(a part of the path is not a directory\)"),
    ),
    "fifo": (_fifo, Expect(r"is a named pipe \(FIFO\), not a regular file")),
    "device": (_device, Expect(r"is a device, not a regular file")),
}


@dataclass(frozen=True)
class Run:
    """One finished CLI run."""

    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_bytes: int


# A minimal /usr/bin/time: fork, exec the command, wait4 for its own rusage. Measuring from the
# pytest process itself would count pytest's memory too (a forked child's maximum RSS includes
# the parent pages it had before exec), so the command is forked from this small process.
MEASURE = """
import json, os, sys
report, argv = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(argv[0], argv)
_, status, usage = os.wait4(pid, 0)
seconds = usage.ru_utime + usage.ru_stime
with open(report, "w") as out:
    json.dump({"exit": os.waitstatus_to_exitcode(status), "seconds": seconds,
               "max_rss_kib": usage.ru_maxrss}, out)
"""


def _run_cli(path: Path, *extra: str, prefix: tuple[str, ...] = ()) -> Run:
    """`python -m llmgen validate PATH` in a subprocess, with its CPU time and maximum RSS."""
    import json
    import tempfile

    command = [*prefix, sys.executable, "-m", "llmgen", "validate", *extra, str(path)]
    if prefix:
        command[0] = shutil.which(command[0]) or command[0]
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        try:
            result = subprocess.run(
                [sys.executable, "-c", MEASURE, str(report), *command],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=120,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"llmgen validate {path} hung (killed after 120 s)")
        measured = json.loads(report.read_text())
    return Run(
        measured["exit"],
        result.stdout.decode("utf-8", "replace"),
        result.stderr.decode("utf-8", "replace"),
        measured["seconds"],
        measured["max_rss_kib"] * 1024,
    )


def _assert_one_line_refusal(path: Path, run: Run, expect: Expect) -> None:
    assert run.exit_code in (1, 2), run
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert run.stdout == "", run.stdout
    lines = run.stderr.splitlines()
    assert len(lines) == 1, lines
    line = lines[0]
    where = re.escape(str(path))
    if expect.position:
        where += rf":{expect.position[0]}:{expect.position[1]}"
    assert re.match(rf"{where}: error: ", line), line
    assert re.search(expect.message, line), line
    assert run.seconds < MAX_SECONDS, f"{path.name}: {run.seconds:.2f} s"
    assert run.max_rss_bytes < MAX_RSS_BYTES, f"{path.name}: {run.max_rss_bytes / 2**20:.0f} MiB"


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_hostile_file_is_refused_in_one_line(name: str) -> None:
    path = HOSTILE / name
    run = _run_cli(path)
    _assert_one_line_refusal(path, run, SHIPPED[name])


@pytest.mark.parametrize("name", sorted(MADE))
def test_made_hostile_file_is_refused_in_one_line(name: str, tmp_path: Path) -> None:
    make, expect = MADE[name]
    path = make(tmp_path)
    run = _run_cli(path)
    _assert_one_line_refusal(path, run, expect)


def test_every_shipped_hostile_file_has_an_expectation() -> None:
    assert sorted(p.name for p in HOSTILE.iterdir()) == sorted(SHIPPED)


def test_unreadable_file_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "unreadable.yaml"
    path.write_text("name: demo\nengine: vllm\nmodel: {id: org/model}\n")
    path.chmod(0o000)
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root's file-access override"
    prefix = (setpriv, "--bounding-set=-dac_override,-dac_read_search", "--")
    if os.geteuid() != 0:
        prefix = ()  # an ordinary user cannot read mode 000 anyway
    run = _run_cli(path, prefix=prefix)
    _assert_one_line_refusal(path, run, Expect(r"permission denied \(make the file readable\)"))


def test_quiet_leaves_exactly_one_line() -> None:
    for name in sorted(SHIPPED):
        result = CliRunner().invoke(
            main, ["validate", "--quiet", str(HOSTILE / name)], catch_exceptions=False
        )
        assert result.exit_code == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert result.stdout == ""


def test_render_refuses_a_hostile_file_the_same_way(tmp_path: Path) -> None:
    for name in ("billion-laughs.yaml", "binary.yaml", "duplicate-keys.yaml"):
        result = CliRunner().invoke(
            main,
            ["render", str(HOSTILE / name), "-o", str(tmp_path / "out")],
            catch_exceptions=False,
        )
        assert result.exit_code == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert not (tmp_path / "out").exists()


def _small_texts() -> dict[str, str]:
    """Small documents (under FAST_COMPOSE_CHARS) that exercise every refusal of the loader."""
    texts = {
        path.name: path.read_text("utf-8", "replace")
        for path in sorted(HOSTILE.iterdir())
        if path.stat().st_size <= 4096
    }
    texts["deep-block-small"] = "".join("  " * i + f"k{i}:\n" for i in range(40)) + "  " * 40 + "v"
    texts["depth-31"] = "".join("  " * i + f"k{i}:\n" for i in range(31)) + "  " * 31 + "v\n"
    texts["depth-32"] = "".join("  " * i + f"k{i}:\n" for i in range(32)) + "  " * 32 + "v\n"
    texts["deep-flow-small"] = "name: " + "[" * 40 + "]" * 40 + "\n"
    texts["many-flow-values"] = "name: {" + ", ".join(f"k{i}" for i in range(1200)) + "}\n"
    texts["timestamp-and-tags"] = "a: 2024-01-01\nb: !!str 12\nc: !!binary aGk=\n"
    for example in sorted((HOSTILE.parent.parent / "examples").glob("*.yaml")):
        texts[f"example-{example.name}"] = example.read_text("utf-8")
    return texts


SMALL_TEXTS = _small_texts()


@pytest.mark.parametrize("name", sorted(SMALL_TEXTS))
def test_small_files_read_the_same_through_both_composers(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """libyaml composes small files in C; the result must equal PyYAML's counting composer's.

    The same data, positions and refusal (message and place) either way, so the fast path
    for everyday specs changes nothing a user sees.
    """
    from llmgen.errors import SpecError
    from llmgen.spec import yaml_loader

    text = SMALL_TEXTS[name]
    assert len(text) <= yaml_loader.FAST_COMPOSE_CHARS

    def outcome() -> object:
        try:
            loaded = yaml_loader.parse_yaml(text, "spec.yaml")
        except SpecError as exc:
            return [(d.message, d.hint, d.line, d.column) for d in exc.diagnostics]
        return (loaded.data, loaded.positions)

    fast = outcome()
    monkeypatch.setattr(yaml_loader, "FAST_COMPOSE_CHARS", -1)  # every file through Python
    assert outcome() == fast
