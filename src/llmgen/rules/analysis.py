"""Turn a spec file into a validated Spec plus diagnostics with file:line:col positions."""

from __future__ import annotations

import os
from dataclasses import dataclass

from llmgen.engines import ENGINES
from llmgen.engines.base import LaunchPlan
from llmgen.errors import Diagnostic, Severity, SpecError
from llmgen.rules.client import client_checks
from llmgen.spec.load import check_spec, position_all
from llmgen.spec.models import Spec
from llmgen.spec.yaml_loader import LoadedYaml, load_yaml_file, parse_yaml


@dataclass(frozen=True)
class Validated:
    """A spec that passed validation (warnings allowed) and everything found on the way."""

    spec: Spec
    diagnostics: tuple[Diagnostic, ...]
    file: str
    plan: LaunchPlan


def validate_file(path: str | os.PathLike[str], *, online: bool = False) -> Validated:
    """Load and check one spec file; raises SpecError listing every error.

    `online` lets the model checks ask the hub for a hub model's facts (never by default).
    """
    return _validate_loaded(load_yaml_file(path), online=online)


def validate_text(text: str, name: str = "<spec>") -> Validated:
    """Check a spec given as YAML text (for tests and stdin)."""
    return _validate_loaded(parse_yaml(text, name))


def _validate_loaded(loaded: LoadedYaml, *, online: bool = False) -> Validated:
    spec, problems = check_spec(loaded)
    if spec is None:
        raise SpecError(problems)
    # One pass: the plan carries the engine's diagnostics, computed with its effective
    # configuration; render reuses this plan instead of checking again.
    plan = ENGINES[spec.engine].plan(spec)
    found = [*plan.diagnostics, *_model_checks(spec, plan, online), *_deploy_checks(spec, plan)]
    found += client_checks(spec)
    found = position_all(loaded, found)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise SpecError(errors + [d for d in found if d.severity is not Severity.ERROR])
    return Validated(spec, tuple(found), loaded.file, plan)


def _model_checks(spec: Spec, plan: LaunchPlan, online: bool) -> list[Diagnostic]:
    """Compare the spec with its model's facts and, with `hardware:`, the machine."""
    from llmgen.rules.model import model_diagnostics

    return model_diagnostics(spec, plan.config, online=online)


def _deploy_checks(spec: Spec, plan: LaunchPlan) -> list[Diagnostic]:
    """Rules of the deploy section (replicas, nodes): llmgen.rules.deploy."""
    from llmgen.rules.deploy import multinode_checks

    engine = ENGINES[spec.engine]
    return multinode_checks(spec, engine, plan.config or engine.effective(spec))
