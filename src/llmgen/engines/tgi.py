"""Hugging Face Text Generation Inference 3.x (`text-generation-launcher`).

The launcher and router checks below read the same in every release llmgen knows (3.0.2,
3.1.1, 3.2.3, 3.3.7) except where a rule says otherwise; the per-release lines are cited in
tests/oracle/test_tgi_rules_per_release.py and docs/versions.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from llmgen.engines.base import ClientLimit, Engine, MemoryFlags
from llmgen.engines.effective import EffectiveConfig, Setting
from llmgen.engines.rules import world_size_rule
from llmgen.errors import Diagnostic, error, warning

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

# launcher/src/main.rs: `--max-concurrent-requests` defaults to 128 in every release llmgen knows
# (main.rs:620-621 at v3.0.2, 621-622 at v3.1.1, 637-638 at v3.2.3, 648-649 at v3.3.7).
TGI_CONCURRENT_REQUESTS = 128


class TgiEngine(Engine):
    """TGI's launcher; the model name it reports is the --model-id string itself."""

    key = "tgi"
    title = "TGI"
    executable = "text-generation-launcher"
    readiness = "refused-while-loading"
    api_key_var = "API_KEY"
    install_recipe = (
        "TGI ships no pip package for the launcher: build it from the TGI source "
        "release {version}, or use docker-run.sh"
    )
    open_routes = ("/health", "/info", "/metrics", "/v1/models")
    cache_volume = ("llmgen-tgi-data", "/data")
    model_kind = "hf"
    shards_split_heads = True
    shard_flag = "--num-shard"
    context_flag = "--max-total-tokens"
    context_overflow = "TGI's answers degrade past it"
    memory_flags = MemoryFlags(
        tensor_parallel="--num-shard",
        context="--max-total-tokens",
        sequences="--max-batch-size",
        batched_tokens="--max-batch-prefill-tokens",
        batched_tokens_default=4096,
        memory_fraction="--cuda-memory-fraction",
    )
    # TGI's router (3.0.2 to 3.3.7) is narrower than the OpenAI API
    # (tests/rules/test_client_section.py; per release: tests/oracle/test_tgi_rules_per_release.py).
    client_limits = (
        # router/src/validation.rs: `top_p must be > 0.0 and < 1.0`; 1.0 is only its default.
        ClientLimit(
            "top_p",
            lambda value: value >= 1,
            "TGI refuses top_p 1.0 (it must be below 1; leaving it out means 1.0)",
            "remove client.top_p, or set it below 1, e.g. 0.95",
        ),
        # router/src/lib.rs: presence_penalty becomes repetition_penalty = presence_penalty + 2,
        # and router/src/validation.rs refuses a repetition_penalty <= 0.
        ClientLimit(
            "presence_penalty",
            lambda value: value <= -2,
            "TGI refuses presence_penalty -2 (it adds 2 and needs a positive result)",
            "set client.presence_penalty above -2",
        ),
    )
    image_cuda = (12, 4)  # text-generation-inference v3.3.7 Dockerfile:144, nvidia/cuda:12.4.0
    image_cuda_read_at = "3.3.7"
    # "text-generation-launcher 3.3.7"
    version_pattern = r"text-generation-launcher\s+v?(\d+\.\d+\.\d+)"
    starter_model = "HuggingFaceTB/SmolLM2-360M-Instruct"
    names_served_model = False  # TGI serves the model under its id or path, no other name
    parallel_flags = ("--num-shard",)
    spec_fields: ClassVar[dict[str, str]] = {
        "--model-id": "model",
        "--revision": "model.revision",
        "--hostname": "server.host",
        "--port": "server.port",
        "--max-total-tokens": "runtime.context_length",
        "--max-input-tokens": "runtime.max_input_tokens",
        "--max-batch-size": "runtime.parallel",
        "--max-batch-prefill-tokens": "runtime.batch_size",
        "--num-shard": "runtime.gpus",
        "--cuda-memory-fraction": "runtime.gpu_memory_fraction",
        "--dtype": "runtime.dtype",
        "--cuda-graphs": "runtime.enforce_eager",
    }
    unsupported: ClassVar[dict[str, str]] = {
        "gpu_layers": "it keeps every layer on the GPUs",
        "kv_cache_memory": "it sizes the KV cache from free memory",
    }

    def kv_share(self) -> float:
        """TGI_WIGGLE_ROOM's default at this release (server/text_generation_server/models/
        globals.py:31 at v3.0.2 "0.95", :31 at v3.1.1 and v3.2.3 "0.93", :32 at v3.3.7 "0.90";
        flash_causal_lm.py `warmup` sizes the KV blocks from the free memory within
        MEMORY_FRACTION * TGI_WIGGLE_ROOM: v3.0.2 :1585, v3.1.1 :1593, v3.2.3 and v3.3.7 :1556).
        """
        if self.at_least("3.3.7"):
            return 0.90
        return 0.93 if self.at_least("3.1.1") else 0.95

    def serve_args(self, spec: Spec, bind_host: str) -> list[str]:
        rt = spec.runtime
        args = ["--model-id", spec.model.path or spec.model.id or ""]
        if spec.model.revision:
            args += ["--revision", spec.model.revision]
        # Never `-p`: TGI gives it to both --port and --prometheus-port.
        args += ["--hostname", bind_host, "--port", str(spec.server.port)]
        args += [
            "--max-total-tokens",
            str(rt.context_length),
            "--max-input-tokens",
            str(self._max_input_tokens(spec)),
        ]
        # runtime.parallel caps the sequences in one batch; the rest wait in TGI's queue.
        # TGI 3.3.7 launcher/src/main.rs:757-760 (`--max-batch-size`, passed to the router at
        # main.rs:1910-1913); backends/v3/src/backend.rs:197-198 admits at most
        # max_batch_size - batch_size new entries per step, and queue.rs:397 closes the batch at
        # that size, leaving the others queued (backend.rs:175-184: a model that chunks its
        # prefill ignores it and is bounded by the token budgets instead, still queueing the
        # rest). --max-concurrent-requests (main.rs:645-649,
        # default 128) is a different limit: router/src/infer/mod.rs:84,111-119 refuses every
        # request beyond it (HTTP 429, server.rs:2408), so it must not be `parallel`.
        args += ["--max-batch-size", str(rt.parallel)]
        if (limit := self.concurrent_requests(rt.parallel)) != TGI_CONCURRENT_REQUESTS:
            args += ["--max-concurrent-requests", str(limit)]
        if rt.batch_size is not None:
            args += ["--max-batch-prefill-tokens", str(rt.batch_size)]
        if rt.gpus > 0:
            # Unset, TGI shards across every visible device: gpus: 1 means one shard.
            args += ["--num-shard", str(rt.gpus)]
        if rt.gpu_memory_fraction is not None and rt.gpus > 0:
            args += ["--cuda-memory-fraction", str(rt.gpu_memory_fraction)]
        if rt.dtype in ("float16", "bfloat16"):
            args += ["--dtype", rt.dtype]
        if rt.enforce_eager and rt.gpus > 0:
            args += ["--cuda-graphs", "0"]
        return args

    @staticmethod
    def concurrent_requests(parallel: int) -> int:
        """Requests TGI admits (running + queued) before it answers 429.

        TGI's own default (128), raised to twice `parallel` for large batches, so a burst of
        a few batches' worth waits in the queue instead of being refused.
        """
        return max(TGI_CONCURRENT_REQUESTS, 2 * parallel)

    @staticmethod
    def _max_input_tokens(spec: Spec) -> int:
        given = spec.runtime.max_input_tokens
        return given if given is not None else spec.runtime.context_length - 1

    def served_name(self, spec: Spec) -> str:
        # TGI has no rename flag: /v1/models reports the --model-id string.
        return spec.model.path or spec.model.id or ""

    def image(self, spec: Spec) -> tuple[str, str]:
        repository = "ghcr.io/huggingface/text-generation-inference"
        return (repository, self.version if spec.runtime.gpus > 0 else f"{self.version}-intel-cpu")

    def environment(self, spec: Spec) -> dict[str, str]:
        if spec.runtime.gpus == 0 and spec.runtime.threads is not None:
            return {"OMP_NUM_THREADS": str(spec.runtime.threads)}
        return {}

    def entrypoint_splits(self, spec: Spec) -> bool:
        # The GPU image's tgi-entrypoint.sh runs `exec text-generation-launcher $@` unquoted
        # (Dockerfile v3.3.7); the intel-cpu image starts the launcher directly.
        return spec.runtime.gpus > 0

    def shm_size(self, spec: Spec) -> str | None:
        # NCCL between shards needs more than Docker's 64 MB default /dev/shm.
        return "1g" if spec.runtime.gpus > 0 else None

    def config_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found = world_size_rule(self, spec, config)
        found += self._name_rules(spec)
        found += self._token_rules(config)
        found += self._quantize_rules(spec, config)
        found += self._launcher_rules(spec, config)
        return found

    def _launcher_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        """TGI's launcher and router argument checks (launcher/src/main.rs, router/src).

        The same in 3.0.2 to 3.3.7 but for --prometheus-port, which only 3.3.7 has.
        """
        found: list[Diagnostic] = []
        # --max-batch-size must be > 0 too (backends/v3/src/main.rs:143-149): it is
        # runtime.parallel, at least 1, and a repeat in extra_args is refused.
        setting = config.given("--validation-workers")
        if setting is not None and setting.as_int() == 0:
            found.append(
                error(
                    setting.origin.path,
                    "`validation_workers` must be > 0",
                    "give --validation-workers 1 or more",
                )
            )
        if (length := config.given("--max-input-length")) is not None:
            # main.rs:2100-2106: the deprecated spelling of --max-input-tokens, which llmgen
            # always renders; both set is an error.
            found.append(
                error(
                    length.origin.path,
                    "'--max-input-length' is already set by runtime.max_input_tokens "
                    "(TGI's --max-input-tokens)",
                    "set runtime.max_input_tokens instead",
                )
            )
        if (ngrok := config.given("--ngrok")) is not None and ngrok.value == "true":
            found.append(
                error(
                    ngrok.origin.path,
                    f"TGI {self.version} cannot tunnel through ngrok "
                    "(its router panics with --ngrok)",
                    "remove --ngrok; publish the port through your own proxy",
                )
            )
        if (lora := config.given("--lora-adapters")) is not None:
            for item in lora.value.split(","):
                if "=" not in item and item.count("@") > 1:
                    found.append(
                        error(
                            _value_path(lora),
                            f"Invalid LoRA adapter format: {item}",
                            "write id, id@revision or name=/path per adapter",
                        )
                    )
        found += self._prometheus_rules(spec, config)
        return found

    def _prometheus_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        # 3.3.7 router/src/server.rs:1970-1991: the router also binds --prometheus-port (9000)
        # on --hostname, so it must differ from the API port. Up to 3.2.3 there is no such
        # flag (its table lacks it, so `config.get` finds nothing) and the metrics are a
        # route of the API port (3.0.2 server.rs:2344).
        metrics = config.get("--prometheus-port")
        port = metrics.as_int() if metrics else None
        if metrics is None or port != spec.server.port:
            return []
        if metrics.explicit:
            return [
                error(
                    metrics.origin.path,
                    f"{metrics.shown()} is server.port: the router binds both",
                    "give --prometheus-port another port",
                )
            ]
        return [
            error(
                "server.port",
                f"{port} is TGI's --prometheus-port (default), which the router binds too",
                "use another server.port, or give --prometheus-port another port in extra_args",
            )
        ]

    def _name_rules(self, spec: Spec) -> list[Diagnostic]:
        model_string = spec.model.path or spec.model.id or ""
        if spec.model.served_name and spec.model.served_name != model_string:
            return [
                error(
                    "model.served_name",
                    "TGI cannot rename a model: /v1/models reports the "
                    f"--model-id string '{model_string}'",
                    "remove model.served_name",
                )
            ]
        return []

    def _token_rules(self, config: EffectiveConfig) -> list[Diagnostic]:
        # launcher/src/main.rs (3.0.2 to 3.3.7): max_input_tokens < max_total_tokens <=
        # max_batch_total_tokens, and max_batch_prefill_tokens >= max_input_tokens unless
        # the model chunks its prefill.
        found: list[Diagnostic] = []
        total = config.int_value("--max-total-tokens")
        max_input = config.int_value("--max-input-tokens")
        if total is None or max_input is None:
            return found
        if max_input >= total:
            found.append(
                error(
                    config.path_of("--max-input-tokens"),
                    f"TGI needs max_input_tokens ({max_input}) < max_total_tokens ({total})",
                    f"set runtime.max_input_tokens to {total - 1} or lower",
                )
            )
        prefill = config.given("--max-batch-prefill-tokens")
        prefill_tokens = prefill.as_int() if prefill else None
        if prefill is not None and prefill_tokens is not None and prefill_tokens < max_input:
            found.append(
                warning(
                    prefill.origin.path,
                    f"max_batch_prefill_tokens ({prefill_tokens}) < max_input_tokens "
                    f"({max_input}): TGI refuses to start unless prefill chunking is on for "
                    "this model",
                    f"set runtime.batch_size to {max_input} or more",
                )
            )
        batch_total = config.given("--max-batch-total-tokens")
        batch_total_tokens = batch_total.as_int() if batch_total else None
        if (
            batch_total is not None
            and batch_total_tokens is not None
            and batch_total_tokens < total
        ):
            found.append(
                error(
                    batch_total.origin.path,
                    "`max_total_tokens` must be <= `max_batch_total_tokens` "
                    f"({total} from runtime.context_length, {batch_total_tokens})",
                    f"raise --max-batch-total-tokens to {total} or more, or lower "
                    "runtime.context_length",
                )
            )
        if (
            batch_total_tokens is not None
            and prefill_tokens is not None
            and prefill_tokens > batch_total_tokens
        ):
            found.append(
                error(
                    config.path_of("--max-batch-prefill-tokens"),
                    "`max_batch_prefill_tokens` must be <= `max_batch_total_tokens` "
                    f"({prefill_tokens}, {batch_total_tokens})",
                    f"set runtime.batch_size to {batch_total_tokens} or lower",
                )
            )
        return found

    def _quantize_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        dtype = config.given("--dtype")
        quantize = config.given("--quantize")
        if spec.runtime.dtype == "float32":
            found.append(
                error(
                    "runtime.dtype",
                    "TGI accepts float16 or bfloat16 only",
                    "use float16, bfloat16 or auto",
                )
            )
        if quantize and dtype and not quantize.value.startswith("bitsandbytes"):
            found.append(
                error(
                    config.path_of("--dtype"),
                    f"TGI refuses --dtype together with --quantize {quantize.value}",
                    "set runtime.dtype to auto",
                )
            )
        shards = config.int_value("--num-shard") or 1
        if quantize and quantize.value == "exl2" and shards > 1:
            found.append(
                error("runtime.gpus", "exl2 models cannot be sharded", "set runtime.gpus to 1")
            )
        sharded = config.given("--sharded")
        if sharded is not None and sharded.value == "true" and shards <= 1:
            found.append(
                error(
                    sharded.origin.path,
                    f"{sharded.shown()} needs more than one shard",
                    "set runtime.gpus to 2 or more, or drop --sharded",
                )
            )
        return found

    def forbidden_extra_arg(self, arg: str, path: str) -> list[Diagnostic]:
        # `-p` is ambiguous only where --prometheus-port exists and takes it too (3.3.7
        # launcher/src/main.rs:773 and 777); up to 3.2.3 it is --port's alone (3.0.2
        # main.rs:745), which server.port already renders.
        if arg == "-p" and self._prometheus_takes_dash_p():
            # the parser passes the spelling, `-p=9001` already split
            return [
                error(
                    path,
                    "'-p' is ambiguous in TGI: it sets both --port and --prometheus-port",
                    "use server.port, or --prometheus-port",
                )
            ]
        return []

    def _prometheus_takes_dash_p(self) -> bool:
        """Whether this release's --prometheus-port (added after 3.2.3) is spelt `-p` too."""
        flag = self.flag_table.lookup("--prometheus-port")
        return flag is not None and "-p" in flag.aliases


def _value_path(setting: Setting) -> str:
    """The extra_args item holding a setting's value (`--x v` puts it one item later)."""
    path = setting.origin.path
    if "=" in setting.spelling or not path.startswith("runtime.extra_args."):
        return path
    return f"runtime.extra_args.{int(path.rsplit('.', 1)[1]) + 1}"
