"""The SGLang oracle: SGLang's own parser and argument checks judge the argv llmgen renders.

All specs of a corpus go to one subprocess of the SGLang environment
(oracle_sglang_driver.py, scripts/setup-sglang.sh), so SGLang is imported once. The model
directories are the vLLM oracle's variants of the tiny Llama (oracle_vllm.make_variants):
SGLang's ModelConfig reads only config.json and the tokenizer files while checking.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.engines import EngineUnavailableError, run_setup_script
from tests.support.oracle_common import ArgvCase, ArgvOracle, Comparison

DRIVER = Path(__file__).with_name("oracle_sglang_driver.py")
SETUP_SGLANG = Path(__file__).resolve().parents[2] / "scripts" / "setup-sglang.sh"


def sglang_python() -> Path:
    """The SGLang environment's python; creates it on first use (minutes)."""
    python = run_setup_script(SETUP_SGLANG)
    if not python.exists():
        raise EngineUnavailableError(f"{SETUP_SGLANG}: no python at {python}")
    return python


@dataclass(frozen=True)
class Case(ArgvCase):
    """One spec of the SGLang corpus (fields: oracle_common.ArgvCase). `source` cites SGLang
    0.5.23 where the CPU checks cannot show a rule (a GPU count); `served_name` sets
    model.served_name."""

    served_name: str | None = None
    nodes: int = 1  # deploy.nodes: above 1, every node's argv is judged (node_argvs)


def spec_for(case: Case, models: dict[str, Path]) -> dict[str, Any]:
    """A CPU spec (what SGLang's checks can judge without a GPU) for the case's model."""
    runtime: dict[str, Any] = {"context_length": 1024, "parallel": 4, "gpus": 0}
    runtime.update(case.runtime)
    if case.extra:
        runtime["extra_args"] = list(case.extra)
    model: dict[str, Any] = {"path": str(models[case.model])}
    if case.served_name is not None:
        model["served_name"] = case.served_name
    data: dict[str, Any] = {
        "name": "oracle",
        "engine": "sglang",
        "model": model,
        "server": {"host": "127.0.0.1", "port": 30000},
        "runtime": runtime,
    }
    if case.nodes > 1:
        data["deploy"] = {"nodes": case.nodes}
    return data


# What the rendered scripts and pods are given: the head's address, a worker's rank (1), and
# LeaderWorkerSet's variables for the first worker of a group.
NODE_ENV = {
    "LLMGEN_HEAD_ADDRESS": "10.0.0.1",
    "LLMGEN_NODE_RANK": "1",
    "LWS_LEADER_ADDRESS": "oracle-0.oracle.oracle",
    "LWS_WORKER_INDEX": "1",
}


def node_argvs(case: Case, data: dict[str, Any], plan: Any) -> dict[str, list[str]]:
    """The argv after `sglang serve` of each node, as a real shell makes it from what llmgen
    renders: the bare-metal head and worker (multinode/launch-*.sh: the argv, then the raw
    shell words with the rendezvous address and rank) and the LeaderWorkerSet's leader and
    worker (their `sh -c` programs exec "$@" plus those words).

    The shell runs each fragment with `printf '%s\\0'` in the engine's place, so the words are
    exactly what the engine would get. `--device cpu` is added: no accelerator here, and
    SGLang's node checks (validation_hook.py:178-181 tp_size divisible by nnodes, 199-202 no
    multi-node dp) do not depend on the device.
    """
    from llmgen.engines import ENGINES
    from llmgen.render.multinode import multinode_plan
    from llmgen.spec.models import parse_spec

    multinode = multinode_plan(parse_spec(data), ENGINES["sglang"], plan)
    if multinode is None:
        return {"": list(plan.args)}
    # (shell program that ends in exec "$@" ..., the argv it is given)
    fragments = {
        "head": ('exec "$@" ' + " ".join(multinode.head_tail), multinode.native_leader_args),
        "worker": (
            'exec "$@" ' + multinode.worker_env_value,
            multinode.native_worker_argv,
        ),
        "leader-pod": (multinode.leader_script, multinode.leader_args),
        "worker-pod": (multinode.worker_script, multinode.worker_args),
    }
    argvs = {}
    for role, (program, argv) in fragments.items():
        done = subprocess.run(
            ["sh", "-c", program, role, "printf", "%s\\0", *argv],
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **NODE_ENV},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        words = done.stdout.split("\0")[:-1]
        # The words after the engine's command (`sglang serve`, `python3 -m ...`): from the
        # first flag on.
        first = next(i for i, word in enumerate(words) if word.startswith("--"))
        argvs[role] = [*words[first:], "--device", "cpu"]
    return argvs


# SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN is removed: the oracle judges the default behaviour.
ORACLE = ArgvOracle(
    engine="SGLang",
    driver=DRIVER,
    checks="SGLang (CPU checks)",
    source="SGLang 0.5.23 source",
    unset=("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN",),
)


def judge_all(
    cases: list[Case], python: Path, models: dict[str, Path], work: Path
) -> dict[str, Comparison]:
    """llmgen's and SGLang's verdicts on every case, compared; keyed by case id, and for a
    multi-node case by `<case id>/<node role>` (node_argvs)."""
    return ORACLE.judge_all(
        cases, lambda case: spec_for(case, models), python, work, argvs=node_argvs
    )
