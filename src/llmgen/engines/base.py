"""The engine adapter interface and the LaunchPlan every adapter produces.

An adapter is the only place that knows an engine's flags, images, health contract and
quirks. Templates never ask which engine they render for: everything that differs reaches
them as a value on the plan.
"""

from __future__ import annotations

import ipaddress
import json
import posixpath
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import field
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Literal

from llmgen.engines.effective import (
    EffectiveConfig,
    EngineDefaults,
    ParserRules,
    Word,
    parse_argv,
)
from llmgen.engines.flags import FlagTable, load_flag_table
from llmgen.engines.policy import host_address, policy_checks
from llmgen.engines.registry import newest_version, version_order
from llmgen.engines.unit import UnitSettings, unit_settings
from llmgen.errors import Diagnostic, error, warning
from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.facts.model import ModelFacts
    from llmgen.spec.models import Spec


def renamed_or_model_string(spec: Spec) -> str:
    """The served name of an engine that serves `--served-model-name` when given, else the hub id
    exactly, else the model folder's name (vLLM and SGLang alike)."""
    if spec.model.served_name:
        return spec.model.served_name
    if spec.model.id:
        return spec.model.id
    return posixpath.basename((spec.model.path or "").rstrip("/"))


Readiness = Literal["refused-while-loading", "503-while-loading"]

CONTAINER_BIND_HOST = "0.0.0.0"  # inside a container the port mapping decides who can reach it

# Flags whose value is a secret: in extra_args the secret would be written into every generated
# file. Secrets travel by variable name only (server.api_key_env, HF_TOKEN).
SECRET_FLAGS = {
    "--api-key": "set server.api_key_env to the name of the variable that holds the key",
    "--hf-token": "export HF_TOKEN instead; the generated files pass it through by name",
    "--ngrok-authtoken": "pass NGROK_AUTHTOKEN in the environment instead",
}


@record
class ClientLimit:
    """A client value the engine's API refuses on every request, narrower than OpenAI's range."""

    field: str  # the client section's field, e.g. top_p
    refuses: Callable[[float], bool]
    message: str
    fix: str


@record
class MemoryFlags:
    """The flags that decide a Hugging Face engine's memory, as fit's estimator reads them."""

    tensor_parallel: str
    context: str
    sequences: str
    batched_tokens: str
    batched_tokens_default: int  # the engine's own default when the flag is not given
    memory_fraction: str
    kv_cache_bytes: str | None = None  # a fixed KV cache size, where the engine has one
    eager: str | None = None  # no CUDA graphs
    # On CPU without a fixed KV size the engine takes memory_fraction x the RAM for its cache.
    cpu_kv_takes_ram_share: bool = False


@record
class SecretRef:
    """An environment variable the engine reads, filled from a variable the user names."""

    engine_var: str  # what the engine reads, e.g. LLAMA_API_KEY
    source_var: str  # what the user sets, e.g. LLM_API_KEY
    required: bool  # the launch fails early when a required secret is unset


@record
class Volume:
    """A container mount: a named volume (cache) or a host path (local model, read-only)."""

    source: str
    target: str
    read_only: bool
    named: bool
    host_path_type: str = "Directory"  # Kubernetes hostPath type: "File" for a GGUF file


@record
class Rendezvous:
    """How the nodes of a "ranks" replica meet: `address_flag HOST:port` names rank 0's host
    on every node, `rank_flag N` each node's rank (0 serves the HTTP API)."""

    address_flag: str
    rank_flag: str
    port: int


# eq=False: compared by identity. Nothing compares or hashes two of these by value, and the
# generated __eq__ and __hash__ of a record this wide cost about 1 % of `llmgen render` to
# compile at import (docs/benchmarks.md).
@record(eq=False)
class LaunchPlan:
    """How one engine runs one spec: everything the templates need, and nothing else."""

    engine: str
    engine_title: str
    engine_version: str
    executable: str  # binary looked up on PATH by launch.sh
    unit_executable: str  # absolute path used by the systemd unit
    subcommand: tuple[str, ...]  # words between the executable and the arguments
    args: tuple[str, ...]  # native arguments, one list item per argv entry
    container_args: tuple[str, ...]  # arguments after the image's own entrypoint
    env: tuple[tuple[str, str], ...]  # non-secret environment, sorted
    container_env: tuple[tuple[str, str], ...]
    secrets: tuple[SecretRef, ...]
    image: str
    host: str
    port: int
    client_host: str  # where a client on the same machine connects
    published_host: str  # the host part of `docker run -p HOST:PORT:PORT`
    health_path: str
    readiness: Readiness
    served_name: str
    volumes: tuple[Volume, ...]
    gpus: int
    shm_size: str | None
    container_user: str | None
    healthcheck: tuple[str, ...]  # exec-form command run inside the container
    start_period_s: int  # how long loading may take before health failures count
    install_hint: str
    open_routes: tuple[str, ...]  # routes the engine leaves open even with an API key
    api_key_env: str | None
    unit_cache_dirs: tuple[tuple[str, str], ...]  # variable -> folder under the unit's cache
    config: EffectiveConfig  # the effective configuration the rules read
    diagnostics: tuple[Diagnostic, ...] = field(default=())
    unit: UnitSettings | None = None  # the systemd unit's sandbox choices
    # (flag, variable): a secret a Python engine reads only from its command line. Never on a
    # command line (every user of the host reads those: ps, /proc/PID/cmdline): the launchers
    # run the engine's Python on `secret_program`, which appends each flag and the variable's
    # value to sys.argv inside the process, then calls `python_entry` (module:function, what
    # the engine's console script calls), so the secret stays in the environment.
    secret_flags: tuple[tuple[str, str], ...] = ()
    python_entry: str | None = None
    # Where the engine publishes no image for this spec: the shell command that builds
    # `image` from the engine's own recipe (the container files say it; docker-run.sh checks).
    image_build: str | None = None

    @property
    def secret_program(self) -> str | None:
        """`python -c` program that starts the engine with the secret flags added in process."""
        if not self.secret_flags or self.python_entry is None:
            return None
        module, function = self.python_entry.split(":")
        # Double-quoted literals (json.dumps of ASCII names): the shell wraps it in single quotes.
        added = ", ".join(
            f"{json.dumps(flag)}, os.environ[{json.dumps(var)}]" for flag, var in self.secret_flags
        )
        return (
            f"import os, sys; sys.argv[0] = {json.dumps(self.executable)}; sys.argv += [{added}]; "
            f"from {module} import {function}; sys.exit({function}())"
        )

    @property
    def python_package(self) -> str:
        """The top-level package the engine's Python must import (launchers check it)."""
        return (self.python_entry or "").split(".")[0].split(":")[0]

    @property
    def unit_python(self) -> str:
        """The systemd unit's Python: the one beside the engine's executable (its venv's)."""
        return posixpath.join(posixpath.dirname(self.unit_executable), "python3")

    @property
    def argv(self) -> tuple[str, ...]:
        """The full native command line, executable first."""
        return (self.executable, *self.subcommand, *self.args)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL a local client uses."""
        return f"http://{self.client_host}:{self.port}/v1"


@lru_cache(maxsize=256)
def client_host_for(bind_host: str) -> str:
    """The address a client on the same machine uses to reach a server bound to `bind_host`."""
    address = host_address(bind_host)
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def is_loopback(host: str) -> bool:
    """Whether binding to `host` keeps the server reachable from this machine only."""
    return host_address(host).is_loopback


class Engine(ABC):
    """One serving engine. Subclasses fill the class constants and three hooks."""

    key: ClassVar[str]
    title: ClassVar[str]
    version: str  # the release this adapter judges and renders for (set per instance)
    executable: ClassVar[str]
    subcommand: ClassVar[tuple[str, ...]] = ()
    unsupported: ClassVar[dict[str, str]] = {}  # runtime field -> why this engine lacks it
    health_path: ClassVar[str] = "/health"
    readiness: ClassVar[Readiness]
    api_key_var: ClassVar[str]
    install_recipe: ClassVar[str]  # how to install it; {version} is this adapter's version
    open_routes: ClassVar[tuple[str, ...]]
    cache_volume: ClassVar[tuple[str, str]]  # (named volume, mount point in the image)
    # With `container.model_cache: host`: the container runs as the invoking user, with the
    # host's cache mounted at this path outside the image's root-only /root and this
    # environment pointing the engine at it (None: the image's own user and cache path).
    host_user_cache: ClassVar[tuple[str, tuple[tuple[str, str], ...]] | None] = None
    # Versions a build reports when it cannot tell its own (doctor: "cannot tell", not "old").
    unknown_versions: ClassVar[tuple[str, ...]] = ()
    # Cache variables the systemd unit points into its CacheDirectory (variable -> subfolder).
    unit_cache_dirs: ClassVar[tuple[tuple[str, str], ...]] = (("HF_HOME", "huggingface"),)
    start_period_s: ClassVar[int] = 600
    # Bytes of /dev/shm the CPU engine must find free at start-up (doctor checks it), or 0.
    cpu_shm_bytes: ClassVar[int] = 0
    # How a context_length beyond the model's trained maximum is judged: vLLM refuses to start.
    long_context_is_error: ClassVar[bool] = False
    shards_split_heads: ClassVar[bool] = False  # tensor parallel divides attention heads
    cpu_head_sizes: ClassVar[frozenset[int] | None] = None  # CPU attention kernels' limits
    model_kind: ClassVar[Literal["gguf", "hf"]]
    # How one replica spans several nodes (deploy.nodes > 1); recipes live in llmgen.render.multinode.
    multinode: ClassVar[Literal["ray", "rpc", "ranks"] | None] = None
    # Flags llmgen sets from deploy.nodes when a replica spans nodes: extra_args may not set
    # them then, and the device count of one node leaves them out.
    node_flags: ClassVar[tuple[str, ...]] = ()
    # The "ranks" recipe (every node runs the engine with its node rank; rank 0 serves HTTP):
    # the engine's own flags for the rank-0 address every node meets at and for the rank.
    rendezvous: ClassVar[Rendezvous | None] = None
    # Canonical flag -> the spec field that renders it: messages name the field to change.
    spec_fields: ClassVar[dict[str, str]] = {}
    # Flags llmgen renders with no spec field behind them -> why (shown by `llmgen explain`).
    llmgen_notes: ClassVar[dict[str, str]] = {}
    # Flags that move the HTTP routes, the socket or the scheme -> what they do.
    route_flags: ClassVar[dict[str, str]] = {}
    # Flags whose product is the number of devices the engine uses (tensor x pipeline x ...).
    parallel_flags: ClassVar[tuple[str, ...]] = ()
    underscore_spellings: ClassVar[bool] = False  # vLLM reads `--max_model_len` too
    equals_values: ClassVar[bool] = True  # whether `--flag=value` is one argument's spelling
    positional_field: ClassVar[str | None] = None  # spec field behind a leading positional
    # The flag that bounds one sequence's tokens, and what happens beyond the model's context.
    context_flag: ClassVar[str]
    context_overflow: ClassVar[str]
    context_limit_words: ClassVar[str] = "the trained context"
    shard_flag: ClassVar[str | None] = None  # the tensor-parallel flag, when heads are split
    client_limits: ClassVar[tuple[ClientLimit, ...]] = ()  # narrower than the OpenAI API's
    memory_flags: ClassVar[MemoryFlags | None] = None  # None: fit's GGUF estimator applies
    # CUDA version the pinned GPU image is built on (the nvidia/cuda base refuses older drivers).
    image_cuda: ClassVar[tuple[int, int]]
    image_cuda_read_at: ClassVar[str]  # the release whose Dockerfile image_cuda was read in
    # How `<executable> --version` reports the version: a regex (first non-empty group) and
    # how llmgen spells the pin from it.
    version_pattern: ClassVar[str]
    version_spelling: ClassVar[str] = "{}"
    version_args: ClassVar[tuple[str, ...]] = ("--version",)  # how the executable says it
    # Why `llmgen fit` gives no estimate for this engine (None: memory_flags or GGUF decide).
    fit_unknown: ClassVar[str | None] = None
    starter_model: ClassVar[str]  # `llmgen init`'s default model
    starter_lines: ClassVar[tuple[str, ...]] = ()  # runtime lines `llmgen init` writes
    names_served_model: ClassVar[bool] = True  # whether model.served_name can rename it

    def __init__(self, version: str | None = None) -> None:
        """The adapter at `version` (one llmgen ships a flag table for; None: the newest).

        Get adapters through llmgen.engines.engine_of / adapter, which check the version and
        keep one instance per engine and version.
        """
        self.version = version or newest_version(self.key)

    @property
    def flag_table_file(self) -> str:
        """This version's table under engines/data/flags/ (written from the engine's parser)."""
        return f"{self.key}-{self.version}-flags.tsv"

    @property
    def install_hint(self) -> str:
        """How to install this engine at this adapter's version."""
        return self.install_recipe.format(version=self.version)

    def kv_share(self) -> float:
        """The share of the memory left after warm-up that the KV blocks get (1.0: all; TGI
        keeps TGI_WIGGLE_ROOM of it, a default that moves between releases)."""
        return 1.0

    def at_least(self, version: str) -> bool:
        """Whether this adapter's version is `version` or newer (for behaviour that moved)."""
        return version_order(self.version) >= version_order(version)

    @property
    def loads_gguf(self) -> bool:
        """Whether the engine loads GGUF files (the facts lookup picks a repo's .gguf then)."""
        return self.model_kind == "gguf"

    @property
    def flag_table(self) -> FlagTable:
        """This engine version's flag table."""
        return load_flag_table(self.flag_table_file)

    # --- hooks -----------------------------------------------------------------------------

    @abstractmethod
    def serve_args(self, spec: Spec, bind_host: str) -> list[str]:
        """The engine arguments for `spec`, binding to `bind_host` (extra_args excluded)."""

    @abstractmethod
    def served_name(self, spec: Spec) -> str:
        """The model name the server reports in /v1/models and clients must send."""

    @abstractmethod
    def image(self, spec: Spec) -> tuple[str, str]:
        """The official image for this spec (CPU or GPU build) as (repository, pinned tag)."""

    def environment(self, spec: Spec) -> dict[str, str]:
        """Non-secret environment variables the engine needs for this spec."""
        return {}

    def container_environment(self, spec: Spec) -> dict[str, str]:
        """Extra environment only inside the container."""
        return {}

    def pod_environment(self, spec: Spec, cpus: int) -> dict[str, str]:
        """Environment of a Kubernetes pod limited to `cpus` CPUs, over the container's."""
        return {}

    def entrypoint_splits(self, spec: Spec) -> bool:
        """Whether the image's entrypoint word-splits and glob-expands its arguments."""
        return False

    def shm_size(self, spec: Spec) -> str | None:
        """Shared memory the container needs (tensor parallel), or None."""
        return None

    def node_args(self, spec: Spec) -> tuple[str, ...]:
        """The "ranks" recipe: flags every node adds to the single-node argv (the world size)."""
        return ()

    def container_user(self, spec: Spec) -> str | None:
        """A non-root user for the container where the image allows it, else None."""
        return None

    def healthcheck(self, port: int) -> tuple[str, ...]:
        """Exec-form health probe run inside the image."""
        return ("curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{port}{self.health_path}")

    # --- shared behaviour ------------------------------------------------------------------

    def parser_rules(self) -> ParserRules:
        """How this engine's parser reads an argv (aliases, spellings, what extra_args may hold)."""
        return ParserRules(
            table=self.flag_table,
            title=self.title,
            version=self.version,
            owners=self.spec_fields,
            underscores=self.underscore_spellings,
            equals_values=self.equals_values,
            positional=self.positional_field,
            forbidden=self.forbidden_extra_arg,
            secrets=SECRET_FLAGS,
            duplicate_hint=self.duplicate_hint,
            history=self.flag_history,
            notice=self.flag_notice,
        )

    def flag_history(self, spelling: str) -> tuple[str, str] | None:
        """(message, fix) for a spelling this version lacks that another known version takes."""
        from llmgen.engines.history import absence

        return absence(self.key, self.title, self.version, spelling)

    def flag_notice(self, spelling: str, path: str) -> list[Diagnostic]:
        """What this version itself says of a spelling it parses: removed, deprecated, renamed."""
        from llmgen.engines.history import notice

        told = notice(self.key, self.title, self.version, spelling)
        if told is None:
            return []
        severity, message, fix = told
        return [error(path, message, fix) if severity == "error" else warning(path, message, fix)]

    def effective(self, spec: Spec) -> EffectiveConfig:
        """Parse the spec-derived argv and extra_args once into the effective configuration."""
        words = [Word(text, None) for text in self.serve_args(spec, spec.server.host)]
        words += [Word(text, index) for index, text in enumerate(spec.runtime.extra_args)]
        explicit, problems = parse_argv(self.parser_rules(), words, self.llmgen_notes)
        # A spec-derived word that parses as no flag at all (path "") can only be a name.
        spec_problems = [d for d in problems if not d.path]
        if spec_problems:
            # Only a name derived from the model's file or directory can start with '-' (every
            # other spec string has a pattern): the engine would read it as a flag.
            source = "model.path" if spec.model.path is not None else "model.id"
            problems = [d for d in problems if d not in spec_problems]
            problems.insert(
                0,
                error(
                    source,
                    f"the served name '{self.served_name(spec)}' starts with '-', which "
                    f"{self.title} would read as a flag",
                    "set model.served_name, or rename the file or directory",
                ),
            )
        device: Literal["cpu", "gpu"] = "gpu" if spec.runtime.gpus > 0 else "cpu"
        note = f"{self.title} {self.version}"
        defaults = EngineDefaults(self.flag_table, explicit, self.device_defaults(spec), note)
        return EffectiveConfig(
            self.key, device, explicit, defaults, self.spec_fields, tuple(problems)
        )

    def analyze(self, spec: Spec) -> tuple[EffectiveConfig, list[Diagnostic]]:
        """The effective configuration and every engine-aware diagnostic, in one pass."""
        config = self.effective(spec)
        found = policy_checks(self.title, self.open_routes, spec)
        found += self._unsupported_knob_checks(spec)
        found += self._model_kind_checks(spec)
        found += list(config.diagnostics)
        found += self._route_checks(config)
        found += self.config_rules(spec, config)
        return config, found

    def config_rules(self, spec: Spec, config: EffectiveConfig) -> list[Diagnostic]:
        """Rules this engine enforces at start-up, read from the effective configuration."""
        return []

    def facts_rules(
        self, spec: Spec, config: EffectiveConfig, facts: ModelFacts
    ) -> list[Diagnostic]:
        """Start-up rules of this engine that need the model's facts (llmgen.rules.model)."""
        return []

    def configured_facts(self, config: EffectiveConfig, facts: ModelFacts) -> ModelFacts:
        """The model's facts as the engine sees them under this configuration (vLLM applies
        --hf-overrides to the model's config before it derives the context)."""
        return facts

    def context_fix(self, facts: ModelFacts) -> str:
        """Another way past the context limit than a shorter context, or "" (words after
        "set ... or lower")."""
        return ""

    def context_limit(self, facts: ModelFacts) -> int | None:
        """The longest context this engine accepts for the model."""
        return facts.max_position_embeddings

    def context_per_sequence(self, spec: Spec, config: EffectiveConfig) -> int:
        """Tokens one sequence may hold with this configuration."""
        return config.int_value(self.context_flag) or spec.runtime.context_length

    def device_defaults(self, spec: Spec) -> dict[str, tuple[str, str]]:
        """Defaults that depend on the device: flag -> (value rules must assume, why)."""
        return {}

    def _route_checks(self, config: EffectiveConfig) -> list[Diagnostic]:
        found = []
        for name, why in self.route_flags.items():
            setting = config.given(name)
            # Every route flag takes a value or is a plain switch (vLLM's --headless has no
            # --no- form), so a given one always moves the routes.
            if setting is not None and setting.origin.kind == "extra_args":
                found.append(
                    error(
                        setting.origin.path,
                        f"{setting.shown()} {why}: the health probes, the clients and "
                        "llmgen verify would find nothing",
                        "remove it; llmgen serves plain HTTP at server.host:server.port",
                    )
                )
        return found

    def plan(self, spec: Spec) -> LaunchPlan:
        """Turn a spec into this engine's LaunchPlan, with every diagnostic found on the way."""
        config, diagnostics = self.analyze(spec)
        args = (*self.serve_args(spec, spec.server.host), *spec.runtime.extra_args)
        container_args = (*self.serve_args(spec, CONTAINER_BIND_HOST), *spec.runtime.extra_args)
        container_env = self.container_environment(spec)
        unit_executable = spec.server.executable or f"/usr/local/bin/{self.executable}"
        if self.entrypoint_splits(spec):
            container_args, moved, problems = _through_environment(
                self.flag_table, container_args, config
            )
            container_env.update(moved)
            diagnostics += problems
        secrets = []
        if spec.server.api_key_env:
            secrets.append(SecretRef(self.api_key_var, spec.server.api_key_env, required=True))
        if spec.model.id is not None:
            secrets.append(SecretRef("HF_TOKEN", "HF_TOKEN", required=False))
        repository, default_tag = self.image(spec)
        tag = spec.container.image_tag or default_tag
        return LaunchPlan(
            engine=self.key,
            engine_title=self.title,
            engine_version=self.version,
            executable=self.executable,
            unit_executable=unit_executable,
            subcommand=self.subcommand,
            args=args,
            container_args=container_args,
            env=tuple(sorted(self.environment(spec).items())),
            container_env=tuple(sorted(container_env.items())),
            secrets=tuple(secrets),
            image=f"{repository}:{tag}",
            host=spec.server.host,
            port=spec.server.port,
            client_host=client_host_for(spec.server.host),
            published_host=_published_host(spec.server.host),
            health_path=self.health_path,
            readiness=self.readiness,
            served_name=self.served_name(spec),
            volumes=self._volumes(spec),
            gpus=spec.runtime.gpus,
            shm_size=self.shm_size(spec),
            container_user=self.container_user(spec),
            healthcheck=self.healthcheck(spec.server.port),
            start_period_s=self.start_period_s,
            install_hint=self.install_hint,
            open_routes=self.open_routes,
            api_key_env=spec.server.api_key_env,
            unit_cache_dirs=self.unit_cache_dirs,
            diagnostics=tuple(diagnostics),
            config=config,
            unit=unit_settings(spec, unit_executable),
        )

    def _volumes(self, spec: Spec) -> tuple[Volume, ...]:
        volumes = [Volume(self.cache_volume[0], self.cache_volume[1], False, True)]
        if spec.model.path is not None:
            # Mounted at the same path, so the argv and the served name are the same natively
            # and in the container.
            # llama.cpp loads one GGUF file (whatever the case of its extension); vLLM and
            # TGI load a directory.
            kind = "File" if self.model_kind == "gguf" else "Directory"
            volumes.append(Volume(spec.model.path, spec.model.path, True, False, kind))
        return tuple(volumes)

    def _unsupported_knob_checks(self, spec: Spec) -> list[Diagnostic]:
        fields = type(spec.runtime).model_fields
        return [
            error(
                f"runtime.{name}", f"{self.title} has no such knob: {why}", f"remove runtime.{name}"
            )
            for name, why in self.unsupported.items()
            if getattr(spec.runtime, name) != fields[name].get_default(call_default_factory=True)
        ]

    def _model_kind_checks(self, spec: Spec) -> list[Diagnostic]:
        model = spec.model
        source = model.path if model.path is not None else (model.id or "")
        is_gguf = source.lower().split(":", 1)[0].endswith(".gguf") or (
            model.id is not None and "gguf" in model.id.lower()
        )
        where = "model.path" if model.path is not None else "model.id"
        if self.model_kind == "gguf":
            if model.path is not None and not model.path.lower().endswith(".gguf"):
                return [
                    error(
                        where,
                        f"{self.title} loads GGUF files; '{model.path}' is not a .gguf file",
                        "convert the model to GGUF or use engine vllm/tgi",
                    )
                ]
            if model.id is not None and "gguf" not in model.id.lower():
                return [
                    warning(
                        where,
                        f"'{model.id}' does not look like a GGUF repo; "
                        f"{self.title} downloads GGUF files only",
                        "use a repo whose name ends in -GGUF, e.g. org/model-GGUF:Q4_K_M",
                    )
                ]
            return []
        if is_gguf:
            return [
                error(
                    where,
                    f"{self.title} {self.version} does not load GGUF models "
                    "(GGUF support moved to plugins)",
                    "use engine: llamacpp for GGUF, or the original safetensors repo",
                )
            ]
        if model.id is not None and ":" in model.id:
            return [
                error(
                    where,
                    f"'{model.id}': a ':QUANT' suffix only means something to llama.cpp",
                    "remove the suffix",
                )
            ]
        return []

    def duplicate_hint(self, flag: str) -> str:
        """How to fix an extra flag that repeats one the spec renders ("" = the default hint)."""
        return ""

    def forbidden_extra_arg(self, arg: str, path: str) -> list[Diagnostic]:
        """Flags that exist but must never be rendered (ambiguous or unsafe spellings)."""
        return []


_SPLIT_OR_GLOB = re.compile(r"[\s*?\[]")


def _through_environment(
    table: FlagTable, args: tuple[str, ...], config: EffectiveConfig
) -> tuple[tuple[str, ...], dict[str, str], list[Diagnostic]]:
    """Move values an unquoted `$@` would split or expand into the flag's own variable.

    The variable reaches the engine unsplit; a flag without one cannot carry such a value
    through this image, so it is refused.
    """
    kept: list[str] = []
    moved: dict[str, str] = {}
    problems: list[Diagnostic] = []
    index = 0
    while index < len(args):
        arg = args[index]
        flag = table.lookup(arg) if arg.startswith("-") else None
        inline = "=" in arg
        value = arg.split("=", 1)[1] if inline else None
        if flag is not None and flag.nargs == "1" and not inline and index + 1 < len(args):
            value = args[index + 1]
        if flag is None or value is None or not _SPLIT_OR_GLOB.search(value):
            kept.append(arg)
            index += 1
            continue
        index += 1 if inline else 2
        if flag.env_name and not flag.repeatable:
            moved[flag.env_name] = value
            continue
        problems.append(
            error(
                config.path_of(flag.name),
                f"'{value}' would be split or glob-expanded by the image's entrypoint "
                f"(`$@` unquoted), and {flag.name} has no environment variable to carry it",
                "use a value without spaces or *?[ characters",
            )
        )
        kept += [arg] if inline else [arg, value]
    return tuple(kept), moved, problems


@lru_cache(maxsize=256)
def _published_host(bind_host: str) -> str:
    # `docker run -p` takes an IPv6 host in brackets; an unspecified host publishes on all.
    address = host_address(bind_host)
    if address.version == 6:
        return f"[{address}]"
    return str(address)
