"""Measure vLLM's CPU build as llmgen renders a spec: start it, send one request, read the
memory of its process group (PSS and RSS summed, tests/support/vllm_cpu.py `group_memory`)
and the KV cache size it logs, beside `llmgen fit`'s host estimate.

Used by benchmarks/fit_vllm.py and tests/fit/test_fit_vllm_engine.py. Only the process group
started here is signalled; it is always stopped.
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from llmgen.engines import ENGINES
from llmgen.fit.run import fit_spec
from llmgen.spec.models import Spec, parse_spec
from tests.support.engines import free_port
from tests.support.hf_model import make_tiny_llama
from tests.support.vllm_cpu import (
    group_memory,
    start_group,
    stop_group,
    vllm_environment,
    wait_for_health,
)

MIB = 1 << 20
# A larger copy of the tiny model (same tokenizer), float32 safetensors:
# argv: src dest hidden intermediate layers heads kv_heads
RESHAPE = """
import sys
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
import torch
src, dest = sys.argv[1], sys.argv[2]
hidden, ffn, layers, heads, kv = (int(v) for v in sys.argv[3:8])
tok = AutoTokenizer.from_pretrained(src)
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=ffn,
    num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
    max_position_embeddings=4096, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    pad_token_id=tok.pad_token_id, tie_word_embeddings=False, dtype="float32")
LlamaForCausalLM(config).save_pretrained(dest, safe_serialization=True)
tok.save_pretrained(dest)
"""
# name -> (hidden, intermediate, layers, heads, KV heads); "tiny" is make_hf_model.py's.
SHAPES = {
    "wide": (512, 1536, 4, 8, 2),  # 4 layers, width 512, 8 heads of 64, 2 KV heads: 12.6M
    "deep": (1024, 2816, 8, 16, 4),  # 8 layers, width 1024, 16 heads of 64, 4 KV heads: 94M
}
_KV_TOKENS = re.compile(r"KV cache size: ([0-9,]+) tokens")


@dataclass(frozen=True)
class Case:
    """One vLLM CPU deployment: the model and the runtime fields that decide memory."""

    id: str
    model: str
    context: int
    parallel: int
    kv_cache: str
    dtype: str = "auto"


def spec_for(case: Case, model: Path, port: int) -> Spec:
    """The spec a user would write for this case (llmgen renders its argv)."""
    return parse_spec(
        {
            "name": "bench",
            "engine": "vllm",
            "model": {"path": str(model)},
            "server": {"host": "127.0.0.1", "port": port},
            "runtime": {
                "context_length": case.context,
                "parallel": case.parallel,
                "gpus": 0,
                "threads": 2,
                "kv_cache_memory": case.kv_cache,
                "dtype": case.dtype,
                "enforce_eager": True,
            },
        }
    )


def measure(python: Path, case: Case, model: Path, work: Path) -> dict[str, object]:
    """Start vLLM as llmgen renders the case, send one request, read memory and logged KV."""
    spec = spec_for(case, model, free_port())
    plan = ENGINES["vllm"].plan(spec)
    env = vllm_environment(python, work / "vllm-cache")
    env.update(dict(plan.env))
    log_path = work / f"{case.id}.log"
    with log_path.open("wb") as log:
        process = start_group([str(python.parent / "vllm"), *plan.subcommand, *plan.args], env, log)
        try:
            port = spec.server.port
            wait_for_health(process, f"http://127.0.0.1:{port}/health", timeout=900)
            prompt_words = min(case.context - 16, 400)
            body = json.dumps(
                {"model": plan.served_name, "prompt": "hello " * prompt_words, "max_tokens": 8}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=600) as response:
                response.read()
            rss, pss, count = group_memory(process.pid)
        finally:
            stop_group(process)
    text = log_path.read_text("utf-8", "replace")
    tokens = _KV_TOKENS.search(text)
    report = fit_spec(spec, memory="64G", online=False)
    host = next(d for d in report.devices if d.name == "host")
    estimate = host.estimate_bytes
    return {
        "case": case.id,
        "model": case.model,
        "context": case.context,
        "parallel": case.parallel,
        "kv_cache": case.kv_cache,
        "dtype": case.dtype,
        "kv_logged_tokens": int(tokens.group(1).replace(",", "")) if tokens else None,
        "breakdown_mib": {
            "weights": round(host.breakdown.weights / MIB, 1),
            "kv_cache": round(host.breakdown.kv_cache / MIB, 1),
            "compute": round(host.breakdown.compute / MIB, 1),
            "overhead": round(host.breakdown.overhead / MIB, 1),
        },
        "estimate_mib": round(estimate / MIB, 1),
        "pss_mib": round(pss / MIB, 1),
        "rss_mib": round(rss / MIB, 1),
        "processes": count,
        "error_pct": round(100 * (estimate - pss) / pss, 1),
        "within": abs(estimate - pss) <= max(0.10 * pss, 64 * MIB),
    }


def make_models(python: Path, work: Path, names: set[str]) -> dict[str, Path]:
    """The tiny model and the reshaped copies the cases need."""
    tiny = make_tiny_llama(work / "tiny", python)
    models = {"tiny": tiny}
    for name, dims in SHAPES.items():
        if name in names:
            dest = work / name
            subprocess.run(
                [str(python), "-c", RESHAPE, str(tiny), str(dest), *map(str, dims)],
                check=True,
                capture_output=True,
                timeout=900,
            )
            models[name] = dest
    return models
