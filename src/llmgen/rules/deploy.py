"""The deploy section's rules: replicas, nodes and what a multi-node spec must not set.

An engine says which multi-node recipe it supports with one class constant (`multinode`):
vLLM joins a Ray cluster; llama.cpp offloads to `rpc-server` processes on worker hosts; TGI has
none. The recipes themselves are rendered by llmgen.render.multinode.
"""

from __future__ import annotations

from llmgen.engines.base import Engine
from llmgen.engines.effective import EffectiveConfig
from llmgen.errors import Diagnostic, error, warning
from llmgen.spec.models import Spec


def multinode_checks(spec: Spec, engine: Engine, config: EffectiveConfig) -> list[Diagnostic]:
    """Rules of `deploy`: which engines span nodes, and what a multi-node spec must not set.

    `config` is the plan's effective configuration (extra_args are parsed once, there).
    """
    deploy = spec.deploy
    found: list[Diagnostic] = []
    longest = _longest_name(spec, engine)
    if len(spec.name) > longest:
        found.append(
            error(
                "name",
                f"'{spec.name}' has {len(spec.name)} characters; with these replicas/nodes "
                f"Kubernetes labels its pods '<name>-<suffix>' within 63, so at most {longest}",
                f"shorten name to {longest} characters or fewer",
            )
        )
    if deploy.storage.claim is not None and deploy.replicas > 1:
        found.append(
            warning(
                "deploy.storage.claim",
                f"all {deploy.replicas} replicas mount the existing claim "
                f"'{deploy.storage.claim}': it must be ReadWriteMany",
                "use a ReadWriteMany claim, or remove storage.claim so each replica gets its own",
            )
        )
    if deploy.nodes == 1:
        return found
    if engine.multinode is None:
        found.append(
            error(
                "deploy.nodes",
                f"{engine.title} {engine.version} has no multi-node serving",
                "set deploy.nodes to 1 and shard across the GPUs of one node with runtime.gpus, "
                "or use engine: vllm",
            )
        )
        return found
    if engine.multinode == "ray":
        if spec.runtime.gpus == 0:
            found.append(
                error(
                    "deploy.nodes",
                    f"{engine.title} spans nodes with GPUs only, but runtime.gpus is 0",
                    "set runtime.gpus to the GPUs of one node",
                )
            )
        for flag in engine.node_flags:
            if config.given(flag) is not None:
                found.append(
                    error(
                        config.path_of(flag),
                        f"'{flag}' is set from deploy.nodes when the deployment spans nodes",
                        f"remove {flag} from runtime.extra_args",
                    )
                )
    if engine.multinode == "rpc":
        found.append(
            warning(
                "deploy.nodes",
                f"llama.cpp spans {deploy.nodes} hosts with rpc-server outside Kubernetes only: "
                "multinode/ holds the head and worker scripts; kubernetes.yaml, compose.yaml and "
                "docker-run.sh run the model on one node",
                "list the workers in LLMGEN_RPC_SERVERS when starting multinode/launch-head.sh",
            )
        )
    if engine.multinode == "rpc" and (spec.runtime.gpus == 0 or spec.runtime.gpu_layers == 0):
        found.append(
            error(
                "deploy.nodes",
                "rpc-server workers only receive the layers offloaded with --gpu-layers, "
                "and this spec offloads none",
                "set runtime.gpus to the head's GPUs (1 or more) and leave runtime.gpu_layers "
                "unset or above 0",
            )
        )
    if engine.multinode == "rpc" and config.given("--rpc") is not None:
        found.append(
            error(
                config.path_of("--rpc"),
                "'--rpc' is set from LLMGEN_RPC_SERVERS when the deployment spans hosts",
                "remove --rpc from runtime.extra_args",
            )
        )
    return found


def _longest_name(spec: Spec, engine: Engine) -> int:
    # A StatefulSet's pods carry `controller-revision-hash: <name>-<10-char hash>` (a label,
    # at most 63); a LeaderWorkerSet adds `-<group index>` for each group's worker StatefulSet.
    if spec.deploy.nodes > 1 and engine.multinode == "ray":
        return 52 - 1 - len(str(spec.deploy.replicas - 1))
    if spec.deploy.replicas > 1 and spec.deploy.storage.claim is None:
        return 52
    return 63
