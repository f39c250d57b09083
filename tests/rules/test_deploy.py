"""Scale-out rules (rules/deploy.py) at their bounds.

Name lengths from Kubernetes: a label value is at most 63 characters; a StatefulSet's pods carry
`controller-revision-hash: <name>-<10-character hash>`, so a name of at most 63 - 11 = 52; a
LeaderWorkerSet's worker StatefulSet is `<name>-<group index>`, so 52 - 1 - the digits of the
last index (replicas - 1).

Each diagnostic is compared whole: severity, path, message and the hint (the fix a user reads).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from llmgen.errors import SpecError
from llmgen.rules.analysis import validate_text

GGUF = {"id": "bartowski/SmolLM2-360M-Instruct-GGUF:Q4_K_M"}
HF = {"id": "HuggingFaceTB/SmolLM2-360M-Instruct"}


def found(
    engine: str, name: str = "demo", runtime: dict[str, Any] | None = None, **deploy: Any
) -> list[tuple[str, str, str, str]]:
    """(severity, path, message, hint) of the diagnostics about deploy or the name."""
    data: dict[str, Any] = {
        "name": name,
        "engine": engine,
        "model": GGUF if engine == "llamacpp" else HF,
        "runtime": runtime or {"gpus": 1},
    }
    if deploy:
        data["deploy"] = deploy
    try:
        diagnostics = validate_text(yaml.safe_dump(data), "spec.yaml").diagnostics
    except SpecError as exc:
        diagnostics = exc.diagnostics
    return [
        (d.severity.value, d.path, d.message, d.hint)
        for d in diagnostics
        if d.path == "name"
        or d.path.startswith(("deploy", "runtime.extra_args", "runtime.gpu_layers"))
    ]


def name_error(longest: int, name: str) -> tuple[str, str, str, str]:
    return (
        "error",
        "name",
        f"'{name}' has {len(name)} characters; with these replicas/nodes Kubernetes labels "
        f"its pods '<name>-<suffix>' within 63, so at most {longest}",
        f"shorten name to {longest} characters or fewer",
    )


SHARED_CLAIM_FIX = "use a ReadWriteMany claim, or remove storage.claim so each replica gets its own"


def test_one_replica_allows_63_characters() -> None:
    assert found("vllm", "a" * 63) == []


def test_replicas_with_their_own_claims_allow_52() -> None:
    assert found("vllm", "a" * 52, replicas=3) == []
    assert found("vllm", "a" * 53, replicas=3) == [name_error(52, "a" * 53)]


def test_replicas_sharing_a_claim_allow_63_and_are_warned() -> None:
    assert found("vllm", "a" * 63, replicas=3, storage={"claim": "models"}) == [
        (
            "warning",
            "deploy.storage.claim",
            "all 3 replicas mount the existing claim 'models': it must be ReadWriteMany",
            SHARED_CLAIM_FIX,
        )
    ]
    assert found("vllm", "demo", replicas=1, storage={"claim": "models"}) == []


def test_two_replicas_are_the_first_that_share_or_carry_a_hash() -> None:
    # From 2 replicas on: a StatefulSet (pods labelled `<name>-<10-char hash>`, 63 - 11 = 52)
    # without a claim, and the ReadWriteMany warning with one.
    assert found("vllm", "a" * 53, replicas=2) == [name_error(52, "a" * 53)]
    assert found("vllm", "demo", replicas=2, storage={"claim": "models"}) == [
        (
            "warning",
            "deploy.storage.claim",
            "all 2 replicas mount the existing claim 'models': it must be ReadWriteMany",
            SHARED_CLAIM_FIX,
        )
    ]


def test_groups_spanning_nodes_allow_52_less_the_group_index() -> None:
    # 10 replicas: last index 9, one digit: 52 - 1 - 1 = 50; 11 replicas: index 10: 49.
    assert found("vllm", "a" * 50, replicas=10, nodes=2) == []
    assert found("vllm", "a" * 51, replicas=10, nodes=2) == [name_error(50, "a" * 51)]
    assert found("vllm", "a" * 49, replicas=11, nodes=2) == []
    assert found("vllm", "a" * 50, replicas=11, nodes=2) == [name_error(49, "a" * 50)]


def test_an_engine_without_multi_node_serving_is_refused() -> None:
    (problem,) = found("tgi", nodes=2)
    assert problem[:2] == ("error", "deploy.nodes")
    assert problem[2].endswith("has no multi-node serving")
    assert problem[3] == (
        "set deploy.nodes to 1 and shard across the GPUs of one node with runtime.gpus, "
        "or use engine: vllm"
    )


def test_vllm_spans_nodes_with_gpus_only() -> None:
    assert found("vllm", runtime={"gpus": 0}, nodes=2) == [
        (
            "error",
            "deploy.nodes",
            "vLLM spans nodes with GPUs only, but runtime.gpus is 0",
            "set runtime.gpus to the GPUs of one node",
        )
    ]
    assert found("vllm", runtime={"gpus": 1}, nodes=2) == []


def test_flags_set_from_the_node_count_are_refused_in_extra_args() -> None:
    runtime = {"gpus": 1, "extra_args": ["--seed", "1", "--distributed-executor-backend", "mp"]}
    assert found("vllm", runtime=runtime, nodes=2) == [
        (
            "error",
            "runtime.extra_args.2",
            "'--distributed-executor-backend' is set from deploy.nodes when the deployment spans "
            "nodes",
            "remove --distributed-executor-backend from runtime.extra_args",
        )
    ]
    # On one node the flag is the user's to give.
    assert found("vllm", runtime=runtime) == []
    # vLLM's tensor parallel stays within a node (the ray recipe): its size is not a node flag,
    # unlike SGLang's under the ranks recipe (below).
    tensor = {"gpus": 1, "extra_args": ["--tensor-parallel-size", "1"]}
    assert found("vllm", runtime=tensor, nodes=2) == []


def test_sglang_spans_nodes_with_gpus_and_its_node_flags_come_from_deploy() -> None:
    # Multi-node SGLang runs over GPUs only here (the ranks recipe); CPU is refused.
    assert found("sglang", runtime={"gpus": 0}, nodes=2) == [
        (
            "error",
            "deploy.nodes",
            "SGLang spans nodes with GPUs only, but runtime.gpus is 0",
            "set runtime.gpus to the GPUs of one node",
        )
    ]
    assert found("sglang", runtime={"gpus": 2}, nodes=2) == []
    # --nnodes, --node-rank, --dist-init-addr (its alias --nccl-init-addr included) and the
    # tensor-parallel size (it spans the nodes) come from deploy.nodes.
    for words in (
        ["--nnodes", "3"],
        ["--node-rank", "1"],
        ["--nccl-init-addr", "10.0.0.1:20000"],
        ["--tp-size", "2"],
    ):
        assert (
            "error",
            "runtime.extra_args.0",
            f"'{canonical(words[0])}' is set from deploy.nodes when the deployment spans nodes",
            f"remove {canonical(words[0])} from runtime.extra_args",
        ) in found("sglang", runtime={"gpus": 2, "extra_args": words}, nodes=2), words
    # On one node they are the user's (SGLang's defaults: one node, rank 0).
    assert found("sglang", runtime={"gpus": 2, "extra_args": ["--nnodes", "1"]}) == []


def canonical(flag: str) -> str:
    """SGLang 0.5.23's canonical spelling (fields/parallel.py:32-38: --nccl-init-addr is an
    alias of --dist-init-addr)."""
    return {"--nccl-init-addr": "--dist-init-addr"}.get(flag, flag)


def test_sglang_node_groups_allow_52_less_the_group_index() -> None:
    # A LeaderWorkerSet as for vLLM: 10 replicas, last index 9: 52 - 1 - 1 = 50.
    assert found("sglang", "a" * 50, runtime={"gpus": 1}, replicas=10, nodes=2) == []
    assert found("sglang", "a" * 51, runtime={"gpus": 1}, replicas=10, nodes=2) == [
        name_error(50, "a" * 51)
    ]


RPC_WARNING = (
    "warning",
    "deploy.nodes",
    "llama.cpp spans 2 hosts with ggml-rpc-server outside Kubernetes only: multinode/ holds the "
    "head and worker scripts; kubernetes.yaml, compose.yaml and docker-run.sh run the model "
    "on one node",
    "list the workers in LLMGEN_RPC_SERVERS when starting multinode/launch-head.sh",
)
RPC_NO_LAYERS = (
    "error",
    "runtime.gpu_layers",
    "ggml-rpc-server workers only receive the layers offloaded with --gpu-layers, and this spec "
    "offloads none",
    "leave runtime.gpu_layers unset (every layer is offloaded) or above 0",
)


def test_llamacpp_spans_hosts_with_rpc_and_needs_offloaded_layers() -> None:
    assert found("llamacpp", runtime={"gpus": 1}, nodes=2) == [RPC_WARNING]
    # A CPU head offloads every layer to its workers (the RPC servers are devices): accepted.
    assert found("llamacpp", runtime={"gpus": 0}, nodes=2) == [RPC_WARNING]
    no_layers = {"gpus": 1, "gpu_layers": 0}
    assert found("llamacpp", runtime=no_layers, nodes=2) == [RPC_NO_LAYERS, RPC_WARNING]


def test_llamacpp_rpc_servers_come_from_the_environment() -> None:
    runtime = {"gpus": 1, "extra_args": ["--rpc", "10.0.0.2:50052"]}
    assert found("llamacpp", runtime=runtime, nodes=2) == [
        (
            "error",
            "runtime.extra_args.0",
            "'--rpc' is set from LLMGEN_RPC_SERVERS when the deployment spans hosts",
            "remove --rpc from runtime.extra_args",
        ),
        RPC_WARNING,  # errors come first
    ]


def test_a_release_lacking_a_flag_the_node_recipe_renders_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every shipped llama.cpp table has --rpc, so the recipe is given flags the tables lack:
    # `--load-mode` arrives in b10441 (llamacpp-changes.tsv), `--mlock` is gone from b10941,
    # and no build has `--never-was`.
    from llmgen.engines.llamacpp import LlamaCppEngine

    monkeypatch.setattr(LlamaCppEngine, "node_flags", ("--rpc", "--load-mode", "--never-was"))

    def release(version: str, nodes: int) -> list[tuple[str, str, str, str]]:
        text = yaml.safe_dump(
            {
                "name": "demo",
                "engine": "llamacpp",
                "engine_version": version,
                "model": GGUF,
                "runtime": {"gpus": 1},
                "deploy": {"nodes": nodes},
            }
        )
        try:
            diagnostics = validate_text(text, "spec.yaml").diagnostics
        except SpecError as exc:
            diagnostics = exc.diagnostics
        return [
            (d.severity.value, d.path, d.message, d.hint)
            for d in diagnostics
            if d.severity.value == "error"
        ]

    lacks = "spanning nodes needs '{}', which llama.cpp {} does not take"
    assert release("b9444", 2) == [
        (
            "error",
            "deploy.nodes",
            lacks.format("--load-mode", "b9444") + ": '--load-mode' was added after llama.cpp "
            "b9934 (b10441 has it); this spec pins b9444",
            "set engine_version: b10441 or newer, or set deploy.nodes to 1",
        ),
        ("error", "deploy.nodes", lacks.format("--never-was", "b9444"), "set deploy.nodes to 1"),
    ]
    assert release("b9444", 1) == []  # on one node the recipe renders none of them
    monkeypatch.setattr(LlamaCppEngine, "node_flags", ("--mlock",))
    assert release("b11434", 2) == [
        (
            "error",
            "deploy.nodes",
            lacks.format("--mlock", "b11434") + ": '--mlock' was removed after llama.cpp b10441 "
            "(gone in b10941)",
            "set deploy.nodes to 1",  # the history's fix (use --load-mode) names no version
        )
    ]
