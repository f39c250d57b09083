"""Find the facts for a spec's model: the local file, the Hugging Face cache, the hub (only
when asked), then the built-in catalog. Never a guess: an unknown model says so."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmgen.facts.catalog import catalog_facts
from llmgen.facts.hf_cache import cached_snapshot, choose_gguf, hub_offline
from llmgen.facts.hf_files import FactsReadError, facts_from_directory
from llmgen.facts.model import ModelFacts
from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.spec.models import Spec


@record
class FactsLookup:
    """The facts found for a model, or why there are none."""

    facts: ModelFacts | None
    note: str  # where the facts came from, or why they are unknown
    read_error: str | None = None  # a model file that exists but cannot be read


def local_facts(path: str) -> ModelFacts | None:
    """Facts of a model file or directory on this machine; None when it is not here."""
    location = Path(path)
    if location.is_dir() and (location / "config.json").is_file():
        return facts_from_directory(location)
    if location.is_file() and location.suffix.lower() == ".gguf":
        # Imported here: the GGUF reader's classes cost a validate or render of a hub or
        # catalog model a few ms for nothing.
        from llmgen.facts.gguf_facts import facts_from_gguf_file

        return facts_from_gguf_file(location)
    return None


def lookup_facts(spec: Spec, *, gguf: bool, online: bool = False) -> FactsLookup:
    """Facts for the spec's model; `gguf`: the engine loads GGUF files (its adapter's
    `model_kind`); `online` allows the hub (fit, validate --online)."""
    if spec.model.path is not None:
        try:
            facts = local_facts(spec.model.path)
        except FactsReadError as exc:
            return FactsLookup(None, "unreadable", str(exc))
        if facts is None:
            return FactsLookup(None, f"{spec.model.path} is not on this machine")
        return FactsLookup(facts, facts.source)
    hub_id = spec.model.id or ""
    try:
        cached = cached_hub_facts(hub_id, spec.model.revision, gguf)
    except FactsReadError as exc:
        return FactsLookup(None, "unreadable", str(exc))
    if cached is not None:
        return FactsLookup(cached, cached.source)
    hub_problem = ""
    if online and not hub_offline():
        from llmgen.facts.hub import HubError, hub_facts

        try:
            facts = hub_facts(hub_id, spec.model.revision, gguf)
            return FactsLookup(facts, facts.source)
        except HubError as exc:
            hub_problem = f"; the hub: {exc}"
    facts = catalog_facts(hub_id, gguf)
    if facts is not None:
        return FactsLookup(facts, facts.source)
    where = "the hub was not asked (offline)" if not online or hub_offline() else "not on the hub"
    return FactsLookup(
        None,
        f"'{hub_id}' is not in the Hugging Face cache nor in llmgen's catalog, and "
        + (hub_problem.removeprefix("; ") or where),
    )


def cached_hub_facts(hub_id: str, revision: str | None, gguf: bool) -> ModelFacts | None:
    """Facts from the local Hugging Face cache when the model was fetched before."""
    repo, _, quant = hub_id.partition(":")
    snapshot = cached_snapshot(repo, revision)
    if snapshot is None:
        return None
    if gguf:
        chosen = choose_gguf([p.name for p in snapshot.rglob("*.gguf")], quant)
        if chosen is None:
            return None
        from llmgen.facts.gguf_facts import facts_from_gguf_file

        facts = facts_from_gguf_file(snapshot / chosen)
    elif (snapshot / "config.json").is_file():
        facts = facts_from_directory(snapshot)
    else:
        return None
    return _resourced(facts, f"hf-cache:{hub_id} ({facts.source})")


def _resourced(facts: ModelFacts, source: str) -> ModelFacts:
    from dataclasses import replace

    return replace(facts, source=source)
