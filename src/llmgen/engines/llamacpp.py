"""llama.cpp's `llama-server`, build b11434."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, ClassVar

from llmgen.engines.base import Engine
from llmgen.engines.effective import EffectiveConfig
from llmgen.errors import Diagnostic, error, warning
from llmgen.facts.model import ModelFacts

if TYPE_CHECKING:
    from llmgen.spec.models import Spec

MAX_SLOTS = 256
_KV_TYPES = ("int", "float", "bool", "str")
LARGE_KV_TOKENS = 262_144


def _names_flag(words: list[str], names: tuple[str, ...]) -> bool:
    # common/arg.cpp reads '_' as '-' in `--` arguments.
    return any(word.replace("_", "-") in names for word in words)


# The first known build whose --repeat-penalty parser refuses values <= 0 (common/arg.cpp).
_REPEAT_PENALTY_CHECKED_FROM = 10441


class LlamaCppEngine(Engine):
    """llama-server: GGUF models, context split across slots, 503 while loading."""

    key = "llamacpp"
    title = "llama.cpp"
    executable = "llama-server"
    readiness = "503-while-loading"
    api_key_var = "LLAMA_API_KEY"
    install_recipe = (
        "build llama-server from llama.cpp {version} (cmake --build build --target "
        "llama-server), or put an existing llama-server on PATH"
    )
    # b11434 tools/server/server-http.cpp: with a key only /health, /v1/health and the web UI's
    # assets stay open (/v1/models needs the key, unlike older builds).
    open_routes = ("/health", "/v1/health", "/ (web UI)")
    cache_volume = ("llmgen-hf-cache", "/root/.cache/huggingface")
    # b11434 common/hf-cache.cpp:38-44: LLAMA_CACHE is the hub folder itself and wins over
    # HF_HOME and HOME; HOME=/tmp gives the user-run server a writable home in the image.
    host_user_cache = ("/hf-cache", (("HOME", "/tmp"), ("LLAMA_CACHE", "/hf-cache/hub")))
    # A source tarball built without -DLLAMA_BUILD_NUMBER prints "version: 0.6.0-dev (build 0,
    # commit unknown)": cmake/build-info.cmake:1-2 default BUILD_NUMBER 0 and BUILD_COMMIT
    # "unknown" outside a git checkout; common/build-info.cpp.in:33 prints them.
    unknown_versions = ("b0",)
    start_period_s = 300
    model_kind = "gguf"
    context_flag = "--ctx-size"
    context_overflow = "llama.cpp warns and quality degrades"
    image_cuda = (12, 8)  # ggml-org/llama.cpp .devops/cuda.Dockerfile
    image_cuda_read_at = "b11434"
    # llama-server b11434 built from the PyPI sdist: "version: 0.6.0-dev (build 11434, commit
    # unknown)"; from a git checkout: "version: 11434 (<commit>)" -> b11434
    version_pattern = r"\bbuild (\d+)|version:\s*(\d+)\s*\("
    version_spelling = "b{}"
    starter_model = "HuggingFaceTB/SmolLM2-360M-Instruct-GGUF:Q8_0"
    multinode = "rpc"
    # common/arg.cpp (b11434): '_' becomes '-' in `--` arguments, and there is no `--x=v` form.
    underscore_spellings = True
    equals_values = False
    # Across hosts the head gets `--rpc` from LLMGEN_RPC_SERVERS (llmgen.render.multinode).
    node_flags = ("--rpc",)
    spec_fields: ClassVar[dict[str, str]] = {
        "--model": "model.path",
        "--hf-repo": "model.id",
        "--alias": "model.served_name",
        "--host": "server.host",
        "--port": "server.port",
        "--ctx-size": "runtime.context_length",
        "--parallel": "runtime.parallel",
        "--batch-size": "runtime.batch_size",
        "--threads": "runtime.threads",
        "--gpu-layers": "runtime.gpu_layers",
        "--device": "runtime.gpus",
    }
    llmgen_notes: ClassVar[dict[str, str]] = {
        "--fit": "the spec pins context and layers; --fit on would shrink them to fit memory",
    }
    route_flags: ClassVar[dict[str, str]] = {
        "--api-prefix": "moves every route under a prefix",
        "--ssl-key-file": "switches the server to HTTPS",
        "--ssl-cert-file": "switches the server to HTTPS",
    }
    unsupported: ClassVar[dict[str, str]] = {
        "gpu_memory_fraction": "it fits layers to memory itself (--fit-target sets the margin)",
        "kv_cache_memory": "the KV cache follows context_length x parallel",
        "enforce_eager": "there is no graph capture to turn off",
        "max_input_tokens": "the prompt limit follows context_length",
        "dtype": "the weights' types come from the GGUF file",
    }

    def serve_args(self, spec: Spec, bind_host: str) -> list[str]:
        rt = spec.runtime
        if spec.model.path is not None:
            args = ["--model", spec.model.path]
        else:
            args = ["--hf-repo", spec.model.id or ""]
        args += ["--alias", self.served_name(spec)]
        args += ["--host", bind_host, "--port", str(spec.server.port)]
        # --ctx-size is shared by all slots: give every slot the full context_length.
        args += ["--ctx-size", str(rt.context_length * rt.parallel), "--parallel", str(rt.parallel)]
        if rt.batch_size is not None:
            args += ["--batch-size", str(rt.batch_size)]
        if rt.threads is not None:
            args += ["--threads", str(rt.threads)]
        args += ["--gpu-layers", str(self._gpu_layers(spec))]
        # Without --device llama-server uses every visible GPU, and a CUDA build offloads work
        # even with --gpu-layers 0: gpus: N selects exactly N devices, 0 selects none.
        args += ["--device", ",".join(self._devices(rt.gpus)) or "none"]
        # The spec pins context and layers: --fit (on by default) would silently shrink them.
        args += ["--fit", "off"]
        # llama-server's prompt cache (common/common.h: cache_ram_mib = 8192 MiB by default)
        # keeps one saved KV state per distinct conversation and grows with traffic up to that
        # limit (tools/server/server-task.cpp, server_prompt_cache::alloc), which a pod sized
        # for the model alone does not survive. 0 turns it off (tools/server/server-context.cpp:
        # `cache_ram_mib != 0` creates it); `extra_args: [--cache-ram, N]` sets a bound that
        # fit and the pod's memory then count (docs/fit.md).
        if not _names_flag(rt.extra_args, ("--cache-ram", "-cram")):
            args += ["--cache-ram", "0"]
        return args

    @staticmethod
    def _gpu_layers(spec: Spec) -> int | str:
        if spec.runtime.gpu_layers is not None:
            return spec.runtime.gpu_layers
        return "all" if spec.runtime.gpus > 0 else 0

    def served_name(self, spec: Spec) -> str:
        if spec.model.served_name:
            return spec.model.served_name
        if spec.model.id:
            return spec.model.id.split(":", 1)[0]
        return posixpath.basename(spec.model.path or "")

    def image(self, spec: Spec) -> tuple[str, str]:
        flavour = "server-cuda" if spec.runtime.gpus > 0 else "server"
        return ("ghcr.io/ggml-org/llama.cpp", f"{flavour}-{self.version}")

    def container_user(self, spec: Spec) -> str | None:
        # A mounted local GGUF needs no writable cache, so the server can run unprivileged.
        return "65532:65532" if spec.model.path is not None else None

    def duplicate_hint(self, flag: str) -> str:
        if flag in ("--ctx-size", "--parallel"):
            return (
                "llama.cpp splits --ctx-size across --parallel slots; llmgen renders "
                "--ctx-size = runtime.context_length x runtime.parallel, so set those two"
            )
        return super().duplicate_hint(flag)

    def context_per_sequence(self, spec: Spec, config: EffectiveConfig) -> int:
        """--ctx-size is shared by the --parallel slots: one sequence gets its share."""
        ctx, slots = config.int_value("--ctx-size"), config.int_value("--parallel") or 1
        return ctx // slots if ctx else spec.runtime.context_length

    def facts_rules(
        self, spec: Spec, config: EffectiveConfig, facts: ModelFacts
    ) -> list[Diagnostic]:
        """--gpu-layers beyond the model's layers, and slots too small for --n-predict."""
        return _gpu_layers_rule(config, facts) + _slot_rule(config)

    def config_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        rt = spec.runtime
        found: list[Diagnostic] = []
        slots = config.int_value("--parallel")
        if slots is not None and not 1 <= slots <= MAX_SLOTS:
            found.append(
                error(
                    config.path_of("--parallel"),
                    f"llama-server accepts 1 to {MAX_SLOTS} slots (--parallel), not {slots}",
                    f"set runtime.parallel to {MAX_SLOTS} or lower",
                )
            )
        total = rt.context_length * rt.parallel
        if total > LARGE_KV_TOKENS:
            found.append(
                warning(
                    "runtime.context_length",
                    f"llama.cpp splits --ctx-size across slots, so llmgen asks for {total} tokens of "
                    f"KV cache ({rt.context_length} x {rt.parallel} slots)",
                    "lower runtime.parallel or runtime.context_length if memory is short",
                )
            )
        if config.enabled("--kv-unified"):
            found.append(
                warning(
                    config.path_of("--kv-unified"),
                    "with --kv-unified all slots share one --ctx-size pool, "
                    "so a long request can starve the others",
                    "drop --kv-unified",
                )
            )
        if rt.gpus == 0 and rt.gpu_layers not in (None, 0):
            found.append(
                error(
                    "runtime.gpu_layers",
                    "offloading layers needs a GPU, but runtime.gpus is 0",
                    "set runtime.gpus to 1 or gpu_layers to 0",
                )
            )
        if spec.model.revision is not None:
            found.append(
                error(
                    "model.revision",
                    "llama.cpp has no revision flag; it always downloads from main",
                    "pin a file with model.path instead",
                )
            )
        found += self._device_rules(spec, config)
        found += self._value_rules(config)
        return found

    def _repeat_penalty_problem(self, path: str) -> Diagnostic:
        """A --repeat-penalty of 0 or less (or infinite): refused from b10441, taken before.

        common/arg.cpp refuses it from b10441 on ("repeat-penalty must be finite and greater
        than 0"; b11434 arg.cpp:2096-2100); b9444 and b9934 parse it with a bare std::stof
        (b9444 arg.cpp:1717-1723) and the server starts, dividing logits by it when sampling.
        """
        fix = "give --repeat-penalty a value above 0 (1.0 turns it off)"
        if self.build_number() >= _REPEAT_PENALTY_CHECKED_FROM:
            return error(path, "repeat-penalty must be finite and greater than 0", fix)
        return warning(
            path,
            f"{self.title} {self.version} starts with this repeat-penalty, but sampling divides "
            f"by it, and builds from b{_REPEAT_PENALTY_CHECKED_FROM} on refuse it",
            fix,
        )

    def build_number(self) -> int:
        """The build number of this adapter's version (b11434 -> 11434)."""
        return int(self.version.removeprefix("b"))

    def _value_rules(self, config: EffectiveConfig) -> list[Diagnostic]:
        found: list[Diagnostic] = []
        cache_v = config.given("--cache-type-v")
        quantized = cache_v is not None and cache_v.value not in ("f32", "f16", "bf16")
        if cache_v is not None and quantized and config.get_value("--flash-attn") == "off":
            # src/llama-context.cpp (b11434): "quantized V cache requires flash_attn".
            found.append(
                error(
                    cache_v.origin.path,
                    f"a quantized V cache ({cache_v.value}) needs flash attention, "
                    "but --flash-attn is off",
                    "drop --flash-attn off (auto turns it on), or use --cache-type-v f16",
                )
            )
        penalty = config.given("--repeat-penalty")
        if penalty is not None:
            try:
                ok = 0 < float(penalty.value) < float("inf")
            except ValueError:
                ok = True  # the type check already reported it
            if not ok:
                found.append(self._repeat_penalty_problem(penalty.origin.path))
        batch = config.given("--batch-size")
        if batch is not None and batch.as_int() == 0:
            # The logical batch is min(n_ctx, n_batch) (src/llama-context.cpp:248 at b11434,
            # :181 at b9444), so 0 leaves no room for one token: llama-server aborts at start
            # on a GGML_ASSERT (b11434 :2275, b9444 :2225; both seen here).
            found.append(
                error(
                    batch.origin.path,
                    "llama-server aborts at start with a batch size of 0 (GGML_ASSERT)",
                    "give --batch-size 1 or more, or set runtime.batch_size instead",
                )
            )
        override = config.given("--override-kv")
        for item in override.value.split(",") if override else []:
            key, _, rest = item.partition("=")
            kind = rest.split(":", 1)[0]
            if override and (not key or ":" not in rest or kind not in _KV_TYPES):
                found.append(
                    error(
                        override.origin.path,
                        f"Invalid type for KV override: {item}",
                        "write KEY=TYPE:VALUE with TYPE int, float, bool or str",
                    )
                )
        return found

    def _device_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        # gpus: N means N devices; llmgen renders --device for it, so a --tensor-split or
        # --main-gpu in extra_args must stay within those N.
        found: list[Diagnostic] = []
        gpus = spec.runtime.gpus
        split = config.given("--tensor-split")
        if split is not None:
            parts = [p for p in split.value.replace("/", ",").split(",") if p]
            if gpus == 0 or len(parts) > gpus:
                found.append(
                    error(
                        split.origin.path,
                        f"{split.shown()} names {len(parts)} devices, but runtime.gpus is {gpus}",
                        "give at most runtime.gpus proportions, or set runtime.gpus",
                    )
                )
        main = config.given("--main-gpu")
        index = main.as_int() if main else None
        if main is not None and index is not None and index >= max(gpus, 1):
            found.append(
                error(
                    main.origin.path,
                    f"{main.shown()} is outside the {gpus} devices runtime.gpus selects "
                    f"({', '.join(self._devices(gpus)) or 'none'})",
                    "use an index below runtime.gpus, or set runtime.gpus",
                )
            )
        return found

    @staticmethod
    def _devices(gpus: int) -> list[str]:
        # The GPU image is a CUDA build, whose devices are CUDA0, CUDA1, ...
        return [f"CUDA{index}" for index in range(gpus)]


def _gpu_layers_rule(config: EffectiveConfig, facts: ModelFacts) -> list[Diagnostic]:
    setting = config.get("--gpu-layers")
    if setting is None or not setting.value.isdigit() or facts.layers is None:
        return []
    asked, most = int(setting.value), facts.layers + 1
    if asked <= most:
        return []
    return [
        warning(
            config.path_of("--gpu-layers"),
            f"the model has {facts.layers} layers plus the output layer; gpu_layers {asked} "
            f"offloads the same {most} (llama.cpp caps it)",
            f"set {config.field_for('--gpu-layers')} to {most} or 'all'",
        )
    ]


def _slot_rule(config: EffectiveConfig) -> list[Diagnostic]:
    ctx, slots = config.int_value("--ctx-size"), config.int_value("--parallel")
    predict = config.int_value("--predict")
    if not ctx or not slots or config.enabled("--kv-unified"):
        return []
    per_slot = -(-(-(-ctx // 256) * 256 // slots) // 256) * 256
    if predict is not None and predict > per_slot:
        return [
            warning(
                config.path_of("--predict"),
                f"each of the {slots} slots holds {per_slot} tokens (--ctx-size {ctx} split "
                f"across --parallel {slots}), fewer than --n-predict {predict}",
                "raise runtime.context_length or lower --n-predict",
            )
        ]
    return []
