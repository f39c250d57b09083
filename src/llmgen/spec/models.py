"""The deployment spec: what the user wants, as immutable sections (llmgen.spec.sections).

Every field carries a description; `schemas/llmgen.schema.json` is generated from these
sections, and `parse_spec` checks YAML data against the same declarations.
Character rules for strings that reach a command line are explicit here, so a value is either
refused with a clear message or reaches the engine as one inert argument.
"""

import ipaddress
import re
from typing import Literal

from llmgen.spec.sections import Rule, Section, parse, setting

EngineName = Literal["vllm", "tgi", "llamacpp"]

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
SIZE_PATTERN = r"^[1-9][0-9]{0,15}([KMGT]i?)?$"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _normalized_path(value: str | None) -> str | None:
    return _check_normalized(value, trailing_slash=True)


class ModelSpec(Section):
    """Which model to serve and the name clients send."""

    id: str | None = setting(
        default=None,
        pattern=HUB_ID_PATTERN,
        description="Hugging Face hub repo id (`org/name`). For llamacpp a GGUF repo, optionally "
        "with `:QUANT` (e.g. `:Q4_K_M`). Exactly one of `id` and `path`.",
        examples=("HuggingFaceTB/SmolLM2-360M-Instruct",),
    )
    path: str | None = setting(
        check=_normalized_path,
        default=None,
        pattern=PATH_PATTERN,
        description="Absolute path of a local model: a `.gguf` file for llamacpp, a directory "
        "with config.json and weights for vllm and tgi. Letters, digits, spaces and "
        "`._/@+=,-` only; no `..`.",
        examples=("/models/smollm2.gguf",),
    )
    revision: str | None = setting(
        default=None,
        pattern=REVISION_PATTERN,
        description="Hub revision (branch, tag or commit) for vllm and tgi; llamacpp has none.",
    )
    served_name: str | None = setting(
        default=None,
        pattern=SERVED_NAME_PATTERN,
        description="The model name clients send and `/v1/models` lists. Default: the hub id "
        "(without `:QUANT`) or the file/directory name. TGI cannot rename a model.",
    )

    def check(self) -> None:
        if (self.id is None) == (self.path is None):
            raise ValueError("give exactly one of model.id (hub repo) or model.path (local file)")


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


class ServerSpec(Section):
    """Where the server listens and how it is protected."""

    host: str = setting(
        check=_ip_literal,
        default="127.0.0.1",
        description="IP address to bind (an IP literal without a zone id; TGI accepts nothing "
        "else). "
        "Anything but loopback needs `api_key_env` or `allow_unauthenticated: true`.",
    )
    port: int = setting(
        default=8000,
        ge=1,
        le=65535,
        description="TCP port of the OpenAI-compatible HTTP API.",
    )
    api_key_env: str | None = setting(
        check=_not_reserved,
        default=None,
        pattern=ENV_NAME_PATTERN,
        description="Name of the environment variable that holds the API key (never the key "
        "itself). Clients read the same variable.",
        examples=("LLM_API_KEY",),
    )
    allow_unauthenticated: bool = setting(
        default=False,
        description="Explicit opt-out: allow a non-loopback bind without an API key.",
    )
    executable: str | None = setting(
        check=_normalized_executable,
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


class RuntimeSpec(Section):
    """Capacity and hardware knobs, translated to each engine's own flags."""

    context_length: int = setting(
        default=4096,
        ge=16,
        le=1_048_576,
        description="Maximum tokens per sequence, prompt plus output (vLLM --max-model-len, TGI "
        "--max-total-tokens, llama.cpp --ctx-size x parallel so every slot gets it).",
    )
    batch_size: int | None = setting(
        default=None,
        ge=1,
        le=1_048_576,
        description="Tokens per forward step (llama.cpp --batch-size, vLLM "
        "--max-num-batched-tokens, TGI --max-batch-prefill-tokens). "
        "Default: the engine's own.",
    )
    parallel: int = setting(
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
    threads: int | None = setting(
        default=None,
        ge=1,
        le=1024,
        description="CPU threads (llama.cpp --threads, vLLM CPU VLLM_CPU_OMP_THREADS_BIND, TGI "
        "OMP_NUM_THREADS). Default: the engine's own choice.",
    )
    gpu_layers: int | Literal["all"] | None = setting(
        check=_non_negative_layers,
        default=None,
        description="llama.cpp only: layers to offload to the GPU, an integer or `all`. "
        "Default: 0 without GPUs, `all` with GPUs.",
    )
    gpus: int = setting(
        default=0,
        ge=0,
        le=64,
        description="GPUs to use; 0 = CPU only; more than 1 = tensor parallel.",
    )
    gpu_memory_fraction: float | None = setting(
        default=None,
        gt=0,
        le=1,
        description="Share of each GPU's memory the engine may use (vLLM "
        "--gpu-memory-utilization, TGI --cuda-memory-fraction).",
    )
    kv_cache_memory: str | None = setting(
        default=None,
        pattern=SIZE_PATTERN,
        description="vLLM only: KV cache size, bytes or with K/M/G/T (`64M`, `4G`); on CPU "
        "without it vLLM reserves most of the RAM.",
    )
    enforce_eager: bool = setting(
        default=False,
        description="Run eagerly, without CUDA graph capture: vLLM's --enforce-eager (cuts a "
        "CPU cold start from minutes to seconds), TGI's --cuda-graphs 0 on GPUs; llama.cpp "
        "has no graph capture to turn off.",
    )
    max_input_tokens: int | None = setting(
        default=None,
        ge=1,
        description="TGI only: longest prompt (--max-input-tokens); must be below "
        "context_length. Default: context_length - 1.",
    )
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = setting(
        default="auto",
        description="Weights/activations dtype for vllm and tgi; llamacpp takes it from the GGUF.",
    )
    extra_args: list[str] = setting(
        check=_printable_args,
        factory=list,
        max_length=64,
        description="Extra engine flags, appended as given; each flag is checked against the "
        "engine's flag table and may not repeat a flag the spec already sets.",
    )


def _no_latest(value: str | None) -> str | None:
    if value == "latest":
        raise ValueError("'latest' is not a pinned version; name a release tag")
    return value


class ContainerSpec(Section):
    """Container image choices."""

    image_tag: str | None = setting(
        check=_no_latest,
        default=None,
        pattern=IMAGE_TAG_PATTERN,
        description="Override the pinned tag of the engine's official image (never `latest`).",
    )
    model_cache: Literal["volume", "host"] = setting(
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


class StorageSpec(Section):
    """Where the model cache lives in Kubernetes, so a restart does not download it again."""

    size: str | None = setting(
        default=None,
        pattern=STORAGE_SIZE_PATTERN,
        description="Size of a new PersistentVolumeClaim for the model cache (`200Gi`). "
        "Default: sized from the model's weights when known, otherwise 100Gi. "
        "Not together with `claim`.",
        examples=("200Gi",),
    )
    claim: str | None = setting(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Name of an existing PersistentVolumeClaim to use instead of a new one. "
        "With replicas > 1 every replica mounts it, so it must be ReadWriteMany.",
    )
    class_name: str | None = setting(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="StorageClass of the new claim. Default: the cluster's default class.",
    )

    def check(self) -> None:
        if self.claim is not None and (self.size is not None or self.class_name is not None):
            raise ValueError(
                "give either claim (an existing PVC) or size/class_name (a new one), not both"
            )


class TolerationSpec(Section):
    """One Kubernetes toleration, so the pods may run on tainted (e.g. GPU) nodes."""

    key: str | None = setting(
        default=None, description="Taint key; omitted with operator Exists = every taint."
    )
    operator: Literal["Equal", "Exists"] = setting(
        default="Equal", description="`Equal` (key and value match) or `Exists` (key only)."
    )
    value: str | None = setting(default=None, description="Taint value for operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = setting(
        default=None, description="Taint effect to tolerate; omitted = every effect."
    )
    toleration_seconds: int | None = setting(
        default=None,
        ge=0,
        le=31_536_000,
        description="With effect NoExecute: how long the pod stays after the taint appears.",
    )

    def check(self) -> None:
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


class DeploySpec(Section):
    """How the deployment scales beyond one process: Kubernetes placement, replicas, nodes."""

    replicas: int = setting(
        default=1,
        ge=1,
        le=1000,
        description="Independent copies of the server behind one Service. With more than one, "
        "each replica gets its own cache claim (StatefulSet), unless `storage.claim` is set.",
    )
    namespace: str | None = setting(
        check=_not_system,
        default=None,
        pattern=DNS_LABEL_PATTERN,
        description="Kubernetes namespace of every object (a DNS label). Default: the "
        "deployment's name. Create it first: kubectl create namespace NAME.",
    )
    storage: StorageSpec = setting(
        factory=StorageSpec,
        description="The model cache's persistent volume in Kubernetes.",
    )
    nodes: int = setting(
        default=1,
        ge=1,
        le=64,
        description="Nodes per replica; runtime.gpus stays the GPUs of one node. vLLM: a "
        "LeaderWorkerSet over a Ray cluster, tensor parallel = runtime.gpus and pipeline "
        "parallel = nodes. llama.cpp: ggml-rpc-server on worker hosts. TGI: 1 only.",
    )
    node_selector: dict[str, str] = setting(
        check=_labels,
        factory=dict,
        max_length=32,
        description="Kubernetes nodeSelector: node labels the pods must run on.",
        examples=({"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},),
    )
    tolerations: list[TolerationSpec] = setting(
        factory=list,
        max_length=32,
        description="Kubernetes tolerations, e.g. for tainted GPU nodes.",
    )
    gpu_resource: str = setting(
        check=_not_native,
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


class ClientSpec(Section):
    """Defaults the generated clients send with every request (editable in the clients too)."""

    system_prompt: str | None = setting(
        check=_no_nul,
        default=None,
        min_length=1,
        max_length=8192,
        description="System message sent before the user's prompt. Default: none.",
        examples=("You are a helpful assistant.",),
    )
    temperature: float | None = setting(
        default=None,
        ge=0,
        le=2,
        description="Sampling temperature, 0 to 2 (0 = greedy). Default: the engine's own.",
    )
    top_p: float | None = setting(
        default=None,
        gt=0,
        le=1,
        description="Nucleus sampling mass, above 0 and at most 1 (TGI: below 1). "
        "Default: the engine's own.",
    )
    max_tokens: int | None = setting(
        default=None,
        ge=1,
        le=1_048_576,
        description="Most tokens to generate per answer; below runtime.context_length so the "
        "prompt fits. Default: 256.",
    )
    frequency_penalty: float | None = setting(
        default=None,
        ge=-2,
        le=2,
        description="Penalty for tokens by how often they appeared, -2 to 2.",
    )
    presence_penalty: float | None = setting(
        default=None,
        ge=-2,
        le=2,
        description="Penalty for tokens that appeared at all, -2 to 2 (TGI: above -2).",
    )
    stop: list[str] = setting(
        check=_printable_stop,
        items=Rule(min_length=1, max_length=256),
        factory=list,
        max_length=MAX_STOP_SEQUENCES,
        description="Up to 4 strings that end the answer when generated.",
    )
    seed: int | None = setting(
        default=None,
        ge=0,
        le=MAX_SEED,
        description="Sampling seed (0 to 4294967295) for repeatable answers.",
    )
    stream: bool = setting(
        default=False,
        description="Stream tokens as they arrive by default (the clients' --stream does it "
        "for one run).",
    )


HARDWARE_SIZE_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,3})? ?([KMGT](i?B)?|B)?$"


class HardwareSpec(Section):
    """The machine the deployment must fit on; `validate` then refuses one that cannot fit."""

    gpu_memory: str | None = setting(
        default=None,
        pattern=HARDWARE_SIZE_PATTERN,
        description="Memory of each GPU: `24G`, `24GiB` or `24GB` (all binary: 24 x 2^30).",
        examples=(
            "24GiB",
            "80G",
        ),
    )
    gpus: int | None = setting(
        default=None,
        ge=0,
        le=64,
        description="GPUs the machine has (runtime.gpus may not exceed it).",
    )
    memory: str | None = setting(
        default=None,
        pattern=HARDWARE_SIZE_PATTERN,
        description="Host RAM available to the engine, e.g. `64G`.",
    )


class Spec(Section):
    """One LLM deployment: the model, the engine and how it runs."""

    title = "llmgen deployment spec"

    name: str = setting(
        pattern=NAME_PATTERN,
        description="Deployment name: lowercase letters, digits and '-', starting with a "
        "letter, at most 63 characters. Used for the systemd unit, container, Kubernetes and "
        "file names.",
    )
    engine: EngineName = setting(description="Serving engine: vllm, tgi or llamacpp.")
    model: ModelSpec = setting(description="The model to serve.")
    server: ServerSpec = setting(factory=ServerSpec, description="Network and access.")
    runtime: RuntimeSpec = setting(factory=RuntimeSpec, description="Capacity and hardware.")
    container: ContainerSpec = setting(factory=ContainerSpec, description="Container image.")
    deploy: DeploySpec = setting(
        factory=DeploySpec,
        description="Kubernetes placement and storage, replicas and multi-node serving.",
    )
    client: ClientSpec = setting(
        factory=ClientSpec,
        description="What the generated clients send: system prompt and sampling values.",
    )
    hardware: HardwareSpec | None = setting(
        default=None,
        description="Optional: the machine's memory, so `validate` refuses a deployment "
        "that cannot fit (the same estimate as `llmgen fit`).",
    )


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
    """Check YAML data (dicts, lists, scalars) as a spec; SectionError lists every problem."""
    return parse(Spec, data)
