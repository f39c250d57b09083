"""vLLM 0.33 (`vllm serve`)."""

from __future__ import annotations

import posixpath
from typing import ClassVar

from llmgen.engines.base import Engine
from llmgen.errors import Diagnostic, error, warning
from llmgen.spec import Spec


class VllmEngine(Engine):
    """vLLM's OpenAI-compatible server; CPU build driven by VLLM_CPU_* variables."""

    key = "vllm"
    title = "vLLM"
    version = "0.33.0"
    executable = "vllm"
    subcommand = ("serve",)
    flag_table_file = "vllm-0.33.0-flags.tsv"
    readiness = "refused-while-loading"
    api_key_var = "VLLM_API_KEY"
    install_hint = "pip install vllm==0.33.0 (CPU-only machines: see the vLLM CPU install docs)"
    open_routes = ("/health", "/metrics", "/ping", "/version")
    cache_volume = ("llmgen-hf-cache", "/root/.cache/huggingface")
    # Without a writable VLLM_CACHE_ROOT a sandboxed vLLM logs errors saving its caches.
    unit_cache_dirs = (("HF_HOME", "huggingface"), ("VLLM_CACHE_ROOT", "vllm"))
    model_kind = "hf"
    multinode = "ray"
    long_context_is_error = True  # unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1
    shards_split_heads = True
    cpu_head_sizes = frozenset({32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512})
    unsupported: ClassVar[dict[str, str]] = {
        "gpu_layers": "it keeps every layer on the GPUs",
        "max_input_tokens": "the prompt limit follows context_length",
    }

    def serve_args(self, spec: Spec, bind_host: str) -> list[str]:
        rt = spec.runtime
        args = [spec.model.path or spec.model.id or ""]
        args += ["--served-model-name", self.served_name(spec)]
        if spec.model.revision:
            args += ["--revision", spec.model.revision]
        args += ["--host", bind_host, "--port", str(spec.server.port)]
        args += ["--max-model-len", str(rt.context_length), "--max-num-seqs", str(rt.parallel)]
        if rt.batch_size is not None:
            args += ["--max-num-batched-tokens", str(rt.batch_size)]
        if rt.gpus > 1:
            args += ["--tensor-parallel-size", str(rt.gpus)]
        if rt.gpu_memory_fraction is not None and rt.gpus > 0:
            args += ["--gpu-memory-utilization", str(rt.gpu_memory_fraction)]
        if rt.dtype != "auto":
            args += ["--dtype", rt.dtype]
        if rt.kv_cache_memory is not None:
            # vLLM's K/M/G/T are binary already (64M = 64 * 2**20) and it refuses "64Mi".
            args += ["--kv-cache-memory-bytes", rt.kv_cache_memory.removesuffix("i")]
        if rt.enforce_eager:
            args.append("--enforce-eager")
        return args

    def served_name(self, spec: Spec) -> str:
        if spec.model.served_name:
            return spec.model.served_name
        if spec.model.id:
            return spec.model.id
        return posixpath.basename((spec.model.path or "").rstrip("/"))

    def image(self, spec: Spec) -> tuple[str, str]:
        if spec.runtime.gpus > 0:
            return ("vllm/vllm-openai", f"v{self.version}")
        return ("vllm/vllm-openai-cpu", f"v{self.version}-x86_64")

    def environment(self, spec: Spec) -> dict[str, str]:
        env: dict[str, str] = {}
        if spec.runtime.gpus == 0 and spec.runtime.threads is not None:
            env["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{spec.runtime.threads - 1}"
        return env

    def shm_size(self, spec: Spec) -> str | None:
        # Tensor parallel workers exchange tensors through /dev/shm.
        return "16g" if spec.runtime.gpus > 1 else None

    def healthcheck(self, port: int) -> tuple[str, ...]:
        # The vLLM images ship python3 for certain; curl is not promised. The URL is an
        # argument, so the program text needs no inner quotes.
        probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
        return ("python3", "-c", probe, f"http://127.0.0.1:{port}{self.health_path}")

    def engine_checks(self, spec: Spec) -> list[Diagnostic]:
        rt = spec.runtime
        found: list[Diagnostic] = []
        if rt.batch_size is not None and rt.batch_size < rt.parallel:
            found.append(
                error(
                    "runtime.batch_size",
                    f"vLLM needs max_num_batched_tokens ({rt.batch_size}) >= max_num_seqs "
                    f"({rt.parallel})",
                    f"set runtime.batch_size to {rt.parallel} or more",
                )
            )
        chunked_off = "--no-enable-chunked-prefill" in rt.extra_args
        if chunked_off and rt.batch_size is not None and rt.batch_size < rt.context_length:
            found.append(
                error(
                    "runtime.batch_size",
                    f"without chunked prefill vLLM needs max_num_batched_tokens ({rt.batch_size}) "
                    f">= max_model_len ({rt.context_length})",
                    f"set runtime.batch_size to {rt.context_length} or more",
                )
            )
        if rt.gpus == 0:
            if rt.kv_cache_memory is None:
                found.append(
                    warning(
                        "runtime.kv_cache_memory",
                        "on CPU vLLM reserves most of the RAM for its KV cache when no size is set",
                        "set runtime.kv_cache_memory, e.g. 1G",
                    )
                )
            if rt.gpu_memory_fraction is not None:
                found.append(
                    warning(
                        "runtime.gpu_memory_fraction", "ignored without GPUs (runtime.gpus is 0)"
                    )
                )
        elif rt.threads is not None:
            found.append(
                warning("runtime.threads", "vLLM on GPUs ignores runtime.threads", "remove it")
            )
        return found
