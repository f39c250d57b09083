"""`llmgen upgrade` on the bundled examples, checked against the real engine of the target.

For every example of vLLM and llama.cpp, pinned to one release of a pair the engines here can
judge, the test runs `llmgen upgrade SPEC --to OTHER --format json` and asks OTHER itself:
- vLLM 0.31.0 <-> 0.32.0: the vllm-cpu environments (scripts/setup-vllm-cpu.sh), judged
  offline by the release's serve parser and `create_engine_config` (oracle_vllm_driver.py);
- llama.cpp b9444 <-> b11434: llama-server built from each sdist
  (scripts/build-llama-server.sh), started on the argv until it is healthy or exits.

What upgrade says must be what the target does:
- "nothing breaks": the target accepts the argv llmgen renders for it;
- "breaks", naming flags: the target refuses that argv, and its error names every flag upgrade
  refused; once upgrade's edits are made (those flags removed) the target accepts it.

Each example is judged as written and with one flag from `runtime.extra_args` that moved
between the two releases (only the source release has it, or the target deprecates it), so
both verdicts occur in both directions. The examples name hub models, GPUs and clusters this
machine lacks, so each is adapted to the engines here (a tiny local model, the CPU, a free
loopback port; see `_adapt_*`); the test first checks that the adaptation does not change what
upgrade says about the example (same verdict, same refused flags).

Marked `versions` (the multi-release job of .ci/run) and `vllm` or `engine`.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from llmgen.cli.app import main
from tests.support.engines import EngineUnavailableError, free_port, llama_server_binary
from tests.support.oracle_common import rendered_plan
from tests.support.oracle_llamacpp import (
    error_lines,
    run_server,
    server_environment,
    write_gguf_variants,
)
from tests.support.oracle_vllm import oracle as vllm_oracle
from tests.support.vllm_cpu import vllm_cpu_python

pytest_plugins = ("tests.support.vllm_fixtures",)

pytestmark = [pytest.mark.versions, pytest.mark.timeout(3600)]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VLLM_EXAMPLES = sorted(EXAMPLES.glob("vllm-*.yaml"))
LLAMACPP_EXAMPLES = sorted(EXAMPLES.glob("llamacpp-*.yaml"))

VLLM_PAIR = ("0.31.0", "0.32.0")
LLAMACPP_PAIR = ("b9444", "b11434")

# A flag that moved between the pair, by the release the spec is pinned to (from the shipped
# tables, vllm-changes.tsv and llamacpp-changes.tsv, which the engines' parsers wrote):
MOVED_FLAG: dict[str, tuple[str, ...]] = {
    # added in 0.32.0: 0.31.0's parser does not know it
    "0.32.0": ("--grpc-port", "50051"),
    # deprecated in 0.32.0 (still taken there, with a warning): upgrade warns, nothing breaks
    "0.31.0": ("--disable-cascade-attn",),
    # removed in b10941 (arg_removed in b11434's common/arg.cpp)
    "b9444": ("--no-mmap",),
    # added in b10441: b9444's parser does not know it
    "b11434": ("--load-mode", "mmap"),
}


@dataclass(frozen=True)
class Move:
    """One judged move: an example pinned to `source`, upgraded to `target`."""

    path: Path
    source: str
    target: str
    moved: bool  # with MOVED_FLAG[source] in runtime.extra_args


def _params(examples: list[Path], pair: tuple[str, str]) -> list[Any]:
    return [
        pytest.param(
            Move(path, source, target, moved),
            id=f"{path.stem}-{source}-to-{target}-{'moved-flag' if moved else 'as-written'}",
        )
        for path in examples
        for source, target in (pair, pair[::-1])
        for moved in (False, True)
    ]


# --- what upgrade says -----------------------------------------------------------------------


def _upgrade(data: dict[str, Any], target: str, folder: Path) -> tuple[bool, list[str], list[str]]:
    """(breaks, the flags upgrade refuses at `target`, the flags it newly warns of)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / f"{data['name']}.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), "utf-8")
    result = CliRunner().invoke(main, ["upgrade", str(spec), "--to", target, "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    assert report["breaks"] == (result.exit_code == 1), result.stdout
    refused = [
        quoted.group(1)
        for problem in report["problems"]
        if (quoted := re.search(r"'(-[^']+)'", problem["message"]))
    ]
    # Every problem names the flag it refuses: nothing else moves between these releases.
    assert len(refused) == len(report["problems"]), report["problems"]
    warned = [
        quoted.group(1)
        for warning in report["warnings"]
        if (quoted := re.search(r"'(-[^']+)'", warning["message"]))
    ]
    return bool(report["breaks"]), refused, warned


def _pinned(path: Path, source: str, moved: bool) -> dict[str, Any]:
    """The example as written, pinned to `source`, with the moved flag when asked."""
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    data["engine_version"] = source
    if moved:
        data.setdefault("runtime", {}).setdefault("extra_args", [])
        data["runtime"]["extra_args"] = [*data["runtime"]["extra_args"], *MOVED_FLAG[source]]
    return data


def _without(data: dict[str, Any], flags: list[str]) -> dict[str, Any]:
    """upgrade's edit: `data` without the refused flags (and the value each takes)."""
    fixed = copy.deepcopy(data)
    words = list(fixed["runtime"].get("extra_args", []))
    for flag in flags:
        at = words.index(flag)
        takes_value = at + 1 < len(words) and not words[at + 1].startswith("-")
        del words[at : at + (2 if takes_value else 1)]
    fixed["runtime"]["extra_args"] = words
    return fixed


def _at(data: dict[str, Any], version: str) -> dict[str, Any]:
    return {**data, "engine_version": version}


# --- vLLM ------------------------------------------------------------------------------------


def _adapt_vllm(data: dict[str, Any], model: Path) -> dict[str, Any]:
    """The example on vLLM's CPU build: the tiny Llama, the CPU, a small KV cache.

    What the CPU build needs (tests/support/vllm_cpu.py CPU_RUNTIME); the name, the API key
    and the extra_args stay the example's. deploy goes: its nodes and GPUs are not here.
    """
    adapted = copy.deepcopy(data)
    adapted["model"] = {"path": str(model)}
    adapted["server"] = {**adapted.get("server", {}), "host": "127.0.0.1", "port": 8000}
    extra = adapted.get("runtime", {}).get("extra_args", [])
    adapted["runtime"] = {
        "context_length": 1024,
        "parallel": 4,
        "gpus": 0,
        "threads": 1,
        "kv_cache_memory": "64M",
        "enforce_eager": True,
        **({"extra_args": extra} if extra else {}),
    }
    adapted.pop("deploy", None)
    return adapted


@functools.cache
def _vllm_python(version: str) -> Path:
    """The vllm-cpu `version` environment's python (only the target's is asked for)."""
    try:
        return vllm_cpu_python(version)
    except EngineUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


VLLM_PARAMS = _params(VLLM_EXAMPLES, VLLM_PAIR)


@dataclass(frozen=True)
class _VllmCase:
    """What upgrade says of one move, and what the target release says of llmgen's argv."""

    said: tuple[bool, list[str], list[str]]  # upgrade on the example as written
    said_adapted: tuple[bool, list[str], list[str]]  # upgrade on the example adapted here
    answer: dict[str, Any]  # the target's verdict on the adapted spec's argv
    fixed: dict[str, Any] | None  # the target's verdict once upgrade's edits are made


@pytest.fixture(scope="module")
def vllm_cases(tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every vLLM move judged, with one driver run per target release (a vLLM import costs
    tens of seconds; one run per case made this file's vLLM half take about 6 minutes)."""
    work = tmp_path_factory.mktemp("upgrade-vllm")
    moves: dict[str, tuple[Move, Any, Any]] = {}
    asks: dict[str, list[dict[str, Any]]] = {}
    for param in VLLM_PARAMS:
        move, key = param.values[0], str(param.id)
        example = _pinned(move.path, move.source, move.moved)
        said = _upgrade(example, move.target, work / key / "example")
        adapted = _adapt_vllm(example, tiny_hf_model)
        said_adapted = _upgrade(adapted, move.target, work / key / "adapted")
        moves[key] = (move, said, said_adapted)
        specs = {key: _at(adapted, move.target)}
        breaks, refused, _ = said
        if breaks and all(f in adapted["runtime"].get("extra_args", []) for f in refused):
            specs[f"{key}/fixed"] = _at(_without(adapted, refused), move.target)
        for ask_id, data in specs.items():
            plan = rendered_plan(data)
            asked = {"id": ask_id, "argv": list(plan.args), "env": dict(plan.env)}
            asks.setdefault(move.target, []).append(asked)
    answers: dict[str, dict[str, Any]] = {}
    for target, asked_list in asks.items():
        folder = work / f"ask-{target}"
        folder.mkdir()
        verdicts = vllm_oracle(folder).ask(_vllm_python(target), asked_list, folder)
        answers.update({a["id"]: v for a, v in zip(asked_list, verdicts, strict=True)})
    return {
        key: _VllmCase(said, said_adapted, answers[key], answers.get(f"{key}/fixed"))
        for key, (move, said, said_adapted) in moves.items()
    }


@pytest.mark.vllm
@pytest.mark.parametrize("move", VLLM_PARAMS)
def test_vllm_upgrade_is_what_the_target_release_does(
    move: Move, vllm_cases: dict[str, _VllmCase], request: pytest.FixtureRequest
) -> None:
    source, target, moved = move.source, move.target, move.moved
    case = vllm_cases[request.node.callspec.id]
    breaks, refused, warned = case.said
    assert case.said_adapted == (breaks, refused, warned)  # the adaptation changes nothing
    if moved and source == "0.32.0":
        assert breaks and refused == ["--grpc-port"]  # the case must exercise a refusal
    if moved and source == "0.31.0":  # deprecated at the target: a warning, nothing breaks
        assert not breaks and warned == ["--disable-cascade-attn"]

    verdict, error = case.answer["verdict"], case.answer["error"]
    if not breaks:
        assert verdict == "accept", f"upgrade: nothing breaks; vLLM {target}: {error}"
        return
    assert verdict == "refuse", f"upgrade refuses {refused}; vLLM {target} accepts"
    for flag in refused:
        assert flag in error, f"vLLM {target} refuses for another reason: {error}"
    assert case.fixed is not None, f"upgrade's edits could not be made: {refused}"
    verdict, error = case.fixed["verdict"], case.fixed["error"]
    assert verdict == "accept", f"after upgrade's edits vLLM {target} still refuses: {error}"


# --- llama.cpp -------------------------------------------------------------------------------


def _adapt_llamacpp(data: dict[str, Any], model: Path) -> dict[str, Any]:
    """The example on this machine's CPU llama-server: the tiny GGUF, no GPU, a free port.

    The example's parallel, batch size, served name, API key and extra_args stay; the context
    per slot shrinks to 256 (the tiny model's weights are a few MB, its KV cache must be too).
    """
    adapted = copy.deepcopy(data)
    served = adapted.get("model", {}).get("served_name")
    adapted["model"] = {"path": str(model), **({"served_name": served} if served else {})}
    adapted["server"] = {**adapted.get("server", {}), "host": "127.0.0.1", "port": free_port()}
    runtime = adapted.setdefault("runtime", {})
    runtime.update({"context_length": 256, "gpus": 0, "threads": 1})
    runtime.pop("gpu_layers", None)
    if "batch_size" in runtime:
        runtime["batch_size"] = min(runtime["batch_size"], 256)
    adapted.pop("deploy", None)
    return adapted


@functools.cache
def _llama_binary(build: str) -> Path:
    """llama-server `build` (only the target's is asked for)."""
    try:
        return llama_server_binary(build.removeprefix("b"))
    except EngineUnavailableError as exc:
        pytest.fail(str(exc), pytrace=False)


def _llama_verdict(data: dict[str, Any], binary: Path) -> tuple[str, str]:
    """(accept|refuse, the server's log) of llama-server `binary` on llmgen's argv."""
    plan = rendered_plan(data)
    url = f"http://{plan.client_host}:{plan.port}{plan.health_path}"
    run = run_server(binary, plan.args, url, server_environment(data))
    return run.verdict, run.log


@pytest.mark.engine
@pytest.mark.parametrize("move", _params(LLAMACPP_EXAMPLES, LLAMACPP_PAIR))
def test_llamacpp_upgrade_is_what_the_target_build_does(
    move: Move,
    tmp_path: Path,
) -> None:
    path, source, target, moved = move.path, move.source, move.target, move.moved
    example = _pinned(path, source, moved)
    breaks, refused, warned = _upgrade(example, target, tmp_path / "example")
    # The head-64 variant, as the llama.cpp corpus uses for --flash-attn on (the example
    # llamacpp-gpu-local passes it).
    (tmp_path / "models").mkdir()
    model = write_gguf_variants(tmp_path / "models")["head-64"]
    adapted = _adapt_llamacpp(example, model)
    assert _upgrade(adapted, target, tmp_path / "adapted") == (breaks, refused, warned)
    if moved:
        assert breaks and refused == [MOVED_FLAG[source][0]]  # the case must refuse the flag

    verdict, log = _llama_verdict(_at(adapted, target), _llama_binary(target))
    if not breaks:
        assert verdict == "accept", f"upgrade: nothing breaks; {target}: {error_lines(log)}"
        return
    assert verdict == "refuse", f"upgrade refuses {refused}; llama-server {target} starts"
    for flag in refused:
        assert flag in log, f"{target} refuses for another reason: {error_lines(log)}"
    fixed = _at(_without(adapted, refused), target)
    fixed["server"]["port"] = free_port()
    verdict, log = _llama_verdict(fixed, _llama_binary(target))
    assert verdict == "accept", f"after upgrade's edits {target} still refuses: {error_lines(log)}"
