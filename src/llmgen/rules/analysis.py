"""Turn a spec file into a validated Spec plus diagnostics with file:line:col positions."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, replace
from typing import Any

from llmgen.engines import ENGINES
from llmgen.engines.base import LaunchPlan
from llmgen.errors import Diagnostic, Severity, SpecError, error, warning
from llmgen.rules.client import client_checks
from llmgen.spec.hints import misplaced_key_hint
from llmgen.spec.models import Spec, parse_spec
from llmgen.spec.sections import Invalid, Section, SectionError, section_fields
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
    try:
        spec = parse_spec(loaded.data)
    except SectionError as exc:
        raise SpecError(_position_all(loaded, _section_diagnostics(exc.errors))) from None
    # One pass: the plan carries the engine's diagnostics, computed with its effective
    # configuration; render reuses this plan instead of checking again.
    plan = ENGINES[spec.engine].plan(spec)
    found = [*plan.diagnostics, *_model_checks(spec, plan, online), *_deploy_checks(spec, plan)]
    found += client_checks(spec)
    found = _position_all(loaded, found)
    errors = [d for d in found if d.severity is Severity.ERROR]
    if errors:
        raise SpecError(errors + [d for d in found if d.severity is not Severity.ERROR])
    return Validated(spec, tuple(found), loaded.file, plan)


def _model_checks(spec: Spec, plan: LaunchPlan, online: bool) -> list[Diagnostic]:
    """Compare the spec with its model's facts and, with `hardware:`, the machine."""
    from llmgen.rules.access import unit_access_fix, unreadable_reason
    from llmgen.rules.model import model_diagnostics

    found = model_diagnostics(spec, plan.config, online=online)
    reason = unreadable_reason(spec.model.path) if spec.model.path else None
    if reason and spec.model.path:
        found.append(
            warning(
                "model.path",
                f"the systemd unit's DynamicUser cannot read the model: {reason}",
                unit_access_fix(spec.model.path),
            )
        )
    return found


def _deploy_checks(spec: Spec, plan: LaunchPlan) -> list[Diagnostic]:
    """Rules of the deploy section (replicas, nodes): llmgen.rules.deploy."""
    from llmgen.rules.deploy import multinode_checks

    engine = ENGINES[spec.engine]
    return multinode_checks(spec, engine, plan.config or engine.effective(spec))


def _section_diagnostics(errors: list[Invalid]) -> list[Diagnostic]:
    """One diagnostic per problem, saying what to write instead where that is clear."""
    found = []
    for item in errors:
        loc, kind = item.loc, item.kind
        message, hint = _type_message(kind, item.value, item.message)
        if kind == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'"
            hint = misplaced_key_hint(loc) or _did_you_mean(loc)
        elif kind == "missing":
            message = "required key is missing"
            hint = f"add `{loc[-1]}:`"
        elif kind == "string_pattern_mismatch":
            message = _pattern_message(loc, item.value)
            hint = "the character rules per field are in docs/spec-rules.md"
        elif kind == "literal_error":
            message = f"{message}, not {item.value!r}"
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")
        elif kind == "union_type":
            hint = "see the field's description in schemas/llmgen.schema.json"
        found.append(error(_dotted(loc), message, hint))
    return found


def _type_message(kind: str, value: Any, default: str) -> tuple[str, str]:
    """Messages for YAML values of the wrong type, saying what to write instead."""
    if kind == "string_type" and isinstance(value, bool | int | float):
        what = "a boolean" if isinstance(value, bool) else "a number"
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return (
            f"YAML read {text} as {what}, but this field is text",
            f'quote it: "{text}"',
        )
    if kind == "list_type" and isinstance(value, str):
        words = value.split()
        example = ", ".join(f'"{w}"' for w in words[:3]) + (", ..." if len(words) > 3 else "")
        return (
            "must be a list, not one string",
            f"write one item per word: [{example}]",
        )
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return (
            f"must be a mapping of keys (key: value lines), not {value!r}",
            "see the keys in schemas/llmgen.schema.json",
        )
    if kind == "int_type" and isinstance(value, float):
        return f"must be a whole number, not {value!r}", ""
    if kind == "int_type" and isinstance(value, str):
        return (
            f"must be a whole number, not the text {value!r}",
            "write the number without quotes" if value.strip().isdigit() else "",
        )
    if kind == "float_type" and isinstance(value, str):
        return (
            f"must be a number, not the text {value!r}",
            "write the number without quotes" if _is_number(value) else "",
        )
    if kind == "bool_type":
        return (f"must be true or false, not {value!r}", "write true or false without quotes")
    return default, ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_PATTERN_RULES = {
    "name": "lowercase letters, digits and '-', starting with a letter and ending with a letter "
    "or digit, at most 63 characters",
    "model.id": "'org/name' with letters, digits and '._-' (plus ':QUANT' for llama.cpp)",
    "model.path": "an absolute path of letters, digits, spaces and '._/@+=,-'",
    "model.revision": "letters, digits and '._/-'",
    "model.served_name": "letters, digits and '._/:@+-', at most 128 characters, no commas",
    "server.api_key_env": "an environment variable name: A-Z, 0-9 and '_', not starting "
    "with a digit",
    "server.executable": "an absolute path of letters, digits and '._/+-'",
    "runtime.kv_cache_memory": "a byte count, optionally with K, M, G or T (e.g. 64M)",
    "container.image_tag": "letters, digits and '_.-' (a release tag)",
    "deploy.namespace": "a Kubernetes namespace: lowercase letters, digits and '-', starting and "
    "ending with a letter or digit, at most 63 characters",
    "deploy.storage.size": "a size in Mi, Gi or Ti, such as 200Gi",
    "deploy.storage.claim": "a Kubernetes object name: lowercase letters, digits, '-' and '.'",
    "deploy.storage.class_name": "a Kubernetes object name: lowercase letters, digits, '-' and '.'",
    "deploy.gpu_resource": "an extended resource name such as nvidia.com/gpu (domain/name)",
    "hardware.gpu_memory": "a size such as 24GB, 80 GiB or 16G",
    "hardware.memory": "a size such as 64GB, 512 GiB or 32G",
}


def _pattern_message(loc: tuple[Any, ...], value: Any) -> str:
    rule = _PATTERN_RULES.get(_dotted(loc), "an allowed value")
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"{shown} is not valid: must be {rule}"


def _did_you_mean(loc: tuple[Any, ...]) -> str:
    section: type[Section] | None = Spec
    for part in loc[:-1]:
        section = section_fields(section).get(str(part)) if section else None
    if section is None:
        return ""
    known = list(section.settings)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return "known keys: " + ", ".join(known)


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _position_all(loaded: LoadedYaml, found: list[Diagnostic]) -> list[Diagnostic]:
    positioned = []
    for item in found:
        parts = item.path.split(".") if item.path else []
        path = tuple(int(p) if p.isdigit() else p for p in parts)
        line, column = loaded.position(path)
        positioned.append(replace(item, file=loaded.file, line=line, column=column))
    return positioned
