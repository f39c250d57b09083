"""What the oracle suites share: llmgen's verdict on a spec, the argv it renders, the record of
one comparison with an engine, how two verdicts are compared, and (for the engines judged by
their own parser in a subprocess: vLLM, SGLang) the corpus case, the driver call and the
comparison of a whole corpus.

llmgen is asked only through its public API (`llmgen.rules.analysis.validate_text`,
`llmgen.render.bundle.render`); the engine's verdict comes from the engine itself, never from llmgen.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

Verdict = Literal["accept", "refuse"]
Kind = Literal["agree", "policy", "disagree"]


@dataclass(frozen=True)
class LlmgenVerdict:
    """What `llmgen validate` says about a spec: accept (maybe with warnings) or refuse."""

    verdict: Verdict
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def text(self) -> str:
        """Every message, one per line (what a user reads)."""
        return "\n".join(self.errors + self.warnings)


@dataclass
class Comparison:
    """One corpus case judged by llmgen and by the engine."""

    engine: str
    case: str
    llmgen: Verdict
    oracle: Verdict
    kind: Kind
    why: str  # the cause both named, or what differs
    expected_disagreement: str = ""  # non-empty: the corpus marks this case as known to differ
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        """Same verdict (and, for a refusal, the same cause) as the engine."""
        return self.kind == "agree"


def spec_yaml(data: dict[str, Any]) -> str:
    """The spec as YAML text, the way a user would write it."""
    return yaml.safe_dump(data, sort_keys=False)


def llmgen_verdict(data: dict[str, Any]) -> LlmgenVerdict:
    """Validate `data` through llmgen's public entry point."""
    from llmgen.errors import Severity, SpecError
    from llmgen.rules.analysis import validate_text

    try:
        validated = validate_text(spec_yaml(data), "oracle.yaml")
    except SpecError as exc:
        errors = tuple(d.format() for d in exc.diagnostics if d.severity is Severity.ERROR)
        warnings = tuple(d.format() for d in exc.diagnostics if d.severity is not Severity.ERROR)
        return LlmgenVerdict("refuse", errors, warnings)
    warnings = tuple(d.format() for d in validated.diagnostics)
    return LlmgenVerdict("accept", (), warnings)


def rendered_plan(data: dict[str, Any]) -> Any:
    """llmgen's LaunchPlan for `data`, rendered even when validation refuses the spec.

    The engine must be asked about exactly the argv llmgen would write, so a spec llmgen refuses
    is still rendered from its schema-valid model (the schema, not the engine rules, decides
    whether there is an argv at all).
    """
    from llmgen.render.bundle import render
    from llmgen.spec.models import parse_spec

    return render(parse_spec(data)).plan


# Every comparison the oracle tests make in this session, for the figures printed at the end
# (tests/oracle/conftest.py) and for LLMGEN_ORACLE_REPORT.
RESULTS: list[Comparison] = []


def figures(results: list[Comparison]) -> list[str]:
    """One line per engine: cases, agreements, policy refusals, disagreements (with ids)."""
    lines = []
    for engine in sorted({r.engine for r in results}):
        mine = [r for r in results if r.engine == engine]
        agree = [r for r in mine if r.kind == "agree"]
        policy = [r for r in mine if r.kind == "policy"]
        differ = [r for r in mine if r.kind == "disagree"]
        judged = len(agree) + len(differ)
        share = 100.0 * len(agree) / judged if judged else 100.0
        line = (
            f"{engine} oracle: {len(mine)} cases; same verdict and cause in {len(agree)} of "
            f"{judged} ({share:.0f}%); {len(policy)} refused by llmgen's own policy"
        )
        if differ:
            line += "; disagree: " + ", ".join(r.case for r in differ)
        lines.append(line)
    return lines


def classify(
    said: LlmgenVerdict,
    oracle: Verdict,
    evidence: str,
    patterns: tuple[str, str],
    *,
    policy: str,
    engine: str,
) -> tuple[Kind, str]:
    """How llmgen's verdict compares with the engine's, and the words that say why.

    `agree`: the same verdict, and for a refusal both llmgen's errors and the engine's
    `evidence` match their pattern of the cause (`patterns` = (llmgen, engine)). `policy`:
    llmgen refuses by a rule of its own (its errors match `policy`) where the engine accepts.
    Anything else is `disagree`.
    """
    ours, theirs = patterns
    errors = "\n".join(said.errors)
    if said.verdict != oracle:
        agree = False
        why = f"; llmgen {said.verdict}s" + (f": {said.errors[0]}" if said.errors else "")
    elif said.verdict == "refuse":
        named_by_us = bool(ours) and re.search(ours, errors, re.I) is not None
        named_by_engine = bool(theirs) and re.search(theirs, evidence, re.I) is not None
        agree = named_by_us and named_by_engine
        why = f"; cause {theirs!r}: llmgen {named_by_us}, {engine} {named_by_engine}"
        if not agree:
            why += f"; llmgen: {said.errors}"
    else:
        agree, why = True, ""
    kind: Kind = "agree" if agree else "disagree"
    if (
        policy
        and said.verdict == "refuse"
        and oracle == "accept"
        and re.search(policy, errors, re.I)
    ):
        kind = "policy"
    return kind, why


@dataclass(frozen=True)
class ArgvCase:
    """One spec of a corpus judged by the engine's own parser and checks (vLLM, SGLang).

    `model`: a key of the model variants; `runtime`: spec runtime fields over the corpus's
    defaults; `extra`: runtime.extra_args.
    `cause`: regular expression (or an (llmgen, engine) pair) both refusals must match.
    `policy`: llmgen refuses by a rule of its own while the engine accepts; words its message holds.
    `source`: for what the CPU checks cannot show (GPU counts, device-dependent defaults): the
    engine's verdict at the pinned version on the devices the spec allows, with the file and
    line that decide it (that verdict is then the judge).
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
        """(llmgen pattern, engine pattern) of the expected cause."""
        return self.cause if isinstance(self.cause, tuple) else (self.cause, self.cause)


@dataclass(frozen=True)
class ArgvOracle:
    """An engine whose own parser judges argvs in one subprocess of its environment.

    `driver`: the script run as `python DRIVER REQUESTS.json VERDICTS.json` (see
    oracle_driver_loop.py); `engine`: its name in the figures; `checks`: what judged on this
    machine (e.g. "vLLM (CPU build)"); `source`: what a citation is of (e.g. "vLLM 0.33.0
    source"); `unset`: environment variables removed so the default behaviour is judged;
    `env`: variables added for the driver.
    """

    engine: str
    driver: Path
    checks: str
    source: str
    unset: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)

    def ask(self, python: Path, requests: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
        """Run the driver once on every request; returns its verdicts in the same order."""
        source = work / "requests.json"
        target = work / "verdicts.json"
        source.write_text(json.dumps(requests), "utf-8")
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", **self.env)
        for name in self.unset:
            env.pop(name, None)
        done = subprocess.run(
            [str(python), str(self.driver), str(source), str(target)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        if done.returncode != 0 or not target.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
            raise RuntimeError(f"{self.driver.name} failed ({done.returncode}):\n{tail}")
        verdicts: list[dict[str, Any]] = json.loads(target.read_text("utf-8"))
        return verdicts

    def judge_all(
        self,
        cases: Sequence[ArgvCase],
        spec_for: Callable[[Any], dict[str, Any]],
        python: Path,
        work: Path,
        argvs: Callable[[Any, dict[str, Any], Any], dict[str, list[str]]] | None = None,
    ) -> dict[str, Comparison]:
        """llmgen's and the engine's verdicts on every case, compared; keyed by case id.

        The engine is asked about exactly the argv and environment llmgen renders for the
        case's spec (`spec_for(case)`): the plan's argv, or with `argvs(case, data, plan)` one
        argv per role (e.g. each node of a multi-node deployment), keyed `<case id>/<role>`.
        """
        datas = {case.id: spec_for(case) for case in cases}
        plans = {case.id: rendered_plan(datas[case.id]) for case in cases}
        asked: list[tuple[ArgvCase, str, list[str]]] = []
        for case in cases:
            data, plan = datas[case.id], plans[case.id]
            roles = argvs(case, data, plan) if argvs else {"": list(plan.args)}
            asked += [(case, f"{case.id}/{r}" if r else case.id, a) for r, a in roles.items()]
        requests = [
            {"id": key, "argv": argv, "env": dict(plans[case.id].env)} for case, key, argv in asked
        ]
        verdicts = {v["id"]: v for v in self.ask(python, requests, work)}
        return {
            key: self.compare(case, datas[case.id], argv, verdicts[key], key)
            for case, key, argv in asked
        }

    def compare(
        self,
        case: ArgvCase,
        data: dict[str, Any],
        argv: list[str],
        answer: dict[str, Any],
        key: str,
    ) -> Comparison:
        """One argv of a case: the verdicts, whether they agree, and why."""
        said = llmgen_verdict(data)
        cpu_verdict: Verdict = answer["verdict"]
        source_verdict, citation = case.source
        # Where the pinned version's source decides (a device rule), it is the judge.
        oracle: Verdict = source_verdict if citation else cpu_verdict
        why = f"{self.checks}: {cpu_verdict}" + (f": {answer['error']}" if answer["error"] else "")
        if citation:
            why += f"; {self.source}: {source_verdict} ({citation})"
        evidence = citation if citation else answer["error"]
        kind, reason = classify(
            said, oracle, evidence, case.patterns(), policy=case.policy, engine=self.engine
        )
        return Comparison(
            self.engine,
            key,
            said.verdict,
            oracle,
            kind,
            why + reason,
            case.disagree,
            {
                "argv": argv,
                "llmgen": said.text,
                f"{self.engine.lower()}_error": answer["error"],
                "config": answer.get("config", {}),
            },
        )


def corpus_param(case: ArgvCase | Any) -> Any:
    """The pytest parameter of a corpus case: its id, and a strict xfail for a known disagreement."""
    marks = [pytest.mark.xfail(reason=case.disagree, strict=True)] if case.disagree else []
    return pytest.param(case, id=case.id, marks=marks)


def record_and_check(policy: str, comparison: Comparison) -> None:
    """Keep the comparison for the figures and assert it: a `policy` case must be llmgen's own
    refusal of what the engine accepts; any other case must agree with the engine."""
    RESULTS.append(comparison)
    expected = "policy" if policy else "agree"
    assert comparison.kind == expected, comparison.why


def check_corpus_ids(ids: Iterable[str], at_least: int = 40) -> None:
    """A corpus is large enough (the issues ask for 40 specs) and its ids are unique."""
    listed = list(ids)
    assert len(listed) >= at_least, f"{len(listed)} cases, fewer than {at_least}"
    duplicated = sorted({i for i in listed if listed.count(i) > 1})
    assert not duplicated, f"ids used twice: {duplicated}"
