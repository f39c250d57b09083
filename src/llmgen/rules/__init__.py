"""Every rule a spec must obey, one module per concern, run in one order over one analysis.

The order (llmgen.rules.analysis.analyze runs it; docs/spec-rules.md's table is generated
from it, tests/rules/test_rules_table.py keeps the two the same):
1. the spec's fields (llmgen.spec: types, patterns, cross-field checks): no Spec without them;
2. the engine's start-up rules, found while planning (llmgen.engines: the policy on public
   binds, knobs the engine lacks, GGUF or not, extra_args against the flag table, routes, and
   each adapter's config_rules): they belong to the adapter, which knows the engine;
3. RULES below, each declared once (llmgen.rules.declare): the model's facts (model), the
   machine (hardware), the deploy section (deploy), the client section (client) and whether
   the systemd unit's DynamicUser can read a local model (access).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from llmgen.rules import access, client, deploy, hardware, model
from llmgen.rules.declare import Context, Rule

if TYPE_CHECKING:
    from llmgen.errors import Diagnostic

RULES: tuple[Rule, ...] = (
    model.unreadable,
    hardware.gpu_count,
    *model.MODEL_RULES,
    hardware.fits,  # after the model rules: only a spec they accept is sized
    deploy.name_length,
    deploy.shared_claim,
    deploy.no_multinode,
    deploy.multinode_release,
    deploy.node_gpus,
    deploy.node_flags,
    deploy.rpc_hosts,
    deploy.rpc_offload,
    deploy.rpc_flag,
    client.max_tokens,
    client.engine_limits,
    access.unit_access,
)


def run_rules(context: Context) -> list[Diagnostic]:
    """Every rule's diagnostics for `context`, in RULES order. Each rule sees, as `earlier`,
    what `context` already held (the engine's start-up rules) and what the rules before it
    found."""
    found: list[Diagnostic] = []
    seen = context
    for each in RULES:
        if len(seen.earlier) != len(context.earlier) + len(found):
            seen = replace(context, earlier=(*context.earlier, *found))  # else reuse it
        found += each(seen)
    return found
