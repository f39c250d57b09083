"""The deployment spec: what the user wants, as strict, immutable pydantic models.

Every field carries a description; `schemas/llmgen.schema.json` is generated from these
models, and `parse_spec` checks YAML data against them. Strict mode converts nothing: text is
not a number, `true` is not 1 and 1.5 is not an integer (a whole number is read as a decimal
where a decimal belongs); NaN and infinities are refused; pydantic's Rust regex engine reads
`$` as the end of the text, as JSON Schema does, so "demo\n" is not a name.
Character rules for strings that reach a command line are explicit here, so a value is either
refused with a clear message or reaches the engine as one inert argument.
"""

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from llmgen.engines.registry import version_problem
from llmgen.spec.fieldrules import CharacterRule

# The registry's keys (llmgen.engines.ENGINES; a test keeps them equal): a Literal, so the
# schema lists them.
EngineName = Literal["vllm", "tgi", "llamacpp", "sglang"]

# A Kubernetes Service name (RFC 1035 label) is the strictest place the name goes: it must
# start with a letter. Systemd units, container and compose project names accept it too.
NAME_PATTERN = r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$"
HUB_ID_PATTERN = (
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}(:[A-Za-z0-9_.-]{1,64})?$"
)
SERVED_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,127}$"
PATH_PATTERN = r"^/[A-Za-z0-9._/@+=, -]{1,1023}$"
REVISION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$"
ENV_NAME_PATTERN = r"^[A-Z_][A-Z0-9_]{0,63}$"
IMAGE_TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
EXECUTABLE_PATTERN = r"^/[A-Za-z0-9._/+-]{1,255}$"
# IP literals only: no IPv6 zone id (`fe80::1%eth0`), whose free text after `%` Python's
# ipaddress accepts and which would reach URLs, unit files and shell scripts.
HOST_CHARACTERS = re.compile(r"[0-9A-Fa-f:.]{2,45}")
# Names a shell, the dynamic loader or the hub already give a meaning: reusing one as the API
# key variable would hand that value to clients (HF_TOKEN) or break the scripts (`_`, PATH).
RESERVED_ENV_NAMES = frozenset(
    {"_", "HF_TOKEN", "HOME", "IFS", "PATH", "PWD", "OLDPWD", "SHELL", "ENV", "PS4", "SHELLOPTS"}
)
RESERVED_ENV_PREFIXES = ("BASH_", "LD_")
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.]{0,31}$"
SIZE_PATTERN = r"^[1-9][0-9]{0,15}([KMGT]i?)?$"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Section = TypeVar("Section", bound=BaseModel)


# Default factories are Python functions, never `list`, `dict` or a model class: pydantic reads
# each factory's signature while it builds the models, and a builtin's costs compiling the
# grammar of `tokenize` (about 3 ms of every command that reads a spec), a model class's its
# whole generated signature.
def _empty_list() -> list[Any]:
    return []


def _empty_dict() -> dict[str, Any]:
    return {}


def _fresh(section: type[Section]) -> Callable[[], Section]:
    """A factory of `section` with every default (see above: not the class itself)."""

    def make() -> Section:
        return section()

    return make


class StrictModel(BaseModel):
    """Base of every spec section: unknown keys are errors and no value is converted."""

    # rust-regex (pydantic's default, named here because llmgen relies on it) reads `$` as
    # the end of the text, as JSON Schema does; Python's `re` would let "demo\n" match.
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, regex_engine="rust-regex"
    )


def _normalized_path(value: str | None) -> str | None:
    return _check_normalized(value, trailing_slash=True)


class ModelSpec(StrictModel):
    """Which model to serve and the name clients send."""

    id: Annotated[
        str | None,
        CharacterRule(
            "'org/name' with letters, digits and '._-' (plus ':QUANT' for llama.cpp)",
            also="each part starts with a letter or digit (up to 96 characters each)",
            why="The Hugging Face hub's own repo id rules. No part can start with `-` (it "
            "would read as a flag) or be `..`.",
        ),
    ] = Field(
        default=None,
        pattern=HUB_ID_PATTERN,
        description="Hugging Face hub repo id (`org/name`). For llamacpp a GGUF repo, optionally "
        "with `:QUANT` (e.g. `:Q4_K_M`). Exactly one of `id` and `path`.",
        examples=["HuggingFaceTB/SmolLM2-360M-Instruct"],
    )
    path: Annotated[
        str | None,
        AfterValidator(_normalized_path),
        CharacterRule(
            "an absolute path of letters, digits, spaces and '._/@+=,-'",
            also="no `.` or `..` segments and no `//`; one trailing `/` allowed",
            why="It is mounted into containers as `SRC:DST:ro` (no `:`), shown in Kubernetes "
            "`hostPath`, and its last segment becomes the served name (so it must name "
            "something).",
        ),
    ] = Field(
        default=None,
        pattern=PATH_PATTERN,
        description="Absolute path of a local model: a `.gguf` file for llamacpp, a directory "
        "with config.json and weights for vllm and tgi. Letters, digits, spaces and "
        "`._/@+=,-` only; no `..`.",
        examples=["/models/smollm2.gguf"],
    )
    revision: Annotated[
        str | None,
        CharacterRule(
            "letters, digits and '._/-'",
            also="starts with a letter or digit, at most 128",
            why="A git branch, tag or commit; never starts with `-`.",
        ),
    ] = Field(
        default=None,
        pattern=REVISION_PATTERN,
        description="Hub revision (branch, tag or commit) for vllm and tgi; llamacpp has none.",
    )
    served_name: Annotated[
        str | None,
        CharacterRule(
            "letters, digits and '._/:@+-', at most 128 characters, no commas",
            also="starts with a letter or digit",
            why="Clients send it as JSON; llama.cpp's `--alias` splits on commas.",
        ),
    ] = Field(
        default=None,
        pattern=SERVED_NAME_PATTERN,
        description="The model name clients send and `/v1/models` lists. Default: the hub id "
        "(without `:QUANT`) or the file/directory name. TGI cannot rename a model.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.id is None) == (self.path is None):
            raise ValueError("give exactly one of model.id (hub repo) or model.path (local file)")
        return self


def _normalized_executable(value: str | None) -> str | None:
    return _check_normalized(value, trailing_slash=False)


def _ip_literal(value: str) -> str:
    if "%" in value:
        raise ValueError(
            "must be an IP literal without a zone id ('%...'); bind to the address itself"
        )
    if not HOST_CHARACTERS.fullmatch(value):
        raise ValueError(
            "must be an IP literal such as 127.0.0.1, 0.0.0.0 or ::1 (digits, a-f, ':' "
            "and '.' only; TGI accepts no host names; use 127.0.0.1 for localhost)"
        )
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(
            "must be an IP literal such as 127.0.0.1, 0.0.0.0 or ::1 "
            "(TGI accepts no host names; use 127.0.0.1 for localhost)"
        ) from None
    return value


def _not_reserved(value: str | None) -> str | None:
    if value is not None and (
        value in RESERVED_ENV_NAMES or value.startswith(RESERVED_ENV_PREFIXES)
    ):
        raise ValueError(
            f"'{value}' already means something to the shell, the loader or the hub; "
            "name a variable of your own, e.g. LLM_API_KEY"
        )
    return value


class ServerSpec(StrictModel):
    """Where the server listens and how it is protected."""

    host: Annotated[
        str,
        AfterValidator(_ip_literal),
        CharacterRule(
            "an IP literal: digits, `a-f`, `:` and `.` (2 to 45 characters) that Python's "
            "`ipaddress` accepts",
            also="no IPv6 zone id (`fe80::1%eth0`)",
            shown="`[0-9A-Fa-f:.]{2,45}` plus `ipaddress.ip_address`",
            why="TGI binds IP literals only. A zone id is free text after `%` that would reach "
            "URLs in the clients, the unit file and the scripts.",
        ),
    ] = Field(
        default="127.0.0.1",
        description="IP address to bind (an IP literal without a zone id; TGI accepts nothing "
        "else). "
        "Anything but loopback needs `api_key_env` or `allow_unauthenticated: true`.",
    )
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        description="TCP port of the OpenAI-compatible HTTP API.",
    )
    api_key_env: Annotated[
        str | None,
        AfterValidator(_not_reserved),
        CharacterRule(
            "an environment variable name: A-Z, 0-9 and '_', not starting with a digit",
            also="at most 64; not `_`, `PATH`, `HOME`, `IFS`, `PWD`, `OLDPWD`, `SHELL`, `ENV`, "
            "`PS4`, `SHELLOPTS`, `HF_TOKEN`, nor `BASH_*` / `LD_*`",
            why="It is referenced as `${NAME}` in shell, compose and systemd, never quoted. The "
            "reserved names already mean something: `$_` is the shell's last argument, and "
            "reusing `HF_TOKEN` would hand the hub token to every client.",
        ),
    ] = Field(
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Name of the environment variable that holds the API key (never the key "
        "itself). Clients read the same variable.",
        examples=["LLM_API_KEY"],
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Explicit opt-out: allow a non-loopback bind without an API key.",
    )
    executable: Annotated[
        str | None,
        AfterValidator(_normalized_executable),
        CharacterRule(
            "an absolute path of letters, digits and '._/+-'",
            also="at most 256; no `.` or `..` segments, no `//`, no trailing `/`",
            why="The first word of the unit's `ExecStart=` must be an absolute path; systemd "
            "would read a leading `-`, `@`, `:`, `+` or `!` as a prefix.",
        ),
    ] = Field(
        default=None,
        pattern=EXECUTABLE_PATTERN,
        description="Absolute path of the engine executable for the systemd unit and launch.sh. "
        "Default: found on PATH by launch.sh, /usr/local/bin/<binary> in the unit.",
    )


def _non_negative_layers(value: int | str | None) -> int | str | None:
    if isinstance(value, int) and not 0 <= value <= 10_000:
        raise ValueError("must be between 0 and 10000, or 'all'")
    return value


def _printable_args(value: list[str]) -> list[str]:
    for index, arg in enumerate(value):
        if not arg or len(arg) > 4096:
            raise ValueError(f"item {index} must be 1 to 4096 characters")
        if _has_control_characters(arg):
            raise ValueError(
                f"item {index}: control characters (newline, tab, ...) are not allowed"
            )
        unprintable = next((c for c in arg if c != " " and not c.isprintable()), None)
        if unprintable is not None:
            raise ValueError(
                f"item {index}: the invisible character U+{ord(unprintable):04X} is not "
                "allowed (line and paragraph separators, format and private-use characters)"
            )
    return value


class RuntimeSpec(StrictModel):
    """Capacity and hardware knobs, translated to each engine's own flags."""

    context_length: int = Field(
        default=4096,
        ge=16,
        le=1_048_576,
        description="Maximum tokens per sequence, prompt plus output (vLLM --max-model-len, TGI "
        "--max-total-tokens, llama.cpp --ctx-size x parallel so every slot gets it).",
    )
    batch_size: int | None = Field(
        default=None,
        ge=1,
        le=1_048_576,
        description="Tokens per forward step (llama.cpp --batch-size, vLLM "
        "--max-num-batched-tokens, TGI --max-batch-prefill-tokens). "
        "Default: the engine's own.",
    )
    parallel: int = Field(
        default=4,
        ge=1,
        le=4096,
        description="Concurrent sequences the engine works on at once (llama.cpp --parallel "
        "slots, vLLM --max-num-seqs per step, TGI --max-batch-size). Beyond it every engine "
        "queues requests. TGI applies --max-batch-size only to models without prefill "
        "chunking; with chunking its batch is bounded by token budgets. TGI refuses (HTTP 429) "
        "beyond --max-concurrent-requests, which llmgen leaves at TGI's 128 or sets to twice "
        "parallel, whichever is larger.",
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="CPU threads (llama.cpp --threads, vLLM CPU VLLM_CPU_OMP_THREADS_BIND, TGI "
        "OMP_NUM_THREADS). Default: the engine's own choice.",
    )
    gpu_layers: Annotated[int | Literal["all"] | None, AfterValidator(_non_negative_layers)] = (
        Field(
            default=None,
            description="llama.cpp only: layers to offload to the GPU, an integer or `all`. "
            "Default: 0 without GPUs, `all` with GPUs.",
        )
    )
    gpus: int = Field(
        default=0,
        ge=0,
        le=64,
        description="GPUs to use; 0 = CPU only; more than 1 = tensor parallel.",
    )
    gpu_memory_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Share of each GPU's memory the engine may use (vLLM "
        "--gpu-memory-utilization, TGI --cuda-memory-fraction).",
    )
    kv_cache_memory: Annotated[
        str | None,
        CharacterRule(
            "a byte count, optionally with K, M, G or T (e.g. 64M)",
            also="`Ki`, `Mi`, `Gi`, `Ti` too",
            why="vLLM's `--kv-cache-memory-bytes` format.",
        ),
    ] = Field(
        default=None,
        pattern=SIZE_PATTERN,
        description="vLLM only: KV cache size, bytes or with K/M/G/T (`64M`, `4G`); on CPU "
        "without it vLLM reserves most of the RAM.",
    )
    enforce_eager: bool = Field(
        default=False,
        description="Run eagerly, without CUDA graph capture: vLLM's --enforce-eager (cuts a "
        "CPU cold start from minutes to seconds), TGI's --cuda-graphs 0 on GPUs; llama.cpp "
        "has no graph capture to turn off.",
    )
    max_input_tokens: int | None = Field(
        default=None,
        ge=1,
        description="TGI only: longest prompt (--max-input-tokens); must be below "
        "context_length. Default: context_length - 1.",
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = Field(
        default="auto",
        description="Weights/activations dtype for vllm and tgi; llamacpp takes it from the GGUF.",
    )
    extra_args: Annotated[
        list[str],
        AfterValidator(_printable_args),
        CharacterRule(
            "1 to 4096 characters; no control characters (newline, tab, ...) and no "
            "invisible ones (line/paragraph separators, format and private-use characters)",
            also="each flag must be in the engine's flag table; `--api-key`, `--hf-token` and "
            "`--ngrok-authtoken` are refused",
            label="`runtime.extra_args` items",
            why="Free-form by design: each item reaches the engine as exactly one argument, "
            "whatever it contains (`$(...)`, quotes, `;`, `*`, `%`, `${VAR}`). Secret-valued "
            "flags would write the secret into every generated file.",
        ),
    ] = Field(
        default_factory=_empty_list,
        max_length=64,
        description="Extra engine flags, appended as given; each flag is checked against the "
        "engine's flag table and may not repeat a flag the spec already sets.",
    )


def _no_latest(value: str | None) -> str | None:
    if value == "latest":
        raise ValueError("'latest' is not a pinned version; name a release tag")
    return value


class ContainerSpec(StrictModel):
    """Container image choices."""

    image_tag: Annotated[
        str | None,
        AfterValidator(_no_latest),
        CharacterRule(
            "letters, digits and '_.-' (a release tag)",
            also="starts with a letter, digit or `_`, at most 128; not `latest`",
            why="Docker's tag grammar; images are always pinned.",
        ),
    ] = Field(
        default=None,
        pattern=IMAGE_TAG_PATTERN,
        description="Override the pinned tag of the engine's official image (never `latest`).",
    )
    model_cache: Literal["volume", "host"] = Field(
        default="volume",
        description="Model cache of docker-run.sh and compose.yaml: `volume` (default) a "
        "named Docker volume, kept across runs and apart from your files; `host` the host's "
        "own Hugging Face cache (`$HF_HOME`, else ~/.cache/huggingface), as the engines' "
        "docs do, so models already downloaded are reused. llama.cpp then runs as you "
        "(docker-run.sh: --user of `id`; compose: set LLMGEN_USER=uid:gid); the vLLM and TGI "
        "images run as root and may leave root-owned files there.",
    )


# Kubernetes names and labels (k8s.io/apimachinery validation): a DNS-1123 label (namespace),
# a DNS-1123 subdomain (claim and storage class names), and the label key/value grammar.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")
_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)
# A Kubernetes quantity for storage, in binary units so the size means what it says.
STORAGE_SIZE_PATTERN = r"^[1-9][0-9]{0,5}(Mi|Gi|Ti)$"
RESOURCE_NAME_PATTERN = (
    r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
RESERVED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


def label_key_problem(key: str) -> str | None:
    """Why `key` is not a Kubernetes label key (`[prefix/]name`), or None when it is one."""
    prefix, _, name = key.rpartition("/")
    if not _LABEL_NAME.fullmatch(name):
        return (
            f"label key {key!r}: the name part must be 1 to 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    if "/" in key and not (_DNS_SUBDOMAIN.fullmatch(prefix) and len(prefix) <= 253):
        return f"label key {key!r}: the prefix must be a DNS subdomain such as example.com"
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a Kubernetes label value, or None when it is one (empty is allowed)."""
    if value and not _LABEL_NAME.fullmatch(value):
        return (
            f"label value {value!r}: at most 63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit"
        )
    return None


class StorageSpec(StrictModel):
    """Where the model cache lives in Kubernetes, so a restart does not download it again."""

    size: Annotated[
        str | None,
        CharacterRule(
            "a size in Mi, Gi or Ti, such as 200Gi",
            also="1 to 6 digits, no leading zero",
            why="A Kubernetes quantity in binary units, so the claim is the size the user meant.",
        ),
    ] = Field(
        default=None,
        pattern=STORAGE_SIZE_PATTERN,
        description="Size of a new PersistentVolumeClaim for the model cache (`200Gi`). "
        "Default: sized from the model's weights when known, otherwise 100Gi. "
        "Not together with `claim`.",
        examples=["200Gi"],
    )
    claim: Annotated[
        str | None,
        CharacterRule(
            "a Kubernetes object name: lowercase letters, digits, '-' and '.'",
            also="each dot-separated part starting and ending with a letter or digit, at most "
            "253 (a DNS-1123 subdomain)",
            why="Kubernetes' rule for PersistentVolumeClaim names.",
        ),
    ] = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of an existing PersistentVolumeClaim to use instead of a new one. "
        "With replicas > 1 every replica mounts it, so it must be ReadWriteMany.",
    )
    class_name: Annotated[
        str | None,
        CharacterRule(
            "a Kubernetes object name: lowercase letters, digits, '-' and '.'",
            also="each dot-separated part starting and ending with a letter or digit, at most "
            "253 (a DNS-1123 subdomain)",
            why="Kubernetes' rule for StorageClass names.",
        ),
    ] = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="StorageClass of the new claim. Default: the cluster's default class.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.claim is not None and (self.size is not None or self.class_name is not None):
            raise ValueError(
                "give either claim (an existing PVC) or size/class_name (a new one), not both"
            )
        return self


class TolerationSpec(StrictModel):
    """One Kubernetes toleration, so the pods may run on tainted (e.g. GPU) nodes."""

    key: str | None = Field(
        default=None, description="Taint key; omitted with operator Exists = every taint."
    )
    operator: Literal["Equal", "Exists"] = Field(
        default="Equal", description="`Equal` (key and value match) or `Exists` (key only)."
    )
    value: str | None = Field(default=None, description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; omitted = every effect."
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        le=31_536_000,
        description="With effect NoExecute: how long the pod stays after the taint appears.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.key is not None and (problem := label_key_problem(self.key)):
            raise ValueError(problem)
        if self.value is not None and (problem := label_value_problem(self.value)):
            raise ValueError(problem)
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value; remove value or use Equal")
        if self.operator == "Equal" and self.key is None:
            raise ValueError("operator Equal needs a key; use operator Exists to match every taint")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds only applies to effect NoExecute")
        return self


def _not_system(value: str | None) -> str | None:
    if value in RESERVED_NAMESPACES:
        raise ValueError(f"'{value}' belongs to Kubernetes itself; choose a namespace of your own")
    return value


def _labels(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        problem = label_key_problem(key) or label_value_problem(label)
        if problem:
            raise ValueError(problem)
    return value


def _not_native(value: str) -> str:
    domain = value.split("/", 1)[0]
    if domain == "kubernetes.io" or domain.endswith(".kubernetes.io"):
        raise ValueError(
            f"'{value}' is in the kubernetes.io domain, which is not an extended resource; "
            "use the GPU device plugin's resource, e.g. nvidia.com/gpu"
        )
    return value


class DeploySpec(StrictModel):
    """How the deployment scales beyond one process: Kubernetes placement, replicas, nodes."""

    replicas: int = Field(
        default=1,
        ge=1,
        le=1000,
        description="Independent copies of the server behind one Service. With more than one, "
        "each replica gets its own cache claim (StatefulSet), unless `storage.claim` is set.",
    )
    namespace: Annotated[
        str | None,
        AfterValidator(_not_system),
        CharacterRule(
            "a Kubernetes namespace: lowercase letters, digits and '-', starting and ending "
            "with a letter or digit, at most 63 characters",
            also="not `kube-system`, `kube-public`, `kube-node-lease`",
            why="Kubernetes' own rule for namespace names (a DNS-1123 label); the system "
            "namespaces belong to the cluster.",
        ),
    ] = Field(
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description="Kubernetes namespace of every object (a DNS label). Default: the "
        "deployment's name. Create it first: kubectl create namespace NAME.",
    )
    storage: StorageSpec = Field(
        default_factory=_fresh(StorageSpec),
        description="The model cache's persistent volume in Kubernetes.",
    )
    nodes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Nodes per replica; runtime.gpus stays the GPUs of one node. vLLM: a "
        "LeaderWorkerSet over a Ray cluster, tensor parallel = runtime.gpus and pipeline "
        "parallel = nodes. llama.cpp: ggml-rpc-server on worker hosts. TGI: 1 only.",
    )
    node_selector: Annotated[
        dict[str, str],
        AfterValidator(_labels),
        CharacterRule(
            "label keys `[prefix/]name` (prefix a DNS subdomain, name 1 to 63 of letters, "
            "digits, `-_.` starting and ending alphanumeric); label values the same "
            "63-character rule or empty",
            label="`deploy.node_selector`, `deploy.tolerations` keys and values",
            why="Kubernetes' label grammar; every key and value is quoted in YAML.",
        ),
    ] = Field(
        default_factory=_empty_dict,
        max_length=32,
        description="Kubernetes nodeSelector: node labels the pods must run on.",
        examples=[{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}],
    )
    tolerations: list[TolerationSpec] = Field(
        default_factory=_empty_list,
        max_length=32,
        description="Kubernetes tolerations, e.g. for tainted GPU nodes.",
    )
    gpu_resource: Annotated[
        str,
        AfterValidator(_not_native),
        CharacterRule(
            "an extended resource name such as nvidia.com/gpu (domain/name)",
            also="a lowercase DNS domain, `/`, then 1 to 63 letters, digits, `-`, `_` or `.`; "
            "not in the `kubernetes.io` domain",
            why="An extended resource name as device plugins register them (`nvidia.com/gpu`, "
            "`amd.com/gpu`); it is printed as a YAML key.",
        ),
    ] = Field(
        default="nvidia.com/gpu",
        pattern=RESOURCE_NAME_PATTERN,
        description="Extended resource that counts GPUs in the cluster (`nvidia.com/gpu`, "
        "`amd.com/gpu`, a MIG profile such as `nvidia.com/mig-1g.10gb`).",
    )


# The OpenAI API's documented ranges; each engine's own narrower limits are in client_params.py.
_PROMPT_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# The seed stays within 32 bits: llama.cpp keeps it in a uint32 (a larger one wraps silently).
MAX_SEED = 2**32 - 1
MAX_STOP_SEQUENCES = 4


def _no_nul(value: str | None) -> str | None:
    # Newlines and tabs are fine in a prompt; NUL and other C0 controls cannot reach every
    # client literal (shell, JavaScript, Python) intact.
    if value is not None and _PROMPT_CONTROL.search(value):
        raise ValueError("control characters other than newline and tab are not allowed")
    return value


def _printable_stop(value: list[str]) -> list[str]:
    for index, item in enumerate(value):
        if _PROMPT_CONTROL.search(item):
            raise ValueError(f"item {index}: control characters other than newline and tab")
    return value


class ClientSpec(StrictModel):
    """Defaults the generated clients send with every request (editable in the clients too)."""

    system_prompt: Annotated[str | None, AfterValidator(_no_nul)] = Field(
        default=None,
        min_length=1,
        max_length=8192,
        description="System message sent before the user's prompt. Default: none.",
        examples=["You are a helpful assistant."],
    )
    temperature: float | None = Field(
        default=None,
        ge=0,
        le=2,
        description="Sampling temperature, 0 to 2 (0 = greedy). Default: the engine's own.",
    )
    top_p: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Nucleus sampling mass, above 0 and at most 1 (TGI: below 1). "
        "Default: the engine's own.",
    )
    max_tokens: int | None = Field(
        default=None,
        ge=1,
        le=1_048_576,
        description="Most tokens to generate per answer; below runtime.context_length so the "
        "prompt fits. Default: 256.",
    )
    frequency_penalty: float | None = Field(
        default=None,
        ge=-2,
        le=2,
        description="Penalty for tokens by how often they appeared, -2 to 2.",
    )
    presence_penalty: float | None = Field(
        default=None,
        ge=-2,
        le=2,
        description="Penalty for tokens that appeared at all, -2 to 2 (TGI: above -2).",
    )
    stop: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=256)]],
        AfterValidator(_printable_stop),
    ] = Field(
        default_factory=_empty_list,
        max_length=MAX_STOP_SEQUENCES,
        description="Up to 4 strings that end the answer when generated.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Sampling seed (0 to 4294967295) for repeatable answers.",
    )
    stream: bool = Field(
        default=False,
        description="Stream tokens as they arrive by default (the clients' --stream does it "
        "for one run).",
    )


HARDWARE_SIZE_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,3})? ?([KMGT](i?B)?|B)?$"


class HardwareSpec(StrictModel):
    """The machine the deployment must fit on; `validate` then refuses one that cannot fit."""

    gpu_memory: Annotated[
        str | None,
        CharacterRule(
            "a size such as 24GB, 80 GiB or 16G",
            also="up to 3 decimals; the unit `K`, `M`, `G`, `T` (optionally `B` or `iB`) or "
            "`B`; all binary (`24G` = `24GB` = `24GiB` = 24 x 2^30 bytes)",
            why="Read by `llmgen fit` and `validate`; never reaches a command line.",
        ),
    ] = Field(
        default=None,
        pattern=HARDWARE_SIZE_PATTERN,
        description="Memory of each GPU: `24G`, `24GiB` or `24GB` (all binary: 24 x 2^30).",
        examples=[
            "24GiB",
            "80G",
        ],
    )
    gpus: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="GPUs the machine has (runtime.gpus may not exceed it).",
    )
    memory: Annotated[
        str | None,
        CharacterRule(
            "a size such as 64GB, 512 GiB or 32G",
            also="the same size format as `hardware.gpu_memory`",
            why="Host RAM for the same estimate.",
        ),
    ] = Field(
        default=None,
        pattern=HARDWARE_SIZE_PATTERN,
        description="Host RAM available to the engine, e.g. `64G`.",
    )


class Spec(StrictModel):
    """One LLM deployment: the model, the engine and how it runs."""

    model_config = ConfigDict(title="llmgen deployment spec")

    name: Annotated[
        str,
        CharacterRule(
            "lowercase letters, digits and '-', starting with a letter and ending with a "
            "letter or digit, at most 63 characters",
            why="It names the systemd unit, the container, the compose project and the "
            "Kubernetes Deployment, Service and Secret. A Kubernetes Service name (RFC 1035 "
            "label) must start with a letter; compose project names allow nothing beyond this "
            "set. It is always quoted in YAML, so `no` or `null` stay names.",
        ),
    ] = Field(
        pattern=NAME_PATTERN,
        description="Deployment name: lowercase letters, digits and '-', starting with a "
        "letter, at most 63 characters. Used for the systemd unit, container, Kubernetes and "
        "file names.",
    )
    engine: EngineName = Field(description="Serving engine: vllm, tgi, llamacpp or sglang.")
    engine_version: Annotated[
        str | None,
        CharacterRule(
            "one of the engine's versions llmgen knows, spelt as its flag table is",
            why="The spec is judged and rendered by that release's flags, defaults and image "
            "tags (docs/versions.md).",
        ),
    ] = Field(
        default=None,
        pattern=VERSION_PATTERN,
        description="The engine release the deployment runs; the spec is judged and rendered "
        "by its flags, defaults and image tags. Leave it out for the newest llmgen knows; "
        "`llmgen engines` lists the versions of each engine (docs/versions.md).",
        examples=["0.34.0"],
    )
    model: ModelSpec = Field(description="The model to serve.")
    server: ServerSpec = Field(
        default_factory=_fresh(ServerSpec), description="Network and access."
    )
    runtime: RuntimeSpec = Field(
        default_factory=_fresh(RuntimeSpec), description="Capacity and hardware."
    )
    container: ContainerSpec = Field(
        default_factory=_fresh(ContainerSpec), description="Container image."
    )
    deploy: DeploySpec = Field(
        default_factory=_fresh(DeploySpec),
        description="Kubernetes placement and storage, replicas and multi-node serving.",
    )
    client: ClientSpec = Field(
        default_factory=_fresh(ClientSpec),
        description="What the generated clients send: system prompt and sampling values.",
    )
    hardware: HardwareSpec | None = Field(
        default=None,
        description="Optional: the machine's memory, so `validate` refuses a deployment "
        "that cannot fit (the same estimate as `llmgen fit`).",
    )

    @field_validator("engine_version")
    @classmethod
    def _known_version(cls, value: str | None, info: ValidationInfo) -> str | None:
        engine = info.data.get("engine")  # absent when `engine` itself was refused
        if value is not None and engine is not None:
            problem = version_problem(engine, value)
            if problem is not None:
                raise ValueError(problem)
        return value


def _has_control_characters(value: str) -> bool:
    # Newlines, tabs and other control characters cannot be carried safely by a systemd
    # ExecStart= line or a shell comment; no legitimate engine argument needs them.
    return _CONTROL.search(value) is not None


def _check_normalized(value: str | None, *, trailing_slash: bool) -> str | None:
    """Refuse '.', '..' and empty segments: the path must name one file or directory."""
    if value is None:
        return value
    segments = value.split("/")[1:]
    if trailing_slash and len(segments) > 1 and segments[-1] == "":
        segments.pop()  # one trailing slash names a directory
    if ".." in segments:
        raise ValueError("must not contain '..' segments; give the resolved absolute path")
    if "." in segments or "" in segments:
        raise ValueError(
            "must be a normalized absolute path naming a file"
            + (" or directory" if trailing_slash else "")
            + ": no '.' segments, no '//'"
            + ("" if trailing_slash else " and no trailing '/'")
        )
    return value


def parse_spec(data: object) -> Spec:
    """Check YAML data (dicts, lists, scalars) as a spec; pydantic's ValidationError lists
    every problem (llmgen.spec.messages turns them into diagnostics)."""
    return Spec.model_validate(data)
