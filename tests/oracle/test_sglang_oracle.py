"""SGLang's own parser and argument checks judge llmgen's verdicts.

Every spec of the corpus is validated by llmgen and rendered; the argv after `sglang serve` goes
to SGLang 0.5.23's `prepare_server_args(argv)`, `ServerArgs.resolve_once()` and
`check_server_args()` in ONE subprocess of the SGLang environment (scripts/setup-sglang.sh;
tests/support/oracle_sglang_driver.py), against the vLLM oracle's tiny local model variants.

What runs on CPU and what needs a device: the parser (types, choices, unknown flags), the whole
resolution pipeline (srt/arg_groups/pipeline.py: the model config, the derived context length,
chunked prefill, page size) and check_server_args (srt/arg_groups/validation_hook.py) run here
with `--device cpu`. Nothing of them counts devices: tensor parallel sizes against the GPUs
and --mem-fraction-static against the free memory are found only when the workers start on a
device (the scheduler's model runner), so those cases are llmgen's own policy, said so below.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.support.oracle_common import (
    Comparison,
    check_corpus_ids,
    corpus_param,
    record_and_check,
)
from tests.support.oracle_sglang import Case, judge_all, sglang_python
from tests.support.oracle_vllm import make_variants

pytest_plugins = ("tests.support.vllm_fixtures",)

# The SGLang environment is built on the vLLM CPU one: deselected together with -m 'not vllm'.
pytestmark = [pytest.mark.vllm, pytest.mark.sglang]

LONG = r"greater than the derived context_length"
# Where a GPU decides: the Llama model's attention, built on each rank when the workers load.
HEADS_VS_TP = (
    "srt/models/llama.py:183 (LlamaAttention): assert self.total_num_heads % tp_size == 0, "
    "tp_size being the whole tensor-parallel group across the nodes"
)

CORPUS: tuple[Case, ...] = (
    # --- model facts: the derived context length (srt/configs/model_config.py) -------------
    Case("baseline"),
    Case("context-at-trained-limit", runtime={"context_length": 2048}),
    Case(
        "context-above-trained-limit",
        runtime={"context_length": 2049},
        cause=(r"2048", LONG),
    ),
    Case("context-small", runtime={"context_length": 16}),
    Case("rope-linear-4x-at-positions", model="rope-linear-4", runtime={"context_length": 2048}),
    Case("rope-linear-4x-scaled", model="rope-linear-4", runtime={"context_length": 8192}),
    Case("rope-yarn-at-positions", model="rope-yarn-4", runtime={"context_length": 2048}),
    # YaRN names original_max_position_embeddings: SGLang does not multiply.
    Case(
        "rope-yarn-factor-not-applied",
        model="rope-yarn-4",
        runtime={"context_length": 8192},
        cause=(r"2048", LONG),
    ),
    Case("rope-dynamic-2x-scaled", model="rope-dynamic-2", runtime={"context_length": 4096}),
    Case("rope-dynamic-2x", model="rope-dynamic-2", runtime={"context_length": 2048}),
    Case("tokenizer-limit", model="tokenizer-1024", runtime={"context_length": 2048}),
    Case("positions-512-at-limit", model="positions-512", runtime={"context_length": 512}),
    Case(
        "positions-512-above-limit",
        model="positions-512",
        runtime={"context_length": 1024},
        cause=(r"512", LONG),
    ),
    Case("sliding-window-long-context", model="sliding-1024", runtime={"context_length": 4096}),
    Case(
        "sliding-window-above-positions",
        model="sliding-1024",
        runtime={"context_length": 4097},
        cause=(r"4096", LONG),
    ),
    Case("six-heads", model="heads-6"),
    # --- scheduling: running requests, chunked prefill, prefill budget ---------------------
    Case("parallel-one", runtime={"parallel": 1}),
    Case("parallel-large", runtime={"parallel": 4096}),
    Case("batch-size-small", runtime={"batch_size": 64}),
    Case("batch-size-large", runtime={"batch_size": 16384}),
    Case("batch-size-odd", runtime={"batch_size": 1000}),
    Case(
        "batch-size-not-multiple-of-page",
        runtime={"batch_size": 1000},
        extra=("--page-size", "16"),
        cause=(r"divisible by page_size", r"divisible by page_size"),
    ),
    Case("batch-size-multiple-of-page", runtime={"batch_size": 1024}, extra=("--page-size", "16")),
    Case("max-prefill-tokens", extra=("--max-prefill-tokens", "8192")),
    Case("max-prefill-tokens-si", extra=("--max-prefill-tokens", "8k")),
    Case("max-prefill-tokens-iec", extra=("--max-prefill-tokens", "8Ki")),
    Case("max-queued-requests", extra=("--max-queued-requests", "16")),
    Case("schedule-policy", extra=("--schedule-policy", "fcfs")),
    Case(
        "schedule-policy-unknown",
        extra=("--schedule-policy", "bogus"),
        cause=(r"bogus|schedule.policy", r"invalid choice|bogus"),
    ),
    Case(
        "schedule-conservativeness-negative",
        extra=("--schedule-conservativeness", "-1"),
        cause=r"schedule_conservativeness",
    ),
    Case(
        "tokenizer-workers-zero",
        extra=("--tokenizer-worker-num", "0"),
        cause=r"Tokenizer worker num",
    ),
    Case(
        "prefill-decode-interval-negative",
        extra=("--prefill-decode-interval", "-1"),
        cause=r"prefill-decode-interval",
    ),
    # --- dtype and spellings -----------------------------------------------------------------
    Case("dtype-bfloat16", runtime={"dtype": "bfloat16"}),
    Case("dtype-float16", runtime={"dtype": "float16"}),
    Case("dtype-float32", runtime={"dtype": "float32"}),
    Case("equals-spelling", extra=("--max-queued-requests=16",)),
    Case("boolean-switch", extra=("--enable-metrics",)),
    Case("alias-spelling", extra=("--nccl-init-addr", "127.0.0.1:25000")),
    Case(
        "underscore-spelling",
        extra=("--max_queued_requests", "16"),
        cause=(r"max_queued_requests", r"unrecognized arguments"),
    ),
    Case("unknown-flag", extra=("--no-such-flag",), cause=(r"no-such-flag", r"no-such-flag")),
    Case(
        "int-flag-given-text",
        extra=("--max-queued-requests", "many"),
        cause=(r"max-queued-requests|whole number", r"invalid .*value"),
    ),
    Case(
        "served-name-with-colon",
        served_name="tiny:chat",
        cause=(r"colon", r"colon"),
    ),
    Case(
        "cuda-graph-padding-with-torch-compile",
        extra=("--disable-cuda-graph-padding", "--enable-torch-compile"),
        cause=r"incompatible with --enable-torch-compile",
    ),
    Case(
        "watermark-config-without-watermark",
        extra=("--watermark-config", "{}"),
        cause=r"--watermark-config requires --enable-watermark",
    ),
    # --- llmgen's own policy: flags the spec sets, secrets, routes, device counts ---------
    Case("repeat-context-length", extra=("--context-length", "512"), policy=r"context.length"),
    Case("repeat-served-name", extra=("--served-model-name", "x"), policy=r"served"),
    Case("api-key-in-extra-args", extra=("--api-key", "secret"), policy=r"secret|api.?key"),
    # (With both files named SGLang checks that they exist; llmgen refuses HTTPS flags anyway.)
    Case(
        "https-cert-without-key",
        extra=("--ssl-certfile", "/tmp/cert.pem"),
        cause=(r"HTTPS", r"requires --ssl-keyfile"),
    ),
    Case(
        "tensor-parallel-on-cpu",
        extra=("--tp-size", "2"),
        policy=r"runtime\.gpus",
    ),
    Case(
        "memory-fraction-in-extra-args",
        extra=("--mem-fraction-static", "1.5"),
        policy=r"gpu_memory_fraction",
    ),
)

# Multi-node (deploy.nodes): every node's argv as the rendered scripts and pods make it
# (oracle_sglang.node_argvs: bare-metal head and worker, LeaderWorkerSet leader and worker).
NODE_CORPUS: tuple[Case, ...] = (
    Case("two-nodes-one-gpu-each", runtime={"gpus": 1}, nodes=2),
    Case("two-nodes-three-gpus-each", model="heads-6", runtime={"gpus": 3}, nodes=2),
    Case("three-nodes-two-gpus-each", model="heads-6", runtime={"gpus": 2}, nodes=3),
    # tp 2 x 2 = 4 does not divide 6 heads: SGLang's argument checks accept it, its model
    # refuses it when the workers load it on their GPUs.
    Case(
        "two-nodes-tp-across-nodes-vs-heads",
        model="heads-6",
        runtime={"gpus": 2},
        nodes=2,
        cause=(r"6 attention heads .* 4 GPUs", r"total_num_heads % tp_size"),
        source=("refuse", HEADS_VS_TP),
    ),
    Case("two-nodes-context-at-limit", runtime={"gpus": 1, "context_length": 2048}, nodes=2),
    Case(
        "two-nodes-context-above-limit",
        runtime={"gpus": 1, "context_length": 2049},
        nodes=2,
        cause=(r"2048", LONG),
    ),
    Case(
        "two-nodes-data-parallel",
        runtime={"gpus": 1},
        extra=("--dp-size", "2"),
        nodes=2,
        cause=(r"data-parallel replicas across nodes", r"multi-node data-parallel"),
    ),
)
ROLES = ("head", "worker", "leader-pod", "worker-pod")


@pytest.fixture(scope="module")
def verdicts(
    tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Comparison]:
    """Every case judged, with one subprocess of the SGLang environment for the whole corpus."""
    work = tmp_path_factory.mktemp("sglang-oracle")
    models = make_variants(tiny_hf_model, work / "models")
    return judge_all(list(CORPUS), sglang_python(), models, work)


@pytest.mark.parametrize("case", [corpus_param(c) for c in CORPUS])
def test_llmgen_agrees_with_sglang(case: Case, verdicts: dict[str, Comparison]) -> None:
    record_and_check(case.policy, verdicts[case.id])


def test_corpus_is_large_and_ids_unique() -> None:
    check_corpus_ids(case.id for case in CORPUS)
    check_corpus_ids([case.id for case in CORPUS + NODE_CORPUS], at_least=50)


@pytest.fixture(scope="module")
def node_verdicts(
    tiny_hf_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Comparison]:
    """Every node of every multi-node case judged, in one subprocess of the SGLang environment."""
    work = tmp_path_factory.mktemp("sglang-node-oracle")
    models = make_variants(tiny_hf_model, work / "models")
    return judge_all(list(NODE_CORPUS), sglang_python(), models, work)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", [corpus_param(c) for c in NODE_CORPUS])
def test_sglang_accepts_each_nodes_argv(
    case: Case, role: str, node_verdicts: dict[str, Comparison]
) -> None:
    comparison = node_verdicts[f"{case.id}/{role}"]
    record_and_check(case.policy, comparison)
    if comparison.llmgen == "refuse":
        return
    argv = comparison.details["argv"]
    words = dict(itertools.pairwise(argv))
    # Tensor parallel spans the nodes: runtime.gpus x deploy.nodes ranks, tp_size // nnodes on
    # each node (srt/entrypoints/engine.py:2070-2071), which SGLang's resolution keeps.
    gpus, nodes = case.runtime["gpus"], case.nodes
    assert comparison.details["config"]["tp_size"] == str(gpus * nodes)
    assert words["--nnodes"] == str(nodes)
    assert words["--node-rank"] == ("0" if role in ("head", "leader-pod") else "1")
    address = "10.0.0.1" if role in ("head", "worker") else "oracle-0.oracle.oracle"
    assert words["--dist-init-addr"] == f"{address}:20000"
