"""The deploy section's rules: replicas, nodes and what a multi-node spec must not set.

An engine says which multi-node recipe it supports with one class constant (`multinode`):
vLLM joins a Ray cluster; llama.cpp offloads to `ggml-rpc-server` processes on worker hosts;
TGI has none. The recipes themselves are rendered by llmgen.render.multinode. Each rule reads the
plan's effective configuration (extra_args are parsed once, there).
"""

from __future__ import annotations

from collections.abc import Callable

from llmgen.engines.base import Engine
from llmgen.errors import Diagnostic, error, warning
from llmgen.rules.declare import Context, rule
from llmgen.spec.models import Spec


def _spans_nodes(c: Context) -> bool:
    return c.spec.deploy.nodes > 1


def _recipe(name: str) -> Callable[[Context], bool]:
    """The condition 'one replica spans nodes with this recipe (ray or rpc)'."""
    return lambda c: _spans_nodes(c) and c.engine.multinode == name


@rule(
    "deploy.name_length",
    "error",
    "a name too long for the Kubernetes labels of its pods (63 characters less the suffixes "
    "replicas and nodes add)",
    "shorten name",
)
def name_length(c: Context) -> list[Diagnostic]:
    spec = c.spec
    longest = _longest_name(spec, c.engine)
    if len(spec.name) <= longest:
        return []
    return [
        error(
            "name",
            f"'{spec.name}' has {len(spec.name)} characters; with these replicas/nodes "
            f"Kubernetes labels its pods '<name>-<suffix>' within 63, so at most {longest}",
            f"shorten name to {longest} characters or fewer",
        )
    ]


@rule(
    "deploy.shared_claim",
    "warning",
    "several replicas mounting one existing claim (it must be ReadWriteMany)",
    "use a ReadWriteMany claim, or remove storage.claim so each replica gets its own",
    when=lambda c: c.spec.deploy.storage.claim is not None and c.spec.deploy.replicas > 1,
)
def shared_claim(c: Context) -> list[Diagnostic]:
    deploy = c.spec.deploy
    return [
        warning(
            "deploy.storage.claim",
            f"all {deploy.replicas} replicas mount the existing claim "
            f"'{deploy.storage.claim}': it must be ReadWriteMany",
            "use a ReadWriteMany claim, or remove storage.claim so each replica gets its own",
        )
    ]


@rule(
    "deploy.multinode",
    "error",
    "deploy.nodes above 1 for an engine with no multi-node serving",
    "set deploy.nodes to 1 and shard across one node's GPUs, or use engine: vllm",
    when=lambda c: _spans_nodes(c) and c.engine.multinode is None,
)
def no_multinode(c: Context) -> list[Diagnostic]:
    engine = c.engine
    return [
        error(
            "deploy.nodes",
            f"{engine.title} {engine.version} has no multi-node serving",
            "set deploy.nodes to 1 and shard across the GPUs of one node with runtime.gpus, "
            "or use engine: vllm",
        )
    ]


@rule(
    "deploy.multinode_release",
    "error",
    "a replica spanning nodes on an engine release that lacks the flags the recipe renders",
    "set engine_version to a release that has them, or deploy.nodes to 1",
    when=lambda c: _spans_nodes(c) and c.engine.multinode is not None,
)
def multinode_release(c: Context) -> list[Diagnostic]:
    engine = c.engine
    found = []
    for flag in engine.node_flags:
        if engine.flag_table.lookup(flag) is not None:
            continue
        told = engine.flag_history(flag)
        found.append(
            error(
                "deploy.nodes",
                f"spanning nodes needs '{flag}', which {engine.title} {engine.version} does not "
                "take" + (f": {told[0]}" if told else ""),
                told[1].replace("or remove it", "or set deploy.nodes to 1")
                if told and "engine_version" in told[1]
                else "set deploy.nodes to 1",
            )
        )
    return found


@rule(
    "deploy.ray_gpus",
    "error",
    "a Ray multi-node deployment (vLLM) without GPUs",
    "set runtime.gpus to the GPUs of one node",
    when=lambda c: _recipe("ray")(c) and c.spec.runtime.gpus == 0,
)
def ray_gpus(c: Context) -> list[Diagnostic]:
    return [
        error(
            "deploy.nodes",
            f"{c.engine.title} spans nodes with GPUs only, but runtime.gpus is 0",
            "set runtime.gpus to the GPUs of one node",
        )
    ]


@rule(
    "deploy.node_flags",
    "error",
    "extra_args setting a flag llmgen sets from deploy.nodes when a replica spans nodes",
    "remove the flag from runtime.extra_args",
    when=_recipe("ray"),
)
def node_flags(c: Context) -> list[Diagnostic]:
    config = c.config
    return [
        error(
            config.path_of(flag),
            f"'{flag}' is set from deploy.nodes when the deployment spans nodes",
            f"remove {flag} from runtime.extra_args",
        )
        for flag in c.engine.node_flags
        if config.given(flag) is not None
    ]


@rule(
    "deploy.rpc_hosts",
    "warning",
    "llama.cpp across hosts: ggml-rpc-server runs outside Kubernetes only (multinode/ scripts)",
    "list the workers in LLMGEN_RPC_SERVERS when starting multinode/launch-head.sh",
    when=_recipe("rpc"),
)
def rpc_hosts(c: Context) -> list[Diagnostic]:
    return [
        warning(
            "deploy.nodes",
            f"llama.cpp spans {c.spec.deploy.nodes} hosts with ggml-rpc-server outside "
            "Kubernetes only: multinode/ holds the head and worker scripts; kubernetes.yaml, compose.yaml "
            "and docker-run.sh run the model on one node",
            "list the workers in LLMGEN_RPC_SERVERS when starting multinode/launch-head.sh",
        )
    ]


# A CPU head offloads to the workers too: the RPC servers are devices like GPUs, and the head
# renders --gpu-layers all for them (llmgen.render.multinode.rpc_head_args).
@rule(
    "deploy.rpc_offload",
    "error",
    "llama.cpp across hosts with no layer offloaded (ggml-rpc-server workers get only those)",
    "leave runtime.gpu_layers unset (every layer is offloaded) or above 0",
    when=lambda c: _recipe("rpc")(c) and c.spec.runtime.gpu_layers == 0,
)
def rpc_offload(c: Context) -> list[Diagnostic]:
    return [
        error(
            "runtime.gpu_layers",
            "ggml-rpc-server workers only receive the layers offloaded with --gpu-layers, "
            "and this spec offloads none",
            "leave runtime.gpu_layers unset (every layer is offloaded) or above 0",
        )
    ]


@rule(
    "deploy.rpc_flag",
    "error",
    "extra_args setting --rpc, which llmgen sets from LLMGEN_RPC_SERVERS across hosts",
    "remove --rpc from runtime.extra_args",
    when=lambda c: _recipe("rpc")(c) and c.config.given("--rpc") is not None,
)
def rpc_flag(c: Context) -> list[Diagnostic]:
    return [
        error(
            c.config.path_of("--rpc"),
            "'--rpc' is set from LLMGEN_RPC_SERVERS when the deployment spans hosts",
            "remove --rpc from runtime.extra_args",
        )
    ]


def _longest_name(spec: Spec, engine: Engine) -> int:
    # A StatefulSet's pods carry `controller-revision-hash: <name>-<10-char hash>` (a label,
    # at most 63); a LeaderWorkerSet adds `-<group index>` for each group's worker StatefulSet.
    if spec.deploy.nodes > 1 and engine.multinode == "ray":
        return 52 - 1 - len(str(spec.deploy.replicas - 1))
    if spec.deploy.replicas > 1 and spec.deploy.storage.claim is None:
        return 52
    return 63
