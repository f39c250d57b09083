"""`llmgen upgrade SPEC --to VERSION`: what moving the spec to another engine version changes.

The spec is analysed twice, at its own version and at the target, by the same rules validate
runs; the report is the difference: problems the target raises that the spec's own version
does not (flags removed, renamed or not yet added, with the edits that fix them), the engine
defaults the spec leaves alone that move, the image and the memory estimate.
"""

from __future__ import annotations

import re
from dataclasses import field
from pathlib import Path
from typing import Any

from llmgen.engines import Engine, adapter, known_versions
from llmgen.engines.registry import version_problem
from llmgen.errors import Diagnostic, Severity, SpecError, UsageError
from llmgen.records import record
from llmgen.rules.analysis import Analysis, analyze
from llmgen.spec.load import check_spec, position_all
from llmgen.spec.yaml_loader import load_yaml_file

EXIT_OK, EXIT_BREAKS, EXIT_USAGE = 0, 1, 2


@record
class Moved:
    """One engine default the spec leaves to the engine, different at the target."""

    flag: str
    old: str
    new: str


@record
class Memory:
    """fit's estimate and budget of one device at both releases (None: unknown)."""

    device: str
    old: int | None
    new: int | None
    old_budget: int | None
    new_budget: int | None


@record
class Upgrade:
    """Everything that changes for one spec between two versions of its engine."""

    file: str
    engine: str
    title: str
    old: str
    new: str
    pinned: bool  # the spec names engine_version (else it follows the newest)
    problems: tuple[Diagnostic, ...]  # errors at the target that its own version lacks
    warnings: tuple[Diagnostic, ...]  # new warnings at the target (deprecated flags ...)
    defaults: tuple[Moved, ...]
    image: tuple[str, str]
    memory: tuple[Memory, ...]
    memory_note: str = ""
    edits: tuple[str, ...] = field(default=())

    @property
    def breaks(self) -> bool:
        """Whether the spec as written would fail at the target version."""
        return bool(self.problems)


class BrokenSpecError(SpecError):
    """The spec has errors at its own version: there is nothing sound to compare."""

    headline = "the spec has errors at its own version; fix them first (llmgen validate):"


def compare(path: Path, target: str) -> Upgrade:
    """Analyse the spec at `path` at its own version and at `target`, and say what changes."""
    loaded = load_yaml_file(path)
    spec, problems = check_spec(loaded)
    if spec is None:
        raise SpecError(problems)
    problem = version_problem(spec.engine, target)
    if problem is not None:
        known = problem.split(" (leave engine_version out", 1)[0]
        raise UsageError(f"--to {target}: {known}")
    here = analyze(spec)
    if here.errors:
        raise BrokenSpecError(position_all(loaded, list(here.errors)))
    there = analyze(spec.model_copy(update={"engine_version": target}))
    engine = adapter(spec.engine, here.plan.engine_version)
    seen = {(d.path, d.severity) for d in here.diagnostics}
    new_problems = [d for d in there.errors]
    new_warnings = [
        d
        for d in there.diagnostics
        if d.severity is Severity.WARNING and (d.path, d.severity) not in seen
    ]
    # At the target the fix is never "pin another version": it is the engine's replacement
    # or removing what the target lacks.
    edits = [
        f"{d.path}: " + (_removal(engine, d) if d.hint.startswith("set engine_version") else d.hint)
        for d in new_problems
        if d.hint
    ]
    follows_newest = spec.engine_version is None and target == known_versions(spec.engine)[-1]
    if here.plan.engine_version != target and not follows_newest:
        edits.append(f"engine_version: {target}")
    memory, note = _memory(here, there)
    return Upgrade(
        file=str(path),
        engine=spec.engine,
        title=engine.title,
        old=here.plan.engine_version,
        new=target,
        pinned=spec.engine_version is not None,
        problems=tuple(position_all(loaded, new_problems)),
        warnings=tuple(position_all(loaded, new_warnings)),
        defaults=tuple(_moved_defaults(here, there)),
        image=(here.plan.image, there.plan.image),
        memory=memory,
        memory_note=note,
        edits=tuple(edits),
    )


def _removal(engine: Engine, found: Diagnostic) -> str:
    """'remove --x and its value' for a flag item, in the words of the release it comes from."""
    quoted = re.search(r"'(-[^']+)'", found.message)
    flag = engine.flag_table.lookup(quoted.group(1)) if quoted else None
    if quoted is None or flag is None:
        return "remove it"
    return f"remove '{quoted.group(1)}'" + (" and its value" if flag.takes_value else "")


def _moved_defaults(here: Analysis, there: Analysis) -> list[Moved]:
    """Defaults of flags the spec leaves to the engine that differ between the versions."""
    old, new = here.config, there.config
    moved = []
    for name in sorted(set(old.defaults) | set(new.defaults)):
        if name in old.explicit or name in new.explicit:
            continue
        before, after = old.defaults.get(name), new.defaults.get(name)
        if before is None or after is None:
            continue  # a flag one version lacks: the flag tables' difference, not a default
        if before.value != after.value:
            moved.append(Moved(name, before.value, after.value))
    return moved


def _memory(here: Analysis, there: Analysis) -> tuple[tuple[Memory, ...], str]:
    """fit's estimate per device at both versions (the facts looked up once)."""
    from llmgen.fit.run import fit_spec

    before = fit_spec(here.spec, config=here.config, lookup=here.facts, cpu_features=frozenset())
    after = fit_spec(there.spec, config=there.config, lookup=there.facts, cpu_features=frozenset())
    if not before.devices or not after.devices:
        return (), (before.notes or after.notes or ("no estimate",))[0]
    new = {d.name: d for d in after.devices}
    found = []
    for device in before.devices:
        other = new.get(device.name)
        found.append(
            Memory(
                device.name,
                device.estimate_bytes,
                other.estimate_bytes if other else None,
                device.budget_bytes,
                other.budget_bytes if other else None,
            )
        )
    return tuple(found), ""


def as_json(found: Upgrade) -> dict[str, Any]:
    """The machine-readable report (keep these names; docs/cli.md)."""

    def diag(d: Diagnostic) -> dict[str, Any]:
        return {"path": d.path, "message": d.message, "fix": d.hint, "line": d.line}

    return {
        "spec": found.file,
        "engine": found.engine,
        "from": found.old,
        "to": found.new,
        "breaks": found.breaks,
        "problems": [diag(d) for d in found.problems],
        "warnings": [diag(d) for d in found.warnings],
        "edits": list(found.edits),
        "defaults": [{"flag": m.flag, "from": m.old, "to": m.new} for m in found.defaults],
        "image": {"from": found.image[0], "to": found.image[1]},
        "memory": [
            {
                "device": m.device,
                "from_bytes": m.old,
                "to_bytes": m.new,
                "from_budget_bytes": m.old_budget,
                "to_budget_bytes": m.new_budget,
            }
            for m in found.memory
        ],
        "memory_note": found.memory_note,
    }


def as_text(found: Upgrade) -> str:
    """The human report."""
    from llmgen.fit.sizes import format_size

    lines = [f"{found.file}: {found.title} {found.old} -> {found.new}"]
    if found.old == found.new:
        lines.append("  the spec already runs this version; nothing changes")
    if found.problems:
        lines.append("breaks at " + found.new + ":")
        lines += [f"  {d.format()}" for d in found.problems]
    if found.warnings:
        lines.append("warnings at " + found.new + ":")
        lines += [f"  {d.format()}" for d in found.warnings]
    if found.defaults:
        lines.append("defaults that move (flags the spec leaves to the engine):")
        width = max(len(moved.flag) for moved in found.defaults)
        for moved in found.defaults:
            before, after = _shown_pair(moved.old, moved.new)
            lines.append(f"  {moved.flag:{width}}  {before}  ->  {after}")
    else:
        lines.append("defaults: none of the flags the spec leaves to the engine moves")
    old_image, new_image = found.image
    lines.append(
        f"image: {old_image} -> {new_image}"
        if old_image != new_image
        else f"image: {old_image} (unchanged)"
    )
    if found.memory:
        for m in found.memory:
            old, new = (format_size(v) if v is not None else "no estimate" for v in (m.old, m.new))
            if m.old_budget is None and m.new_budget is None:
                # No device size in the spec (hardware:) nor read from the host.
                lines.append(f"memory ({m.device}): {old} -> {new} (device size unknown)")
                continue
            old_budget, new_budget = (
                format_size(v) if v is not None else "unknown" for v in (m.old_budget, m.new_budget)
            )
            lines.append(
                f"memory ({m.device}): {old} of {old_budget} usable -> {new} of {new_budget}"
            )
    else:
        lines.append(f"memory: {found.memory_note}")
    if found.edits:
        lines.append("edits:" if found.breaks else "to move, set:")
        lines += [f"  {edit}" for edit in found.edits]
    lines.append("verdict: " + ("breaks (exit 1)" if found.breaks else "nothing breaks"))
    return "\n".join(lines) + "\n"


def _shown_pair(old: str, new: str, limit: int = 48) -> tuple[str, str]:
    """Two defaults as the text report shows them: a config object's long repr is cut to a
    window that starts near the first character where the two differ, so the cut never hides
    the change (the JSON report keeps both whole)."""
    if len(old) <= limit and len(new) <= limit:
        return old, new
    first = next(
        (i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b),
        min(len(old), len(new)),
    )
    start = max(0, first - 12)
    return _window(old, start, limit), _window(new, start, limit)


def _window(value: str, start: int, limit: int) -> str:
    head = "..." if start > 0 else ""
    body = value[start:]
    return head + (body if len(body) <= limit else body[: limit - 3] + "...")
