"""SGLang 0.5.23 (`sglang serve`).

Citations are paths inside the `sglang` package of the PyPI wheel sglang==0.5.23.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, ClassVar

from llmgen.engines.base import Engine, LaunchPlan, renamed_or_model_string
from llmgen.engines.effective import EffectiveConfig
from llmgen.engines.rules import world_size_rule
from llmgen.errors import Diagnostic, error, warning
from llmgen.facts.model import ModelFacts

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

# SGLang reads its API key from `--api-key` only (srt/arg_groups/fields/serving.py:160; no
# variable in srt/environ.py), so llmgen hands it over from this variable at launch time.
API_KEY_VAR = "SGLANG_API_KEY"

# In the image: SGLang's own compose file runs `python3 -m sglang.launch_server`
# (docker/compose.yaml of sgl-project/sglang); the wrapper adds the key from the environment.
_CONTAINER_COMMAND = ("python3", "-m", "sglang.launch_server")
_WITH_KEY = 'exec python3 -m sglang.launch_server "$@" --api-key "$' + API_KEY_VAR + '"'


class SglangEngine(Engine):
    """SGLang's HTTP server; on CPU it needs its sgl-kernel CPU build (`--device cpu`)."""

    key = "sglang"
    title = "SGLang"
    # launch_server.py:75-80: `python -m sglang.launch_server` "is still supported, but
    # 'sglang serve' is the recommended entrypoint" (console script sglang = sglang.cli.main).
    executable = "sglang"
    subcommand = ("serve",)
    # srt/entrypoints/http_server.py: launch_server starts uvicorn only after
    # Engine._launch_subprocesses has loaded the model (connection refused meanwhile); /health
    # then answers 503 while server_status is Starting (the warm-up request, lines 721-736).
    readiness = "503-while-loading"
    api_key_var = API_KEY_VAR
    install_recipe = (
        "pip install sglang=={version} (GPU); CPU needs SGLang's sgl-kernel CPU build, see "
        "SGLang's docs/platforms/cpu_server.md, or use docker-run.sh"
    )
    # srt/utils/auth.py:98-106 decide_request_auth: OPTIONS and every path starting with
    # /health, /ready or /metrics pass without the key; everything else, /v1/models included,
    # needs it.
    open_routes = ("/health", "/health_generate", "/ready", "/metrics")
    cache_volume = ("llmgen-hf-cache", "/root/.cache/huggingface")
    model_kind = "hf"
    # srt/configs/model_config.py: a context_length above the derived one raises unless
    # SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1 (read here with the SGLang oracle).
    long_context_is_error = True
    context_flag = "--context-length"
    context_overflow = "SGLang refuses to start"
    context_limit_words = "the longest context SGLang derives"
    shards_split_heads = True
    shard_flag = "--tp-size"
    starter_model = "HuggingFaceTB/SmolLM2-360M-Instruct"
    version_args = ("version",)  # `sglang version` prints "sglang version: 0.5.23" (cli/main.py)
    version_pattern = r"sglang version:\s*v?(\d+\.\d+\.\d+)"
    # The wheel sglang==0.5.23 requires CUDA 13 builds (cuda-python>=13.0,
    # flashinfer_python[cu13]), so its image is built on CUDA 13.0.
    image_cuda = (13, 0)
    image_cuda_read_at = "0.5.23"
    fit_unknown = (
        "SGLang: no estimate; it sizes its KV cache pool from --mem-fraction-static of the "
        "device memory after the weights, and llmgen has not measured SGLang's overheads "
        "(its CPU backend cannot run here; docs/targets.md, SGLang)"
    )
    parallel_flags = ("--tp-size", "--pp-size", "--dp-size")
    spec_fields: ClassVar[dict[str, str]] = {
        "--model-path": "model",
        "--served-model-name": "model.served_name",
        "--revision": "model.revision",
        "--host": "server.host",
        "--port": "server.port",
        "--context-length": "runtime.context_length",
        "--max-running-requests": "runtime.parallel",
        "--chunked-prefill-size": "runtime.batch_size",
        "--tp-size": "runtime.gpus",
        "--mem-fraction-static": "runtime.gpu_memory_fraction",
        "--dtype": "runtime.dtype",
        "--cuda-graph-backend-decode": "runtime.enforce_eager",
        "--cuda-graph-backend-prefill": "runtime.enforce_eager",
        "--device": "runtime.gpus",
    }
    route_flags: ClassVar[dict[str, str]] = {
        "--ssl-certfile": "switches the server to HTTPS",
        "--ssl-keyfile": "switches the server to HTTPS",
        "--grpc-mode": "serves gRPC instead of HTTP",
        "--smg-grpc-mode": "serves gRPC instead of HTTP",
    }
    unsupported: ClassVar[dict[str, str]] = {
        "gpu_layers": "it keeps every layer on the devices",
        "max_input_tokens": "the prompt limit follows context_length",
        "kv_cache_memory": "it sizes the KV cache from --mem-fraction-static (or "
        "--max-total-tokens, in tokens, through extra_args)",
    }

    def serve_args(self, spec: Spec, bind_host: str) -> list[str]:
        rt = spec.runtime
        args = ["--model-path", spec.model.path or spec.model.id or ""]
        args += ["--served-model-name", self.served_name(spec)]
        if spec.model.revision:
            args += ["--revision", spec.model.revision]
        args += ["--host", bind_host, "--port", str(spec.server.port)]
        # --max-running-requests caps the running batch; requests beyond it wait in the
        # scheduler's queue (--max-queued-requests, unbounded by default:
        # srt/arg_groups/fields/schedule.py:31-38).
        args += ["--context-length", str(rt.context_length)]
        args += ["--max-running-requests", str(rt.parallel)]
        if rt.batch_size is not None:
            # Tokens per scheduler step: the chunk size of chunked prefill (on by default).
            # --max-prefill-tokens is not it: "the real bound will be the maximum of this
            # value and the model's maximum context length" (fields/schedule.py:52-80).
            args += ["--chunked-prefill-size", str(rt.batch_size)]
        if rt.gpus == 0:
            args += ["--device", "cpu"]
        elif rt.gpus > 1:
            args += ["--tp-size", str(rt.gpus)]
        if rt.gpu_memory_fraction is not None and rt.gpus > 0:
            args += ["--mem-fraction-static", str(rt.gpu_memory_fraction)]
        if rt.dtype != "auto":
            args += ["--dtype", rt.dtype]
        if rt.enforce_eager and rt.gpus > 0:
            args += ["--cuda-graph-backend-decode", "disabled"]
            args += ["--cuda-graph-backend-prefill", "disabled"]
        return args

    def served_name(self, spec: Spec) -> str:
        return renamed_or_model_string(spec)

    def image(self, spec: Spec) -> tuple[str, str]:
        # Release tags are v<version> (sgl-project/sglang .github/workflows/release-docker.yml,
        # `tag=v${version}`); the CPU (Xeon) image is built from docker/xeon.Dockerfile and
        # published as v<version>-xeon (docs/platforms/cpu_server.md).
        if spec.runtime.gpus > 0:
            return ("lmsysorg/sglang", f"v{self.version}")
        return ("lmsysorg/sglang", f"v{self.version}-xeon")

    def environment(self, spec: Spec) -> dict[str, str]:
        if spec.runtime.gpus == 0 and spec.runtime.threads is not None:
            # The CPU backend binds its OpenMP threads from this list (docs/platforms/
            # cpu_server.md); one process, so one range.
            return {"SGLANG_CPU_OMP_THREADS_BIND": f"0-{spec.runtime.threads - 1}"}
        return {}

    def shm_size(self, spec: Spec) -> str | None:
        # Tensor parallel workers exchange tensors through /dev/shm (NCCL).
        return "16g" if spec.runtime.gpus > 1 else None

    def healthcheck(self, port: int) -> tuple[str, ...]:
        # python3 is in every SGLang image (it runs the server); curl is not promised.
        probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
        return ("python3", "-c", probe, f"http://127.0.0.1:{port}{self.health_path}")

    def context_limit(self, facts: ModelFacts) -> int | None:
        # srt/utils/hf_transformers/common.py:677-694 get_context_length: the rope factor
        # multiplies the positions unless rope_scaling names original_max_position_embeddings
        # (YaRN's form) or is llama3. (SGLang reads the first of its length keys; llmgen's
        # facts keep the smallest, the same for every model with one key.)
        length = facts.max_position_embeddings
        if length is None:
            return None
        factor = facts.rope_scaling_factor or 1.0
        if facts.rope_original_context is not None or facts.rope_scaling_type == "llama3":
            factor = 1.0
        return int(factor * length)

    def plan(self, spec: Spec) -> LaunchPlan:
        """The shared plan, with the container command spelt out (the image runs none)."""
        plan = super().plan(spec)
        if spec.server.api_key_env:
            command: tuple[str, ...] = ("/bin/sh", "-c", _WITH_KEY, "sglang")
        else:
            command = _CONTAINER_COMMAND
        return dataclasses.replace(
            plan,
            container_args=(*command, *plan.container_args),
            secret_flags=(("--api-key", API_KEY_VAR),) if spec.server.api_key_env else (),
        )

    def config_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found = world_size_rule(self, spec, config)
        found += self._memory_rules(spec, config)
        found += self._argument_checks(spec, config)
        return found

    def _argument_checks(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        """SGLang 0.5.23's own checks (srt/arg_groups/validation_hook.py check_server_args)."""
        found: list[Diagnostic] = []
        name = self.served_name(spec)
        if ":" in name:  # validation_hook.py:214-219, the colon is LoRA's model:adapter syntax
            found.append(
                error(
                    config.path_of("--served-model-name"),
                    f"SGLang's served_model_name cannot contain a colon ('{name}'): it is "
                    "reserved for the 'model:adapter' syntax of LoRA",
                    "set model.served_name to a name without ':'",
                )
            )
        chunk = config.int_value("--chunked-prefill-size")
        page = config.given("--page-size")
        pages = page.as_int() if page else None
        if chunk is not None and chunk > 0 and pages and chunk % pages:
            # validation_hook.py:243-246
            found.append(
                error(
                    config.path_of("--chunked-prefill-size"),
                    f"SGLang needs chunked_prefill_size ({chunk}) divisible by page_size ({pages})",
                    f"set runtime.batch_size to a multiple of {pages}",
                )
            )
        for flag, least, words in (
            ("--schedule-conservativeness", 0, "schedule_conservativeness must be >= 0"),
            ("--tokenizer-worker-num", 1, "Tokenizer worker num must >= 1"),
            ("--detokenizer-worker-num", 1, "Detokenizer worker num must >= 1"),
            ("--prefill-decode-interval", 0, "--prefill-decode-interval must be non-negative"),
            ("--gpu-id-step", 1, "gpu_id_step must be positive"),
            ("--base-gpu-id", 0, "base_gpu_id must be non-negative"),
        ):
            setting = config.given(flag)
            try:
                number = float(setting.value) if setting is not None else None
            except ValueError:
                number = None  # the type check reports it
            if setting is not None and number is not None and number < least:
                # validation_hook.py:204-205, 273-274, 314, 660
                found.append(
                    error(
                        setting.origin.path, f"{setting.shown()}: {words}", f"give {least} or more"
                    )
                )
        if config.enabled("--disable-cuda-graph-padding") and config.enabled(
            "--enable-torch-compile"
        ):  # validation_hook.py:188-194
            found.append(
                error(
                    config.path_of("--disable-cuda-graph-padding"),
                    "--disable-cuda-graph-padding is incompatible with --enable-torch-compile",
                    "remove one of them from runtime.extra_args",
                )
            )
        if config.given("--watermark-config") is not None and not config.enabled(
            "--enable-watermark"
        ):  # validation_hook.py:36-37
            found.append(
                error(
                    config.path_of("--watermark-config"),
                    "--watermark-config requires --enable-watermark",
                    "add --enable-watermark to runtime.extra_args",
                )
            )
        return found

    def _memory_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        fraction = config.given("--mem-fraction-static")
        if fraction is not None and fraction.origin.kind == "extra_args":
            found.append(
                error(
                    fraction.origin.path,
                    f"{fraction.shown()} is set by runtime.gpu_memory_fraction",
                    "set runtime.gpu_memory_fraction instead",
                )
            )
        if spec.runtime.gpus == 0 and spec.runtime.gpu_memory_fraction is not None:
            found.append(
                warning("runtime.gpu_memory_fraction", "ignored without GPUs (runtime.gpus is 0)")
            )
        return found
