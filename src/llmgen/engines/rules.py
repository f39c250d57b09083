"""Rules shared by engines, read from the effective configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmgen.engines.effective import EffectiveConfig
from llmgen.errors import Diagnostic, error

if TYPE_CHECKING:
    from llmgen.engines.base import Engine
    from llmgen.spec.models import Spec


def world_size_rule(engine: Engine, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
    """The devices the engine's parallelism flags ask for must be exactly runtime.gpus.

    `gpus: N` means N devices in every target (the container asks for N, the pod requests N):
    a tensor, pipeline or data parallel size given through extra_args that needs another
    count would fail at start-up or leave devices idle.
    """
    if not engine.parallel_flags:
        return []
    # Across nodes the engine's node flags (vLLM's pipeline stages) come from deploy.nodes:
    # runtime.gpus counts the devices of one node, and such a flag in extra_args is the deploy
    # rules' to refuse (with the right fix), not a device count to correct here.
    from_nodes = engine.node_flags if spec.deploy.nodes > 1 else ()
    sizes = []
    for name in engine.parallel_flags:
        if name in from_nodes:
            continue
        value = config.int_value(name)
        sizes.append((name, value if value is not None else 1))
    world = 1
    for _, size in sizes:
        world *= size
    gpus = spec.runtime.gpus
    if world == max(gpus, 1):
        return []
    given = [config.given(name) for name, size in sizes if size != 1]
    culprits = [s for s in given if s is not None and s.origin.kind == "extra_args"]
    shown = " x ".join(s.shown() for s in given if s is not None) or "the defaults"
    path = culprits[0].origin.path if culprits else "runtime.gpus"
    owner = engine.spec_fields.get(engine.parallel_flags[0], "runtime.gpus")
    if gpus == 0:
        return [
            error(
                path,
                f"{shown} needs {world} GPUs, but runtime.gpus is 0 (a CPU deployment runs "
                "one process)",
                f"set runtime.gpus: {world} and remove the flag; llmgen renders "
                f"{engine.parallel_flags[0]} from {owner}",
            )
        ]
    return [
        error(
            path,
            f"{shown} conflicts with runtime.gpus: {gpus}: {engine.title} would use {world} "
            "devices",
            f"set runtime.gpus to the number of devices ({world}) and drop the flag; llmgen "
            f"renders {engine.parallel_flags[0]} from {owner}",
        )
    ]
