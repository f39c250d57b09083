"""The Kubernetes side of a deployment: the values kubernetes.yaml prints, decided once here.

The template only prints these values. What is decided here, and why:
- the model cache survives restarts: a PersistentVolumeClaim (one per replica through a
  StatefulSet's or LeaderWorkerSet's volumeClaimTemplates, so replicas never share a
  ReadWriteOnce volume), or an existing claim named in the spec;
- exposure follows the spec: without an API key the Service stays ClusterIP and a NetworkPolicy
  admits only pods carrying the client label; with a key the whole cluster may connect, and a
  non-loopback `server.host` asks for a LoadBalancer;
- every pod runs as a non-root user on a read-only root filesystem, with a writable HOME and
  /tmp on emptyDir volumes, no service-account token, seccomp RuntimeDefault and no capabilities;
- the startup probe budget grows with the model's size when it is known;
- the engine's CPU threads follow the pod's CPU limit: the engines size their thread pools
  from the host's cores and ignore CPU quotas, so an unset runtime.threads becomes the limit.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from llmgen.engines import engine_of
from llmgen.engines.base import Engine, LaunchPlan, is_loopback
from llmgen.engines.effective import EffectiveConfig
from llmgen.records import record
from llmgen.spec.models import Spec, TolerationSpec

if TYPE_CHECKING:
    from llmgen.render.multinode import MultiNode

# Without a size from the memory estimate, a new cache claim gets this (documented in the
# schema and docs/scale-out.md): room for a 70B model in 16-bit weights.
DEFAULT_STORAGE_SIZE = "100Gi"
# Memory request and limit without an estimate: what a 7-8B model in 16-bit weights needs on
# the host while loading; /dev/shm (a memory-backed emptyDir) is added on top.
DEFAULT_MEMORY_GIB = 16
DEFAULT_CPU = 4  # CPU request and limit when runtime.threads is not set
# A UID above 10000, so it maps to no user of the node; 65532 is distroless's "nonroot".
POD_UID = 65532
# The official images run as root, so their HOME is /root: it becomes a writable emptyDir, which
# is also what lets a non-root user reach a cache mounted below it.
HOME_DIR = "/root"
CLIENT_LABEL_KEY = "llmgen/client"
PROBE_PERIOD_S = 10
SECONDS_PER_GIB = 60  # download (about 17 MB/s) and load time per GiB of weights
STORAGE_HEADROOM = 1.25  # cache claim = weights x this + 5 GiB (tokenizer, compiled kernels)
GIB = 1 << 30


@record
class CheckSkip:
    """A checkov check left failing on purpose, with the reason printed next to the skip."""

    check: str
    reason: str


@record
class Storage:
    """The model cache volume: a new claim, one claim per pod, or an existing claim."""

    mode: Literal["claim", "per-pod", "existing"]
    claim_name: str
    size: str
    class_name: str | None


@record
class HostCache:
    """The host's own Hugging Face cache, as each target expands it at run time.

    Fixed text (never from the spec), so it is printed unquoted where it must expand.
    """

    shell: str  # one double-quoted word for docker-run.sh
    compose: str  # compose interpolation
    description: str
    target: str = ""  # where the container sees it ("": the image's own cache path)
    user_shell: str = ""  # docker-run.sh's --user word ("": the image's user)
    user_compose: str = ""  # compose's `user:` ("": the image's user)
    env: tuple[tuple[str, str], ...] = ()  # points the engine at `target`, gives it a HOME


# Compose cannot run `id`: the user comes from a variable it requires, named in the README.
HOST_USER_VAR = "LLMGEN_USER"
HOST_CACHE = HostCache(
    shell='"${HF_HOME:-$HOME/.cache/huggingface}"',
    compose="${HF_HOME:-${HOME}/.cache/huggingface}",
    description="the host's Hugging Face cache ($HF_HOME, else ~/.cache/huggingface)",
)


# eq=False: compared by identity. Nothing compares or hashes two of these by value, and the
# generated __eq__ and __hash__ of a record this wide cost about 1 % of `llmgen render` to
# compile at import (docs/benchmarks.md).
@record(eq=False)
class KubePlan:
    """Everything kubernetes.yaml needs beyond the LaunchPlan."""

    namespace: str
    kind: Literal["Deployment", "StatefulSet", "LeaderWorkerSet"]
    replicas: int
    storage: Storage
    cache_mount: str
    startup_failures: int
    probe_period_s: int
    cpu: str
    args: tuple[str, ...]  # the engine's container arguments, threads matching `cpu`
    engine_env: tuple[tuple[str, str], ...]  # the engine's environment, threads matching `cpu`
    memory: str
    gpu_resource: str
    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[TolerationSpec, ...]
    uid: int
    home: str
    env: tuple[tuple[str, str], ...]
    client_label: tuple[str, str]
    ingress_from: Literal["client-label", "cluster", "anywhere"]
    service_type: Literal["ClusterIP", "LoadBalancer"]
    shm_size: str | None
    secret_name: str
    skips: tuple[CheckSkip, ...]
    multinode: MultiNode | None
    host_exposure: str  # who reaches the single-host targets, for the README
    host_cache: HostCache | None  # the host's HF cache for docker-run.sh/compose, when chosen


def model_weight_bytes(spec: Spec) -> int | None:
    """Bytes of the model's weights when llmgen's built-in catalog knows the hub model.

    Only the catalog (never this machine's Hugging Face cache or the hub) so that rendering
    stays the same on every machine; unknown models fall back to the documented defaults.
    """
    if spec.model.id is None:
        return None
    from llmgen.facts.catalog import catalog_facts

    facts = catalog_facts(spec.model.id, gguf=engine_of(spec).loads_gguf)
    if facts is None:
        return None
    return facts.file_bytes or facts.weight_bytes


# The pod's memory request and limit are fit's host estimate plus this margin: the estimate is
# within 10 % of llama-server's measured peak (docs/fit.md), and the limit OOM-kills beyond it.
MEMORY_HEADROOM = 1.25


def memory_need_bytes(spec: Spec, config: EffectiveConfig) -> int | None:
    """Host memory a llama.cpp server needs (fit's estimate with headroom) for a catalog model.

    Only llama.cpp, whose host estimate was measured against the real server and does not
    depend on the machine; vLLM and TGI pods keep the documented default (their host use while
    loading weights through the page cache is not estimated). Catalog facts only, so rendering
    stays the same on every machine. `config`: the spec's effective configuration (the plan's).
    """
    engine = engine_of(spec)
    # Not fit's GGUF estimator: an engine with its own memory flags, or none measured at all.
    if not engine.loads_gguf or engine.memory_flags is not None or spec.model.id is None:
        return None
    from llmgen.facts.catalog import catalog_facts
    from llmgen.fit.llamacpp import host_estimate_bytes
    from llmgen.fit.model import missing_facts

    facts = catalog_facts(spec.model.id, gguf=True)
    if facts is None or missing_facts(facts):
        return None
    # fit_spec's llama.cpp host estimate, asked directly: fit.run would import (and build)
    # the other engines' estimator, the facts lookup and the fixes search, none of which a
    # render uses. tests/render/test_kubernetes.py checks both give the same bytes.
    host = host_estimate_bytes(facts, config, spec.runtime.gpus)
    return math.ceil(host * MEMORY_HEADROOM)


def kube_plan(spec: Spec, plan: LaunchPlan, multinode: MultiNode | None) -> KubePlan:
    """Decide the Kubernetes values for `spec` (with its multi-node recipe, if it spans
    nodes); pure, like every rendering step."""
    deploy = spec.deploy
    engine = engine_of(spec)
    spans_nodes = multinode is not None and multinode.kubernetes
    kind: Literal["Deployment", "StatefulSet", "LeaderWorkerSet"]
    if spans_nodes:
        kind = "LeaderWorkerSet"
    elif deploy.replicas > 1 and deploy.storage.claim is None:
        kind = "StatefulSet"
    else:
        kind = "Deployment"
    shm = (multinode.shm_size if spans_nodes and multinode else None) or plan.shm_size
    cpus = spec.runtime.threads or DEFAULT_CPU
    pod = _pod_launch(spec, plan, cpus)
    return KubePlan(
        namespace=deploy.namespace or spec.name,
        kind=kind,
        replicas=deploy.replicas,
        storage=_storage(spec, per_pod=kind != "Deployment"),
        cache_mount=next(v.target for v in plan.volumes if v.named),
        startup_failures=math.ceil(_startup_budget_s(spec, plan, spans_nodes) / PROBE_PERIOD_S),
        probe_period_s=PROBE_PERIOD_S,
        cpu=str(cpus),
        args=pod.container_args,
        engine_env=tuple(
            {**dict(pod.env + pod.container_env), **engine.pod_environment(spec, cpus)}.items()
        ),
        memory=_memory(spec, shm, plan.config),
        gpu_resource=deploy.gpu_resource,
        node_selector=tuple(sorted(deploy.node_selector.items())),
        tolerations=tuple(deploy.tolerations),
        uid=POD_UID,
        home=HOME_DIR,
        # torch and Ray ask getpass for a user name, which fails for a UID without a passwd
        # entry unless USER is set.
        env=(("HOME", HOME_DIR), ("USER", "llmgen")),
        client_label=(CLIENT_LABEL_KEY, spec.name),
        ingress_from=_ingress(spec),
        service_type="LoadBalancer"
        if spec.server.api_key_env and not is_loopback(spec.server.host)
        else "ClusterIP",
        shm_size=_quantity(shm) if shm else None,
        secret_name=f"{spec.name}-secrets",
        skips=_skips(plan),
        multinode=multinode if spans_nodes else None,
        host_cache=_host_cache(engine) if spec.container.model_cache == "host" else None,
        host_exposure=(
            "launch.sh, docker-run.sh, compose and the unit listen on loopback, this host only"
            if is_loopback(spec.server.host)
            else f"launch.sh, docker-run.sh, compose and the unit listen on {spec.server.host}, "
            "open to the network (allow_unauthenticated)"
        ),
    )


def _host_cache(engine: Engine) -> HostCache:
    """The host's cache, and whether the container runs as the invoking user to write it.

    An image running as root would leave root-owned folders in the user's own cache, which the
    user can then no longer write; an engine that can run as any user does so.
    """
    if engine.host_user_cache is None:
        return HOST_CACHE
    target, env = engine.host_user_cache
    return replace(
        HOST_CACHE,
        target=target,
        user_shell='"$(id -u):$(id -g)"',
        user_compose=f"${{{HOST_USER_VAR}:?set {HOST_USER_VAR} to your uid:gid (id -u, id -g)}}",
        env=env,
    )


def _pod_launch(spec: Spec, plan: LaunchPlan, cpus: int) -> LaunchPlan:
    """The launch plan with runtime.threads = the pod's CPU limit.

    llama.cpp starts one thread per host core (it ignores CPU quotas), so a pod limited to 4 CPUs
    on a 64-core node would run 64 threads throttled to 4 cores' time: the pod passes the limit
    as --threads (and the CPU builds' thread variables) when the spec leaves threads unset.
    """
    if spec.runtime.threads is not None:
        return plan
    threaded = spec.model_copy(
        update={"runtime": spec.runtime.model_copy(update={"threads": cpus})}
    )
    return engine_of(spec).plan(threaded)


def _storage(spec: Spec, *, per_pod: bool) -> Storage:
    storage = spec.deploy.storage
    if storage.claim is not None:
        return Storage("existing", storage.claim, "", None)
    size = storage.size or _size_from_weights(spec) or DEFAULT_STORAGE_SIZE
    return Storage("per-pod" if per_pod else "claim", "cache", size, storage.class_name)


def _size_from_weights(spec: Spec) -> str | None:
    weights = model_weight_bytes(spec)
    if weights is None:
        return None
    return f"{math.ceil(weights * STORAGE_HEADROOM / GIB) + 5}Gi"


def _startup_budget_s(spec: Spec, plan: LaunchPlan, spans_nodes: bool) -> int:
    budget = plan.start_period_s
    weights = model_weight_bytes(spec)
    if weights is not None:
        budget += math.ceil(weights / GIB) * SECONDS_PER_GIB
    if spans_nodes:
        budget += 300  # the leader waits for every worker to join its Ray cluster first
    return budget


def _memory(spec: Spec, shm: str | None, config: EffectiveConfig) -> str:
    need = memory_need_bytes(spec, config)
    gib = math.ceil(need / GIB) if need is not None else DEFAULT_MEMORY_GIB
    if shm:
        gib += int(shm.rstrip("gG"))  # a memory-backed /dev/shm counts against the limit
    return f"{gib}Gi"


def _quantity(docker_size: str) -> str:
    # Docker's `16g` is 16 GiB; Kubernetes spells it `16Gi`.
    return docker_size[:-1] + docker_size[-1].upper() + "i"


def _ingress(spec: Spec) -> Literal["client-label", "cluster", "anywhere"]:
    if spec.server.api_key_env is None:
        return "client-label"
    return "cluster" if is_loopback(spec.server.host) else "anywhere"


def _skips(plan: LaunchPlan) -> tuple[CheckSkip, ...]:
    skips = [
        CheckSkip(
            "CKV_K8S_43",
            "the image is pinned by its release tag; its digest is not known when rendering",
        )
    ]
    if plan.secrets:
        skips.append(
            CheckSkip(
                "CKV_K8S_35",
                "the engine reads its API key and HF_TOKEN from the environment only; "
                "the values come from a Secret by reference",
            )
        )
    return tuple(skips)
