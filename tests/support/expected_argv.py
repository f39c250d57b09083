"""The argv a spec must give its engine, written from the engines' flags, not from llmgen's plan.

Tests that read a rendered command back (launch.sh run, ExecStart, the Dockerfile's CMD,
compose `command:`, Kubernetes `args`) compare it with this, so a wrong plan fails them.

Where each rule comes from:
- the spec's defaults: README.md's example spec (port 8000, context_length 4096, parallel 4,
  host 127.0.0.1, gpus 0, dtype auto);
- which flag carries which knob: ../shared/engines/README.md, "Cross-engine knobs", and the
  flag tables beside it (vllm-0.33.0, tgi-3.3.7, llamacpp-b11434);
- the served name: the same table's "name clients send" row;
- what llmgen adds on purpose, each with its reason in docs/ and the engine's source:
  TGI's --max-concurrent-requests (128 by default, launcher/src/main.rs:648) raised to twice
  `parallel`; llama.cpp's --ctx-size = context_length x parallel (the slots share it),
  --device none/CUDA0.., --fit off, and --cache-ram 0 unless extra_args sets it;
- extra_args come last, each item one argv entry, as given.
Inside a container the server binds every interface: `0.0.0.0`.
"""

from __future__ import annotations

import posixpath
from typing import Any

DEFAULT_PORT = 8000
DEFAULT_CONTEXT = 4096
DEFAULT_PARALLEL = 4
DEFAULT_HOST = "127.0.0.1"
CONTAINER_HOST = "0.0.0.0"  # what a server in a container binds
TGI_DEFAULT_CONCURRENT_REQUESTS = 128  # launcher/src/main.rs:648
# llama-server's spellings of --cache-ram (llamacpp-b11434-flags.tsv: `--cache-ram`, alias
# `-cram`); common/arg.cpp reads `_` as `-`.
CACHE_RAM_NAMES = ("--cache-ram", "-cram")


def served_name(data: dict[str, Any]) -> str:
    """The model name clients send, per ../shared/engines/README.md ("name clients send")."""
    engine, model = data["engine"], data.get("model", {})
    if engine == "tgi":  # no rename flag: the --model-id string
        return str(model.get("path") or model.get("id"))
    if model.get("served_name"):
        return str(model["served_name"])
    if model.get("id"):
        # vLLM: the model string exactly; llama.cpp: the -hf string without its :QUANT tag.
        return str(model["id"]) if engine == "vllm" else str(model["id"]).split(":", 1)[0]
    return posixpath.basename(str(model["path"]).rstrip("/"))


def expected_argv(data: dict[str, Any], host: str | None = None) -> list[str]:
    """The engine's argv (after the executable and vLLM's `serve`) for the spec `data`.

    `host`: the address bound (the spec's server.host when None; CONTAINER_HOST in images).
    """
    engine = data["engine"]
    model = data.get("model", {})
    server = data.get("server", {})
    rt = data.get("runtime", {})
    bind = host if host is not None else str(server.get("host", DEFAULT_HOST))
    port = str(server.get("port", DEFAULT_PORT))
    context = int(rt.get("context_length", DEFAULT_CONTEXT))
    parallel = int(rt.get("parallel", DEFAULT_PARALLEL))
    gpus = int(rt.get("gpus", 0))
    batch = rt.get("batch_size")
    dtype = rt.get("dtype", "auto")
    fraction = rt.get("gpu_memory_fraction")
    extra = [str(item) for item in rt.get("extra_args", [])]
    model_string = str(model.get("path") or model.get("id"))
    args: list[str]
    if engine == "vllm":
        args = [model_string, "--served-model-name", served_name(data)]
        if model.get("revision"):
            args += ["--revision", str(model["revision"])]
        args += ["--host", bind, "--port", port]
        args += ["--max-model-len", str(context), "--max-num-seqs", str(parallel)]
        if batch is not None:
            args += ["--max-num-batched-tokens", str(batch)]
        if gpus > 1:
            args += ["--tensor-parallel-size", str(gpus)]
        if fraction is not None and gpus > 0:
            args += ["--gpu-memory-utilization", str(fraction)]
        if dtype != "auto":
            args += ["--dtype", dtype]
        if rt.get("kv_cache_memory") is not None:
            # vLLM's K/M/G/T suffixes are binary already and it refuses "Mi": 64Mi -> 64M.
            args += ["--kv-cache-memory-bytes", str(rt["kv_cache_memory"]).removesuffix("i")]
        if rt.get("enforce_eager"):
            args.append("--enforce-eager")
    elif engine == "tgi":
        args = ["--model-id", model_string]
        if model.get("revision"):
            args += ["--revision", str(model["revision"])]
        max_input = rt.get("max_input_tokens")
        args += ["--hostname", bind, "--port", port, "--max-total-tokens", str(context)]
        args += ["--max-input-tokens", str(max_input if max_input is not None else context - 1)]
        args += ["--max-batch-size", str(parallel)]
        if 2 * parallel > TGI_DEFAULT_CONCURRENT_REQUESTS:
            args += ["--max-concurrent-requests", str(2 * parallel)]
        if batch is not None:
            args += ["--max-batch-prefill-tokens", str(batch)]
        if gpus > 0:
            args += ["--num-shard", str(gpus)]
        if fraction is not None and gpus > 0:
            args += ["--cuda-memory-fraction", str(fraction)]
        if dtype in ("float16", "bfloat16"):
            args += ["--dtype", dtype]
        if rt.get("enforce_eager") and gpus > 0:
            args += ["--cuda-graphs", "0"]
    else:
        args = ["--model", str(model["path"])] if model.get("path") else ["--hf-repo", model_string]
        args += ["--alias", served_name(data), "--host", bind, "--port", port]
        args += ["--ctx-size", str(context * parallel), "--parallel", str(parallel)]
        if batch is not None:
            args += ["--batch-size", str(batch)]
        if rt.get("threads") is not None:
            args += ["--threads", str(rt["threads"])]
        layers = rt.get("gpu_layers", "all" if gpus > 0 else 0)
        args += ["--gpu-layers", str(layers)]
        args += ["--device", ",".join(f"CUDA{i}" for i in range(gpus)) or "none"]
        args += ["--fit", "off"]
        if not any(item.replace("_", "-") in CACHE_RAM_NAMES for item in extra):
            args += ["--cache-ram", "0"]
    return args + extra


def native_argv(data: dict[str, Any]) -> list[str]:
    """What launch.sh and the unit hand the engine's executable: vLLM's `serve` first."""
    return (["serve"] if data["engine"] == "vllm" else []) + expected_argv(data)


def container_argv(data: dict[str, Any]) -> list[str]:
    """The image's command after its entrypoint: bound to every interface."""
    return expected_argv(data, CONTAINER_HOST)
