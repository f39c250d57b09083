"""A matrix of valid specs per engine that exercises every knob the renderer turns into flags."""

from __future__ import annotations

from typing import Any

from llmgen.spec.models import Spec, parse_spec

MODELS: dict[str, list[dict[str, Any]]] = {
    "vllm": [
        {"id": "HuggingFaceTB/SmolLM2-360M-Instruct", "revision": "main", "served_name": "chat"},
        {"path": "/srv/models/smollm2"},
    ],
    "tgi": [
        {"id": "HuggingFaceTB/SmolLM2-360M-Instruct", "revision": "v1.0"},
        {"path": "/srv/models/smollm2"},
    ],
    "llamacpp": [
        {"id": "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M", "served_name": "smol"},
        {"path": "/srv/models/smollm2.Q4_K_M.gguf"},
    ],
}

RUNTIMES: dict[str, list[dict[str, Any]]] = {
    "vllm": [
        {"gpus": 0, "threads": 2, "kv_cache_memory": "64M", "enforce_eager": True},
        {"gpus": 1, "gpu_memory_fraction": 0.85, "dtype": "bfloat16", "batch_size": 8192},
        {"gpus": 4, "parallel": 64, "context_length": 32768, "extra_args": ["--seed", "7"]},
    ],
    "tgi": [
        {"gpus": 0, "threads": 4, "batch_size": 4096},
        {"gpus": 1, "gpu_memory_fraction": 0.9, "dtype": "float16", "enforce_eager": True},
        {
            "gpus": 2,
            "max_input_tokens": 2048,
            "batch_size": 2048,
            "extra_args": ["--sharded", "true"],
        },
    ],
    "llamacpp": [
        {"gpus": 0, "threads": 8, "batch_size": 512, "parallel": 1},
        {"gpus": 1, "gpu_layers": "all", "extra_args": ["--flash-attn", "on"]},
        {"gpus": 2, "gpu_layers": 20, "parallel": 8, "extra_args": ["--metrics"]},
    ],
}

SERVERS: list[dict[str, Any]] = [
    {},
    {"host": "0.0.0.0", "port": 9001, "api_key_env": "LLM_API_KEY"},
    {"host": "::1", "port": 8443},
]


def matrix() -> list[tuple[str, Spec]]:
    """(id, Spec) for every engine x model x runtime x server combination."""
    specs = []
    for engine, models in MODELS.items():
        for m, model in enumerate(models):
            for r, runtime in enumerate(RUNTIMES[engine]):
                for s, server in enumerate(SERVERS):
                    spec = parse_spec(
                        {
                            "name": f"{engine}-m{m}-r{r}-s{s}",
                            "engine": engine,
                            "model": model,
                            "server": server,
                            "runtime": runtime,
                        }
                    )
                    specs.append((spec.name, spec))
    return specs
