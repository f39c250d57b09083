"""The SGLang oracle: SGLang's own parser and argument checks judge the argv llmgen renders.

All specs of a corpus go to one subprocess of the SGLang environment
(oracle_sglang_driver.py, scripts/setup-sglang.sh), so SGLang is imported once. The model
directories are the vLLM oracle's variants of the tiny Llama (oracle_vllm.make_variants):
SGLang's ModelConfig reads only config.json and the tokenizer files while checking.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.engines import EngineUnavailableError, run_setup_script
from tests.support.oracle_common import Comparison, Kind, Verdict, llmgen_verdict, rendered_plan

DRIVER = Path(__file__).with_name("oracle_sglang_driver.py")
SETUP_SGLANG = Path(__file__).resolve().parents[2] / "scripts" / "setup-sglang.sh"


def sglang_python() -> Path:
    """The SGLang environment's python; creates it on first use (minutes)."""
    python = run_setup_script(SETUP_SGLANG)
    if not python.exists():
        raise EngineUnavailableError(f"{SETUP_SGLANG}: no python at {python}")
    return python


@dataclass(frozen=True)
class Case:
    """One spec of the SGLang corpus.

    `cause`: regular expression (or an (llmgen, SGLang) pair) both refusals must match.
    `policy`: llmgen refuses by a rule of its own while SGLang accepts; words its message holds.
    `source`: what the CPU checks cannot show (a GPU count): SGLang 0.5.23's verdict on the
    devices the spec allows, with the file and line that decide it.
    `disagree`: a known disagreement, with its reason (strict xfail).
    """

    id: str
    model: str = "base"
    runtime: dict[str, Any] = field(default_factory=dict)
    extra: tuple[str, ...] = ()
    cause: str | tuple[str, str] = ""
    policy: str = ""
    source: tuple[Verdict, str] = ("accept", "")
    disagree: str = ""
    served_name: str | None = None

    def patterns(self) -> tuple[str, str]:
        """(llmgen pattern, SGLang pattern) of the expected cause."""
        return self.cause if isinstance(self.cause, tuple) else (self.cause, self.cause)


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


def ask_sglang(python: Path, requests: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    """Run the driver once on every request; returns its verdicts in the same order."""
    source = work / "requests.json"
    target = work / "verdicts.json"
    source.write_text(json.dumps(requests), "utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN", None)  # judge the default behaviour
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
    cases: list[Case], python: Path, models: dict[str, Path], work: Path
) -> dict[str, Comparison]:
    """llmgen's and SGLang's verdicts on every case, compared; keyed by case id."""
    datas = {case.id: spec_for(case, models) for case in cases}
    plans = {case.id: rendered_plan(datas[case.id]) for case in cases}
    requests = [
        {"id": case.id, "argv": list(plans[case.id].args), "env": dict(plans[case.id].env)}
        for case in cases
    ]
    verdicts = {v["id"]: v for v in ask_sglang(python, requests, work)}
    return {
        case.id: compare(case, datas[case.id], plans[case.id], verdicts[case.id]) for case in cases
    }


def compare(case: Case, data: dict[str, Any], plan: Any, sglang: dict[str, Any]) -> Comparison:
    """One case: the verdicts, whether they agree, and why."""
    said = llmgen_verdict(data)
    cpu_verdict: Verdict = sglang["verdict"]
    source_verdict, citation = case.source
    oracle: Verdict = source_verdict if citation else cpu_verdict
    ours, theirs = case.patterns()
    why = f"SGLang (CPU checks): {cpu_verdict}" + (
        f": {sglang['error']}" if sglang["error"] else ""
    )
    if citation:
        why += f"; SGLang 0.5.23 source: {source_verdict} ({citation})"
    errors = "\n".join(said.errors)
    if said.verdict != oracle:
        agree = False
        why += f"; llmgen {said.verdict}s" + (f": {said.errors[0]}" if said.errors else "")
    elif said.verdict == "refuse":
        named_by_us = bool(ours) and re.search(ours, errors, re.I) is not None
        evidence = citation if citation else sglang["error"]
        named_by_sglang = bool(theirs) and re.search(theirs, evidence, re.I) is not None
        agree = named_by_us and named_by_sglang
        why += f"; cause {theirs!r}: llmgen {named_by_us}, SGLang {named_by_sglang}"
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
        "SGLang",
        case.id,
        said.verdict,
        oracle,
        kind,
        why,
        case.disagree,
        {
            "argv": list(plan.args),
            "llmgen": said.text,
            "sglang_error": sglang["error"],
            "config": sglang.get("config", {}),
        },
    )
