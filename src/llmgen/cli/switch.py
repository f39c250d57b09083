"""`llmgen validate SPEC --as-engine NAME`: what moving a spec to another engine would change.

The spec is judged twice, as written and with `engine:` replaced, and the report names, from
the two adapters: the flag each spec field becomes, the fields the other engine lacks, the
extra_args it does not know, the image, and the other engine's verdict on the moved spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

import yaml

from llmgen.engines import ENGINES, Engine, adapter
from llmgen.errors import Diagnostic, LlmgenError, Severity, SpecError
from llmgen.records import record


@record
class Move:
    """One spec judged for another engine."""

    path: str
    source: str  # engine key as written
    target: str
    lines: tuple[str, ...]  # the report, one line each
    errors: int


def _flags_by_field(engine: Engine) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for flag, owner in engine.spec_fields.items():
        found.setdefault(owner, []).append(flag)
    return found


# How a replica spans nodes under each recipe (Engine.multinode; llmgen.render.multinode).
_RECIPES: dict[str | None, str] = {
    "ray": "a Ray cluster (tensor parallel within a node, pipeline parallel across nodes)",
    "rpc": "ggml-rpc-server workers that llama-server on the head offloads to, outside Kubernetes",
    "ranks": "the engine on every node with its node rank (rank 0 serves HTTP)",
    None: "no multi-node serving",
}


def _nodes(data: dict[str, Any]) -> int:
    deploy = data.get("deploy")
    nodes = deploy.get("nodes", 1) if isinstance(deploy, dict) else 1
    return nodes if isinstance(nodes, int) and not isinstance(nodes, bool) else 1


def _is_set(data: dict[str, Any], field: str) -> bool:
    node: Any = data
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _extra_flags(data: dict[str, Any]) -> list[str]:
    runtime = data.get("runtime")
    extra = runtime.get("extra_args") if isinstance(runtime, dict) else None
    if not isinstance(extra, list):
        return []
    return [str(a).split("=", 1)[0] for a in extra if str(a).startswith("-")]


def _judge(text: str, name: str) -> tuple[list[Diagnostic], Any]:
    from llmgen.rules.analysis import validate_text

    try:
        validated = validate_text(text, name)
    except SpecError as exc:
        return list(exc.diagnostics), None
    return list(validated.diagnostics), validated.spec


def move(path: Path, target: str) -> Move:
    """Judge the spec at `path` as if it named engine `target`."""
    text = path.read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or data.get("engine") not in ENGINES:
        raise LlmgenError(f"{path}: not a spec with a known engine: (run llmgen validate first)")
    source = str(data["engine"])
    pinned = data.get("engine_version")
    try:
        old = adapter(source, pinned if isinstance(pinned, str) else None)
    except ValueError:
        old = ENGINES[source]  # validate itself reports the unknown version
    new = ENGINES[target]
    lines = [
        f"{path}: as {target} ({new.title} {new.version}) instead of {source} "
        f"({old.title} {old.version})"
    ]
    if source == target:
        lines.append("  the spec already names this engine; nothing moves")
    old_flags, new_flags = _flags_by_field(old), _flags_by_field(new)
    mapped = []
    for field in sorted(set(old_flags) | set(new_flags)):
        if field != "model" and not _is_set(data, field):
            continue
        before = " ".join(old_flags.get(field, [])) or "(no flag)"
        after = " ".join(new_flags.get(field, [])) or "(no flag)"
        if before != after:
            mapped.append(f"    {field}: {before} -> {after}")
    if mapped:
        lines.append(f"  spec fields that render other flags ({old.title} -> {new.title}):")
        lines += mapped
    lacking = [
        f"    runtime.{name}: {why}"
        for name, why in new.unsupported.items()
        if _is_set(data, f"runtime.{name}")
    ]
    if lacking:
        lines.append(f"  fields {new.title} lacks (remove them):")
        lines += lacking
    unknown = [flag for flag in _extra_flags(data) if new.flag_table.lookup(flag) is None]
    if unknown:
        lines.append(f"  runtime.extra_args {new.title} does not know: {', '.join(unknown)}")
    if _nodes(data) > 1 and old.multinode != new.multinode:
        lines.append(
            f"  deploy.nodes {_nodes(data)}: {old.title} spans them with "
            f"{_RECIPES[old.multinode]}, {new.title} with {_RECIPES[new.multinode]} "
            "(multinode/ and kubernetes.yaml change)"
        )
    server = data.get("server")
    if (
        isinstance(server, dict)
        and server.get("api_key_env")
        and old.api_key_var != new.api_key_var
    ):
        lines.append(
            f"  API key: {new.title} gets it as {new.api_key_var} (was {old.api_key_var}), "
            f"still from {server['api_key_env']}; open routes: {', '.join(new.open_routes)}"
        )
    # Another engine's versions are not this one's: the moved spec runs the newest of it.
    moved = {
        key: value
        for key, value in dict(data, engine=target).items()
        if key != "engine_version" or source == target
    }
    if pinned is not None and source != target:
        lines.append(
            f"  engine_version: {pinned} is a {old.title} version; dropped (the newest {new.title}, {new.version})"
        )
    diagnostics, spec = _judge(yaml.safe_dump(moved, sort_keys=False), path.name)
    if spec is not None:
        old_image = "{}:{}".format(*old.image(spec))
        new_image = "{}:{}".format(*new.image(spec))
        lines.append(f"  image: {old_image} -> {new_image}")
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    verdict = "accepts" if not errors else f"refuses ({len(errors)} error(s))"
    lines.append(
        f"  {new.title} {verdict} the moved spec:"
        if diagnostics
        else f"  {new.title} accepts the moved spec as it is"
    )
    lines += [f"    {d.format()}" for d in diagnostics]
    return Move(str(path), source, target, tuple(lines), len(errors))


def report_moves(moves: list[Move], out: IO[str]) -> int:
    """Print every move; exit status 1 when a moved spec has an error."""
    for item in moves:
        for line in item.lines:
            print(line, file=out)
    return 1 if any(m.errors for m in moves) else 0
