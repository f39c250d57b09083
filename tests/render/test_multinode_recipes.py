"""The three multi-node recipes, field by field, with every value written here (every field
given, so that no default of MultiNode stands in for an expectation).

Where the values come from:
- vLLM's multi-node recipe (docs/serving/parallelism_scaling.md, "Running vLLM on multiple
  nodes", and examples/online_serving/run_cluster.sh at 0.33.0): a Ray head started with
  `ray start --head --port=6379`, workers joining it with `ray start --block --address=HEAD:6379`,
  then `vllm serve` on the head with tensor parallel = GPUs per node, pipeline parallel = nodes
  and `--distributed-executor-backend ray`;
- llama.cpp b11434's RPC offload: tools/rpc/CMakeLists.txt:1 builds `ggml-rpc-server`, whose
  default port is 50052 (tools/rpc/rpc-server.cpp), and llama-server's `--rpc HOST:PORT,...`;
- SGLang 0.5.23's own rendezvous (server_args.py): `--dist-init-addr HOST:PORT`, `--node-rank N`,
  `--nnodes N`, with `--tp-size` the GPUs of every node together (engine.py:2070-2071);
- LeaderWorkerSet (sigs.k8s.io/lws): each pod gets LWS_LEADER_ADDRESS and LWS_WORKER_INDEX;
- the argv of one node: tests/support/expected_argv.py, written from the engines' flag tables.
"""

from __future__ import annotations

from typing import Any

import pytest

from llmgen.engines import ENGINES, engine_of
from llmgen.engines.base import Rendezvous
from llmgen.render.multinode import MultiNode, multinode_files, multinode_plan
from llmgen.spec.models import parse_spec
from tests.support.expected_argv import container_argv, native_argv

RAY_WAIT_3 = (
    "until python3 -c \"import ray, sys; ray.init(address='auto'); "
    "sys.exit(0 if sum(n['Alive'] for n in ray.nodes()) >= 3 else 1)\"; do sleep 5; done"
)
RAY_CHECK = (
    "if ! python3 -c 'import ray' >/dev/null 2>&1; then\n"
    "    echo 'launch-head.sh: python3 on PATH cannot import ray, which the wait for the Ray "
    "nodes needs; put the bin/ of the environment holding ray first on PATH.' >&2\n"
    "    exit 127\n"
    "fi"
)


def recipe(data: dict[str, Any]) -> MultiNode | None:
    spec = parse_spec(data)
    engine = engine_of(spec)
    return multinode_plan(spec, engine, engine.plan(spec))


def spec_data(engine: str, nodes: int, **runtime: object) -> dict[str, Any]:
    model = {"path": "/models/m.gguf"} if engine == "llamacpp" else {"id": "org/model"}
    return {
        "name": "demo",
        "engine": engine,
        "model": model,
        "runtime": runtime,
        "deploy": {"nodes": nodes},
    }


@pytest.mark.parametrize("engine", ["vllm", "llamacpp", "sglang", "tgi"])
def test_one_node_has_no_recipe(engine: str) -> None:
    assert recipe(spec_data(engine, 1, gpus=1)) is None


def test_tgi_has_no_recipe_at_any_node_count() -> None:
    # TGI has no multi-node mode (its launcher shards within one host only); the deploy rules
    # refuse the spec, and the renderer never gets a recipe for it.
    spec = parse_spec(spec_data("tgi", 2, gpus=1))
    assert multinode_plan(spec, engine_of(spec), engine_of(spec).plan(spec)) is None


def test_vllm_joins_a_ray_cluster_and_pipelines_across_the_nodes() -> None:
    data = spec_data("vllm", 3, gpus=2)
    extra = ["--pipeline-parallel-size", "3", "--distributed-executor-backend", "ray"]
    assert recipe(data) == MultiNode(
        recipe="ray",
        nodes=3,
        leader_script=(
            f"ray start --head --port=6379 --disable-usage-stats && {RAY_WAIT_3} && exec " + '"$@"'
        ),
        leader_args=("vllm", "serve", *container_argv(data), *extra),
        native_leader_args=("vllm", *native_argv(data), *extra),
        worker_script=(
            'until ray start --address="$LWS_LEADER_ADDRESS:6379" --disable-usage-stats --block;'
            " do sleep 5; done"
        ),
        worker_probe='ray status --address="$LWS_LEADER_ADDRESS:6379"',
        native_worker_argv=("ray", "start", "--disable-usage-stats", "--block", "--address"),
        worker_port=6379,
        shm_size="16g",
        kubernetes=True,
        head_tools=("ray", "vllm", "python3"),
        head_setup=(
            f"{RAY_CHECK}\nray start --head --port=6379 --disable-usage-stats\n"
            f"echo 'launch-head.sh: waiting for 3 Ray nodes' >&2\n{RAY_WAIT_3}"
        ),
        head_env_var=None,
        head_env_help="",
        head_tail=(),
        worker_env_var="LLMGEN_HEAD_ADDRESS",
        worker_env_help="the head host's address, e.g. 10.0.0.1",
        worker_env_value='"$LLMGEN_HEAD_ADDRESS:6379"',
        worker_more_vars=(),
        worker_env=(),
        worker_args=(),
        worker_serves_health=False,
        port_name="ray",
    )
    # The tensor-parallel size stays the GPUs of one node (2), next to pipeline parallel 3.
    assert container_argv(data).count("--tensor-parallel-size") == 1


def test_vllm_waits_for_as_many_ray_nodes_as_the_spec_has() -> None:
    two = recipe(spec_data("vllm", 2, gpus=1))
    assert two is not None
    assert ">= 2 else 1" in two.leader_script and ">= 3" not in two.leader_script
    assert "waiting for 2 Ray nodes" in two.head_setup
    assert two.leader_args[-4:] == (
        "--pipeline-parallel-size",
        "2",
        "--distributed-executor-backend",
        "ray",
    )


def test_llamacpp_offloads_to_rpc_workers() -> None:
    data = spec_data("llamacpp", 2, gpus=1)
    # The head's argv is one node's without `--device CUDA0` (named devices exclude the RPC
    # servers), and gpu_layers unset becomes `all` (here it already is, with a GPU).
    container = container_argv(data)
    native = native_argv(data)
    for argv in (container, native):
        at = argv.index("--device")
        del argv[at : at + 2]
    assert recipe(data) == MultiNode(
        recipe="rpc",
        nodes=2,
        leader_script='exec "$@"',
        leader_args=("llama-server", *container),
        native_leader_args=("llama-server", *native),
        worker_script="",
        worker_probe="",
        native_worker_argv=("ggml-rpc-server", "--port", "50052", "--host"),
        worker_port=50052,
        shm_size=None,
        kubernetes=False,
        head_tools=("llama-server",),
        head_setup="",
        head_env_var="LLMGEN_RPC_SERVERS",
        head_env_help=(
            "the workers' ggml-rpc-server addresses, e.g. 10.0.0.2:50052,10.0.0.3:50052"
        ),
        head_tail=('--rpc "$LLMGEN_RPC_SERVERS"',),
        worker_env_var="LLMGEN_RPC_HOST",
        worker_env_help="this worker's private address (ggml-rpc-server has no authentication)",
        worker_env_value='"$LLMGEN_RPC_HOST"',
        worker_more_vars=(),
        worker_env=(),
        worker_args=(),
        worker_serves_health=False,
        port_name="ray",
    )


def test_a_cpu_rpc_head_offloads_every_layer_unless_gpu_layers_is_given() -> None:
    # One node's default on CPU is `--gpu-layers 0 --device none`: the head would keep every
    # layer. Unset, it becomes `all`; given, the user's count stays.
    unset = recipe(spec_data("llamacpp", 2))
    assert unset is not None
    argv = list(unset.native_leader_args)
    assert argv[argv.index("--gpu-layers") + 1] == "all"
    assert "--device" not in argv and "none" not in argv
    assert argv.count("--gpu-layers") == 1
    given = recipe(spec_data("llamacpp", 2, gpu_layers=7))
    assert given is not None
    for words in (given.native_leader_args, given.leader_args):
        assert words[words.index("--gpu-layers") + 1] == "7"
        assert "--device" not in words


def test_the_rpc_head_keeps_every_other_word_in_order() -> None:
    data = spec_data("llamacpp", 2, gpus=2, gpu_layers=5, extra_args=["--threads-http", "3"])
    found = recipe(data)
    assert found is not None
    expected = native_argv(data)
    at = expected.index("--device")
    assert expected[at + 1] == "CUDA0,CUDA1"
    del expected[at : at + 2]
    assert found.native_leader_args == ("llama-server", *expected)


def test_sglang_runs_itself_on_every_node_with_its_rank() -> None:
    data = spec_data("sglang", 2, gpus=2)
    # One node's argv without its --tp-size 2; the node args put the whole group's size back
    # (2 GPUs x 2 nodes = 4) with --nnodes.
    one_node = [
        "--model-path", "org/model", "--served-model-name", "org/model",
        "--host", "127.0.0.1", "--port", "8000",
        "--context-length", "4096", "--max-running-requests", "4",
    ]  # fmt: skip
    nodes = ["--tp-size", "4", "--nnodes", "2"]
    pod = ("python3", "-m", "sglang.launch_server", *one_node, *nodes)
    pod = tuple("0.0.0.0" if word == "127.0.0.1" else word for word in pod)
    native = ("sglang", "serve", *one_node, *nodes)
    assert recipe(data) == MultiNode(
        recipe="ranks",
        nodes=2,
        leader_script='exec "$@" --dist-init-addr "$LWS_LEADER_ADDRESS:20000" --node-rank 0',
        leader_args=pod,
        native_leader_args=native,
        worker_script=(
            'exec "$@" --dist-init-addr "$LWS_LEADER_ADDRESS:20000" --node-rank "$LWS_WORKER_INDEX"'
        ),
        worker_probe=(
            "python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], "
            "timeout=5)' http://127.0.0.1:8000/health"
        ),
        native_worker_argv=native,
        worker_port=20000,
        shm_size="16g",
        kubernetes=True,
        head_tools=("sglang",),
        head_setup="",
        head_env_var="LLMGEN_HEAD_ADDRESS",
        head_env_help=(
            "this host's private address, which the workers reach on port 20000, e.g. 10.0.0.1"
        ),
        head_tail=('--dist-init-addr "$LLMGEN_HEAD_ADDRESS:20000"', "--node-rank 0"),
        worker_env_var="LLMGEN_HEAD_ADDRESS",
        worker_env_help="the head host's address, e.g. 10.0.0.1",
        worker_env_value=(
            '--dist-init-addr "$LLMGEN_HEAD_ADDRESS:20000" --node-rank "$LLMGEN_NODE_RANK"'
        ),
        worker_more_vars=(("LLMGEN_NODE_RANK", "this worker's rank, 1 to 1"),),
        worker_env=(),
        worker_args=pod,
        worker_serves_health=True,
        port_name="rendezvous",
    )


def test_sglang_s_ranks_run_to_the_last_node() -> None:
    found = recipe(spec_data("sglang", 4, gpus=1))
    assert found is not None
    assert found.worker_more_vars == (("LLMGEN_NODE_RANK", "this worker's rank, 1 to 3"),)
    words = list(found.native_leader_args)
    assert words[words.index("--tp-size") + 1] == "4" and words.count("--tp-size") == 1
    assert words[words.index("--nnodes") + 1] == "4"


def test_every_word_after_the_shard_flag_stays() -> None:
    # One node's argv with 2 GPUs ends `--tp-size 2 --log-level debug` (extra_args last):
    # dropping the shard flag keeps what follows it.
    data = spec_data("sglang", 2, gpus=2, extra_args=["--log-level", "debug"])
    one_node = native_argv_sglang(data)
    assert one_node[-4:] == ["--tp-size", "2", "--log-level", "debug"]
    found = recipe(data)
    assert found is not None
    assert found.native_leader_args[-6:] == (
        "--log-level", "debug", "--tp-size", "4", "--nnodes", "2",
    )  # fmt: skip


def native_argv_sglang(data: dict[str, Any]) -> list[str]:
    spec = parse_spec(data)
    return list(engine_of(spec).plan(spec).args)


def test_the_recipe_is_the_engine_s_declared_one() -> None:
    # llama.cpp offloads to RPC workers because it says `multinode = "rpc"`; a rendezvous
    # declared beside it (no shipped engine does) does not turn it into the ranks recipe.
    data = spec_data("llamacpp", 2, gpus=1)
    llamacpp = type(engine_of(parse_spec(data)))

    class RpcWithRendezvous(llamacpp):  # type: ignore[misc, valid-type]
        rendezvous = Rendezvous("--dist-init-addr", "--node-rank", 20000)

    spec = parse_spec(data)
    engine = RpcWithRendezvous()
    found = multinode_plan(spec, engine, engine.plan(spec))
    assert found is not None and found.recipe == "rpc"
    # And every registered engine declares a rendezvous exactly when it runs ranks.
    for each in ENGINES.values():
        assert (each.multinode == "ranks") == (each.rendezvous is not None), each.key


def test_the_shard_flag_goes_with_its_value_only() -> None:
    # A one-GPU node renders --tp-size 1; dropping it takes its value and nothing else.
    data = spec_data("sglang", 2, gpus=1)
    found = recipe(data)
    assert found is not None
    assert found.native_leader_args[2:12] == (
        "--model-path", "org/model", "--served-model-name", "org/model",
        "--host", "127.0.0.1", "--port", "8000", "--context-length", "4096",
    )  # fmt: skip


def test_the_bare_metal_files_are_two_scripts_and_a_unit_per_role() -> None:
    from llmgen.render.bundle import render

    files = render(parse_spec(spec_data("vllm", 2, gpus=1))).files
    multi = sorted(path for path in files if path.startswith("multinode/"))
    assert multi == [
        "multinode/demo-head.service",
        "multinode/demo-worker.service",
        "multinode/launch-head.sh",
        "multinode/launch-worker.sh",
    ]
    head, worker = files["multinode/demo-head.service"], files["multinode/demo-worker.service"]
    assert "ExecStart=/usr/local/libexec/llmgen/demo/launch-head.sh\n" in head
    assert "ExecStart=/usr/local/libexec/llmgen/demo/launch-worker.sh\n" in worker
    assert "CacheDirectory=demo-worker\n" in worker and "CacheDirectory=demo-head\n" in head
    assert not [
        path for path in render(parse_spec(spec_data("vllm", 1))).files if "multinode" in path
    ]


def test_multinode_files_render_nothing_without_a_recipe() -> None:
    assert multinode_files(None, {"multinode": None}) == {}  # type: ignore[arg-type]


def test_every_sglang_worker_gets_the_node_s_environment() -> None:
    # On CPU SGLang binds its OpenMP threads from SGLANG_CPU_OMP_THREADS_BIND (docs/platforms/
    # cpu_server.md): threads 4 -> cores 0-3, on every node, the workers included.
    found = recipe(spec_data("sglang", 2, threads=4))
    assert found is not None
    assert found.worker_env == (("SGLANG_CPU_OMP_THREADS_BIND", "0-3"),)
