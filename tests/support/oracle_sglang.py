"""The SGLang oracle: SGLang's own parser and argument checks judge the argv llmgen renders.

All specs of a corpus go to one subprocess of the SGLang environment
(oracle_sglang_driver.py, scripts/setup-sglang.sh), so SGLang is imported once. The model
directories are the vLLM oracle's variants of the tiny Llama (oracle_vllm.make_variants):
SGLang's ModelConfig reads only config.json and the tokenizer files while checking.
"""

from __future__ import annotations

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


def spec_for(case: Case, models: dict[str, Path]) -> dict[str, Any]:
    """A CPU spec (what SGLang's checks can judge without a GPU) for the case's model."""
    runtime: dict[str, Any] = {"context_length": 1024, "parallel": 4, "gpus": 0}
    runtime.update(case.runtime)
    if case.extra:
        runtime["extra_args"] = list(case.extra)
    model: dict[str, Any] = {"path": str(models[case.model])}
    if case.served_name is not None:
        model["served_name"] = case.served_name
    return {
        "name": "oracle",
        "engine": "sglang",
        "model": model,
        "server": {"host": "127.0.0.1", "port": 30000},
        "runtime": runtime,
    }


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
    """llmgen's and SGLang's verdicts on every case, compared; keyed by case id."""
    return ORACLE.judge_all(cases, lambda case: spec_for(case, models), python, work)
