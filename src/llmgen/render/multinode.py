"""The multi-node recipes: how one replica spans several machines, rendered.

An engine says which recipe it supports with one class constant (`multinode`): vLLM joins a Ray
cluster (tensor parallel within a node, pipeline parallel across nodes, as vLLM's own multi-node
recipe does); llama.cpp offloads to `ggml-rpc-server` processes on worker hosts (b11434
builds the worker under that name: tools/rpc/CMakeLists.txt:1); an engine with its own
rendezvous (`ranks`: every node runs the engine itself with its node rank and the address of
rank 0, which alone serves HTTP) names its flags in `Engine.rendezvous`; TGI has none.
Everything that differs between the recipes reaches the templates as values of a `MultiNode`
object, never as an engine name. The rules of the deploy section live in llmgen.rules.deploy.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from llmgen.engines.base import Engine, LaunchPlan, Rendezvous
from llmgen.records import record
from llmgen.spec.models import Spec

if TYPE_CHECKING:
    import jinja2

RAY_PORT = 6379
RPC_PORT = 50052
# llama.cpp b11434 tools/rpc/CMakeLists.txt:1: `set(TARGET ggml-rpc-server)` (not rpc-server).
RPC_WORKER = "ggml-rpc-server"
# NCCL between the nodes of a Ray group exchanges tensors through /dev/shm, like tensor parallel.
RAY_SHM_SIZE = "16g"
# Bare-metal variables the rendered multi-node scripts read (documented in docs/scale-out.md).
HEAD_ADDRESS_VAR = "LLMGEN_HEAD_ADDRESS"
NODE_RANK_VAR = "LLMGEN_NODE_RANK"
RPC_SERVERS_VAR = "LLMGEN_RPC_SERVERS"


@record
class MultiNode:
    """How one replica spans `nodes` machines: the leader's and the workers' commands.

    `leader_args` is the whole argv after the shell wrapper (engine executable first), so it
    stays a list to the last step; the wrappers are fixed shell programs that only `exec "$@"`.
    """

    recipe: str  # "ray", "rpc" or "ranks": named in docs and comments only
    nodes: int
    leader_script: str  # sh -c program run on the leader pod/host before exec "$@"
    leader_args: tuple[str, ...]  # container argv on Kubernetes (executable first)
    native_leader_args: tuple[str, ...]  # bare-metal argv (binds the spec's host)
    worker_script: str  # sh -c program of a worker pod (Kubernetes)
    worker_probe: str  # sh -c program that succeeds while the worker's group is healthy
    native_worker_argv: tuple[str, ...]  # bare-metal worker command (before the address)
    worker_port: int
    shm_size: str | None
    kubernetes: bool  # whether the recipe is rendered as a LeaderWorkerSet
    # Bare metal (multinode/launch-*.sh): raw shell text below is fixed by the recipe, never
    # taken from the spec.
    head_tools: tuple[str, ...]  # commands the head needs on PATH
    worker_env_var: str  # the variable a bare-metal worker needs (the head's address...)
    worker_env_help: str
    worker_env_value: str  # the raw shell word completing the worker's argv
    head_setup: str = ""  # shell lines run before the engine
    head_env_var: str | None = None  # a variable the head needs (e.g. the workers' list)
    head_env_help: str = ""
    head_tail: tuple[str, ...] = ()  # raw shell words appended to the engine's argv
    # More variables a bare-metal worker needs, (name, help), and the environment it exports.
    worker_more_vars: tuple[tuple[str, str], ...] = ()
    worker_env: tuple[tuple[str, str], ...] = ()
    worker_args: tuple[str, ...] = ()  # a worker pod's argv after its sh -c program, if any
    worker_serves_health: bool = False  # workers answer the health path on the HTTP port
    port_name: str = "ray"  # the name of the leader's worker_port in the pod spec


def multinode_plan(spec: Spec, engine: Engine, plan: LaunchPlan) -> MultiNode | None:
    """The multi-node recipe for `spec`, or None when one replica runs on one node."""
    nodes = spec.deploy.nodes
    if nodes == 1 or engine.multinode is None:
        return None
    command = (plan.executable, *plan.subcommand)
    if engine.multinode == "ray":
        # vLLM's recipe: a Ray head on the leader, workers join it, then `vllm serve` on the
        # leader with tensor parallel = GPUs per node and pipeline parallel = nodes.
        extra = ("--pipeline-parallel-size", str(nodes), "--distributed-executor-backend", "ray")
        return MultiNode(
            recipe="ray",
            nodes=nodes,
            leader_script=(
                f"ray start --head --port={RAY_PORT} --disable-usage-stats && "
                f"{_wait_for_ray(nodes)} && exec " + '"$@"'
            ),
            leader_args=(*command, *plan.container_args, *extra),
            native_leader_args=(*command, *plan.args, *extra),
            worker_script=(
                f'until ray start --address="$LWS_LEADER_ADDRESS:{RAY_PORT}" '
                "--disable-usage-stats --block; do sleep 5; done"
            ),
            worker_probe=f'ray status --address="$LWS_LEADER_ADDRESS:{RAY_PORT}"',
            native_worker_argv=("ray", "start", "--disable-usage-stats", "--block", "--address"),
            worker_port=RAY_PORT,
            shm_size=RAY_SHM_SIZE,
            kubernetes=True,
            head_tools=("ray", plan.executable, "python3"),
            head_setup=(
                f"{_python_imports_ray()}\n"
                f"ray start --head --port={RAY_PORT} --disable-usage-stats\n"
                f"echo 'launch-head.sh: waiting for {nodes} Ray nodes' >&2\n"
                f"{_wait_for_ray(nodes)}"
            ),
            worker_env_var=HEAD_ADDRESS_VAR,
            worker_env_help="the head host's address, e.g. 10.0.0.1",
            worker_env_value=f'"${HEAD_ADDRESS_VAR}:{RAY_PORT}"',
        )
    if engine.multinode == "ranks" and engine.rendezvous is not None:
        return _ranks(spec, engine, engine.rendezvous, plan)
    # llama.cpp: the head loads the model and offloads layers to ggml-rpc-server on each worker.
    return MultiNode(
        recipe="rpc",
        nodes=nodes,
        leader_script='exec "$@"',
        leader_args=(*command, *rpc_head_args(spec, plan.container_args)),
        native_leader_args=(*command, *rpc_head_args(spec, plan.args)),
        worker_script="",
        worker_probe="",
        native_worker_argv=(RPC_WORKER, "--port", str(RPC_PORT), "--host"),
        worker_port=RPC_PORT,
        shm_size=None,
        kubernetes=False,
        head_tools=(plan.executable,),
        head_env_var=RPC_SERVERS_VAR,
        head_env_help=(
            f"the workers' {RPC_WORKER} addresses, e.g. 10.0.0.2:{RPC_PORT},10.0.0.3:{RPC_PORT}"
        ),
        head_tail=(f'--rpc "${RPC_SERVERS_VAR}"',),
        worker_env_var="LLMGEN_RPC_HOST",
        worker_env_help=f"this worker's private address ({RPC_WORKER} has no authentication)",
        worker_env_value='"$LLMGEN_RPC_HOST"',
    )


def _ranks(spec: Spec, engine: Engine, meet: Rendezvous, plan: LaunchPlan) -> MultiNode:
    """Every node runs the engine itself: the single-node argv without the engine's shard flag
    (the world size spans the nodes), plus the engine's node_args, the rendezvous address
    (rank 0's host) and the node's rank. Rank 0 serves HTTP; the others only compute."""
    nodes = spec.deploy.nodes
    command = (plan.executable, *plan.subcommand)
    native = (*command, *_without(plan.args, engine.shard_flag), *engine.node_args(spec))
    # The image runs no command of its own here: the container argv starts with the engine.
    pod = (*_without(plan.container_args, engine.shard_flag), *engine.node_args(spec))
    meet_pod = f'{meet.address_flag} "$LWS_LEADER_ADDRESS:{meet.port}"'
    meet_host = f'{meet.address_flag} "${HEAD_ADDRESS_VAR}:{meet.port}"'
    probe = " ".join(shlex.quote(word) for word in plan.healthcheck)
    return MultiNode(
        recipe="ranks",
        nodes=nodes,
        # LeaderWorkerSet gives every pod the leader's address and the pod's index in its group
        # (0 for the leader): exactly the rendezvous address and the node rank.
        leader_script=f'exec "$@" {meet_pod} {meet.rank_flag} 0',
        leader_args=pod,
        native_leader_args=native,
        worker_script=f'exec "$@" {meet_pod} {meet.rank_flag} "$LWS_WORKER_INDEX"',
        worker_probe=probe,
        native_worker_argv=native,
        worker_port=meet.port,
        shm_size=RAY_SHM_SIZE,
        kubernetes=True,
        head_tools=(plan.executable,),
        head_env_var=HEAD_ADDRESS_VAR,
        head_env_help=(
            f"this host's private address, which the workers reach on port {meet.port}, "
            "e.g. 10.0.0.1"
        ),
        head_tail=(meet_host, f"{meet.rank_flag} 0"),
        worker_env_var=HEAD_ADDRESS_VAR,
        worker_env_help="the head host's address, e.g. 10.0.0.1",
        worker_env_value=f'{meet_host} {meet.rank_flag} "${NODE_RANK_VAR}"',
        worker_more_vars=((NODE_RANK_VAR, f"this worker's rank, 1 to {nodes - 1}"),),
        worker_env=plan.env,
        worker_args=pod,
        worker_serves_health=True,
        port_name="rendezvous",
    )


def _without(args: tuple[str, ...], flag: str | None) -> tuple[str, ...]:
    """`args` without `flag` and its value (llmgen renders it as one `--flag value` pair)."""
    out: list[str] = []
    words = iter(args)
    for word in words:
        if flag is not None and word == flag:
            next(words, None)
            continue
        out.append(word)
    return tuple(out)


def rpc_head_args(spec: Spec, args: tuple[str, ...]) -> tuple[str, ...]:
    """The single-node llama-server argv, changed for a head that offloads to RPC workers.

    `--device` goes: given, llama.cpp uses no RPC server it does not name, so the workers would
    get nothing (without it, layers split across every device, the workers included). An unset
    runtime.gpu_layers becomes `all`, also on a CPU head (its default 0 offloads nothing).
    """
    out: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--device":
            next(words, None)
            continue
        if word == "--gpu-layers" and spec.runtime.gpu_layers is None:
            next(words, None)
            out += ["--gpu-layers", "all"]
            continue
        out.append(word)
    return tuple(out)


def _python_imports_ray() -> str:
    # The wait below asks Ray through `python3`; one that cannot import ray (a system python3
    # ahead of the Ray environment on PATH) would fail every 5 seconds, forever.
    return (
        "if ! python3 -c 'import ray' >/dev/null 2>&1; then\n"
        "    echo 'launch-head.sh: python3 on PATH cannot import ray, which the wait for the Ray "
        "nodes needs; put the bin/ of the environment holding ray first on PATH.' >&2\n"
        "    exit 127\n"
        "fi"
    )


def _wait_for_ray(nodes: int) -> str:
    # vLLM places its pipeline stages when it starts: wait until every worker has joined.
    probe = (
        "import ray, sys; ray.init(address='auto'); "
        f"sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= {nodes} else 1)"
    )
    return f'until python3 -c "{probe}"; do sleep 5; done'


def multinode_files(env: jinja2.Environment, context: dict[str, Any]) -> dict[str, str]:
    """The bare-metal multi-node files (scripts and systemd units), when the spec spans nodes."""
    multinode = context["multinode"]
    if multinode is None:
        return {}
    name = context["spec"].name
    files = {
        "multinode/launch-head.sh": "multinode/launch-head.sh.j2",
        "multinode/launch-worker.sh": "multinode/launch-worker.sh.j2",
    }
    out = {path: env.get_template(template).render(context) for path, template in files.items()}
    for role in ("head", "worker"):
        out[f"multinode/{name}-{role}.service"] = env.get_template(
            "multinode/unit.service.j2"
        ).render({**context, "role": role})
    return out
