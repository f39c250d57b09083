"""Hugging Face Text Generation Inference 3.3 (`text-generation-launcher`)."""

from __future__ import annotations

from typing import ClassVar

from llmgen.engines.base import Engine
from llmgen.errors import Diagnostic, error, warning
from llmgen.spec import Spec


class TgiEngine(Engine):
    """TGI's launcher; the model name it reports is the --model-id string itself."""

    key = "tgi"
    title = "TGI"
    version = "3.3.7"
    executable = "text-generation-launcher"
    flag_table_file = "tgi-3.3.7-flags.tsv"
    readiness = "refused-while-loading"
    api_key_var = "API_KEY"
    install_hint = (
        "TGI ships no pip package for the launcher: build it from the TGI source "
        "release 3.3.7, or use docker-run.sh"
    )
    open_routes = ("/health", "/info", "/metrics", "/v1/models")
    cache_volume = ("llmgen-tgi-data", "/data")
    model_kind = "hf"
    shards_split_heads = True
    unsupported: ClassVar[dict[str, str]] = {
        "gpu_layers": "it keeps every layer on the GPUs",
        "kv_cache_memory": "it sizes the KV cache from free memory",
    }

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
            "--max-concurrent-requests",
            str(rt.parallel),
        ]
        if rt.batch_size is not None:
            args += ["--max-batch-prefill-tokens", str(rt.batch_size)]
        if rt.gpus > 1:
            args += ["--num-shard", str(rt.gpus)]
        if rt.gpu_memory_fraction is not None and rt.gpus > 0:
            args += ["--cuda-memory-fraction", str(rt.gpu_memory_fraction)]
        if rt.dtype in ("float16", "bfloat16"):
            args += ["--dtype", rt.dtype]
        if rt.enforce_eager and rt.gpus > 0:
            args += ["--cuda-graphs", "0"]
        return args

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

    def shm_size(self, spec: Spec) -> str | None:
        # NCCL between shards needs more than Docker's 64 MB default /dev/shm.
        return "1g" if spec.runtime.gpus > 0 else None

    def engine_checks(self, spec: Spec) -> list[Diagnostic]:
        rt = spec.runtime
        found: list[Diagnostic] = []
        model_string = spec.model.path or spec.model.id or ""
        if spec.model.served_name and spec.model.served_name != model_string:
            found.append(
                error(
                    "model.served_name",
                    "TGI cannot rename a model: /v1/models reports the "
                    f"--model-id string '{model_string}'",
                    "remove model.served_name",
                )
            )
        max_input = self._max_input_tokens(spec)
        if max_input >= rt.context_length:
            found.append(
                error(
                    "runtime.max_input_tokens",
                    f"TGI needs max_input_tokens ({max_input}) < max_total_tokens "
                    f"({rt.context_length})",
                    f"set runtime.max_input_tokens to {rt.context_length - 1} or lower",
                )
            )
        if rt.batch_size is not None and rt.batch_size < max_input:
            found.append(
                warning(
                    "runtime.batch_size",
                    f"max_batch_prefill_tokens ({rt.batch_size}) < max_input_tokens ({max_input}): "
                    "TGI refuses to start unless prefill chunking is on for this model",
                    f"set runtime.batch_size to {max_input} or more",
                )
            )
        if rt.dtype == "float32":
            found.append(
                error(
                    "runtime.dtype",
                    "TGI accepts float16 or bfloat16 only",
                    "use float16, bfloat16 or auto",
                )
            )
        found += self._quantize_checks(spec)
        return found

    def _quantize_checks(self, spec: Spec) -> list[Diagnostic]:
        extra = list(spec.runtime.extra_args)
        quantize = _value_of(extra, "--quantize")
        found: list[Diagnostic] = []
        if quantize and spec.runtime.dtype != "auto" and not quantize.startswith("bitsandbytes"):
            found.append(
                error(
                    "runtime.dtype",
                    f"TGI refuses --dtype together with --quantize {quantize}",
                    "set runtime.dtype to auto",
                )
            )
        if quantize == "exl2" and spec.runtime.gpus > 1:
            found.append(
                error("runtime.gpus", "exl2 models cannot be sharded", "set runtime.gpus to 1")
            )
        if _value_of(extra, "--sharded") == "true" and spec.runtime.gpus <= 1:
            found.append(
                error(
                    "runtime.extra_args",
                    "--sharded true needs more than one shard",
                    "set runtime.gpus to 2 or more, or drop --sharded",
                )
            )
        return found

    def forbidden_extra_arg(self, arg: str, path: str) -> list[Diagnostic]:
        if arg.split("=", 1)[0] == "-p":
            return [
                error(
                    path,
                    "'-p' is ambiguous in TGI: it sets both --port and --prometheus-port",
                    "use server.port, or --prometheus-port",
                )
            ]
        return []


def _value_of(args: list[str], flag: str) -> str | None:
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
