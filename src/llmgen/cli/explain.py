"""`llmgen explain`: every flag and variable a spec renders, where it comes from, what it means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgen.engines.base import Engine, LaunchPlan
from llmgen.engines.effective import POSITIONAL, Origin
from llmgen.engines.flags import FlagTable
from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

# Variables llmgen sets that are not a flag's own variable: what they mean, and which spec
# field sets them.
_VARIABLES = {
    "VLLM_CPU_OMP_THREADS_BIND": ("runtime.threads", "CPU cores vLLM's CPU build binds to"),
    "OMP_NUM_THREADS": ("runtime.threads", "OpenMP threads of TGI's CPU build"),
    "HF_TOKEN": ("model.id", "Hugging Face token for gated or private repos (by name only)"),
}


@record
class Line:
    """One rendered flag or variable."""

    kind: str  # "flag" or "env"
    name: str
    value: str
    origin: str
    meaning: str
    targets: str  # where it is rendered: "all", "native", "container"

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready form."""
        return {
            "kind": self.kind,
            "name": self.name,
            "value": self.value,
            "origin": self.origin,
            "meaning": self.meaning,
            "targets": self.targets,
        }


def explain(plan: LaunchPlan, table: FlagTable) -> list[Line]:
    """The lines for a plan: flags in argv order, then environment variables."""
    lines: list[Line] = []
    for setting in plan.config.explicit.values():
        if setting.name == POSITIONAL:
            meaning = "the model to serve (positional argument)"
        else:
            meaning = setting.flag.help if setting.flag else ""
        name, value = setting.name, setting.value
        if setting.flag is not None and setting.flag.is_switch:
            name, value = setting.spelling, ""  # a switch is rendered without a value
        lines.append(Line("flag", name, value, _origin(setting.origin), meaning, "all"))
    by_variable = {flag.env_name: flag for flag in table.flags if flag.env_name}
    for secret in plan.secrets:
        origin = "server.api_key_env" if secret.required else _VARIABLES["HF_TOKEN"][0]
        meaning = "the API key clients must send" if secret.required else _VARIABLES["HF_TOKEN"][1]
        lines.append(
            Line("env", secret.engine_var, f"${secret.source_var}", origin, meaning, "all")
        )
    for pairs, targets in ((plan.env, "all"), (plan.container_env, "container")):
        for name, value in pairs:
            field, meaning = _VARIABLES.get(name, ("", ""))
            flag = by_variable.get(name)
            if flag is not None:
                given = plan.config.given(flag.name)
                field = _origin(given.origin) if given else field
                meaning = f"{flag.name}: {flag.help} (as a variable: the image's entrypoint "
                meaning += "would split or expand it as an argument)"
            lines.append(Line("env", name, value, field or "llmgen", meaning, targets))
    return lines


def moved_defaults(spec: Spec, engine: Engine, plan: LaunchPlan) -> list[Line]:
    """The defaults that matter to the spec (the flags its fields render, those llmgen sets
    itself, fit's memory flags) and differ between the versions llmgen knows of its engine:
    one line each, with every version's default and whether the spec sets the flag anyway."""
    from llmgen.engines import adapter, known_versions

    watched = [*engine.spec_fields, *engine.llmgen_notes]
    if engine.memory_flags is not None:
        flags = engine.memory_flags
        watched += [flags.context, flags.sequences, flags.batched_tokens, flags.memory_fraction]
    lines = []
    for name in dict.fromkeys(watched):
        by_version = {}
        for version in known_versions(engine.key):
            other = adapter(engine.key, version)
            flag = other.flag_table.by_name().get(name)
            value = flag.default if flag is not None else "(no such flag)"
            by_version[version] = other.device_defaults(spec).get(name, (value, ""))[0]
        if len(set(by_version.values())) < 2:
            continue
        given = plan.config.given(name)
        where = f"set by {_origin(given.origin)}" if given else "left to the engine"
        moves = "; ".join(f"{version}: {value}" for version, value in by_version.items())
        mine = by_version.get(engine.version, "")
        lines.append(
            Line(
                "moved-default",
                name,
                mine,
                f"default ({where})",
                f"differs by version: {moves}",
                "all",
            )
        )
    return lines


def _origin(origin: Origin) -> str:
    return origin.describe()


def format_text(lines: list[Line]) -> str:
    """Aligned columns: name and value, origin, meaning."""
    rows = [(f"{line.name} {line.value}".strip(), line.origin, line.meaning) for line in lines]
    width = max((len(r[0]) for r in rows), default=0)
    origin_width = max((len(r[1]) for r in rows), default=0)
    return "".join(
        f"{shown:<{width}}  {origin:<{origin_width}}  {meaning}".rstrip() + "\n"
        for shown, origin, meaning in rows
    )
