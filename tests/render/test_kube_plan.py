"""The Kubernetes and host-cache decisions of `llmgen.render.kube`, read back from the files.

Every expected value is written here from docs/kubernetes.md and docs/scale-out.md's rules: a
StatefulSet from 2 replicas without an existing claim, a LeaderWorkerSet for a spec that spans
nodes (its leader waits up to 300 s more for the Ray cluster), a memory-backed /dev/shm counted
against the memory limit and spelled `Gi`, the pod's CPU limit as the engine's threads when
runtime.threads is unset, the host's Hugging Face cache for docker-run.sh and compose, and the
checkov checks left failing on purpose, each with its reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMOL_GGUF = "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M"
HF_CACHE = "/root/.cache/huggingface"  # the images' own cache (HOME is /root)


def files(text: str) -> dict[str, str]:
    return render(validate_text(text, "spec.yaml").spec).files


def documents(text: str) -> dict[str, Any]:
    loaded = [d for d in yaml.safe_load_all(files(text)["kubernetes.yaml"]) if d]
    return {d["kind"]: d for d in loaded}


def llamacpp(extra: str = "", model: str = f"  id: {SMOL_GGUF}\n") -> str:
    return f"name: demo\nengine: llamacpp\nmodel:\n{model}server:\n  host: 127.0.0.1\n{extra}"


def container(found: dict[str, Any], kind: str = "Deployment") -> dict[str, Any]:
    return dict(found[kind]["spec"]["template"]["spec"]["containers"][0])


def test_a_spec_that_spans_nodes_is_a_leader_worker_set() -> None:
    found = documents((EXAMPLES / "vllm-multinode-lws.yaml").read_text("utf-8"))
    assert set(found) == {"LeaderWorkerSet", "Service", "NetworkPolicy"}
    group = found["LeaderWorkerSet"]["spec"]
    assert (group["replicas"], group["leaderWorkerTemplate"]["size"]) == (2, 2)
    (claim,) = group["leaderWorkerTemplate"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Ti"  # the spec's size
    leader = group["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
    probe = leader["containers"][0]["startupProbe"]
    # Llama-3.1-405B is not in the catalog: vLLM's 600 s start period + 300 s for the workers
    # to join the Ray cluster = 900 s, probed every 10 s: 90.
    assert (probe["failureThreshold"], probe["periodSeconds"]) == (90, 10)
    # The default 16 GiB + Ray's 16g /dev/shm (a memory-backed emptyDir) = 32Gi.
    resources = leader["containers"][0]["resources"]
    assert resources["limits"] == {"cpu": "4", "memory": "32Gi", "nvidia.com/gpu": 8}
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}} in leader[
        "volumes"
    ]
    assert leader["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert leader["tolerations"] == [
        {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"}
    ]


def test_two_replicas_are_a_stateful_set_and_one_a_deployment() -> None:
    two = documents(llamacpp("deploy:\n  replicas: 2\n"))
    assert "Deployment" not in two and "PersistentVolumeClaim" not in two
    assert two["StatefulSet"]["spec"]["replicas"] == 2
    (claim,) = two["StatefulSet"]["spec"]["volumeClaimTemplates"]
    # SmolLM2-1.7B Q4_K_M: 1,048,048,083 bytes x 1.25 = 1.22 GiB -> 2 + 5 = 7Gi.
    assert claim["spec"]["resources"]["requests"]["storage"] == "7Gi"
    one = documents(llamacpp())
    assert "StatefulSet" not in one and one["Deployment"]["spec"]["replicas"] == 1
    claim = one["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "demo-cache"
    assert claim["spec"]["resources"]["requests"]["storage"] == "7Gi"
    assert "storageClassName" not in claim["spec"]
    volumes = one["Deployment"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "cache", "persistentVolumeClaim": {"claimName": "demo-cache"}} in volumes
    sized = documents(llamacpp("deploy:\n  storage:\n    size: 9Gi\n    class_name: ssd\n"))
    assert sized["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"] == "9Gi"
    assert sized["PersistentVolumeClaim"]["spec"]["storageClassName"] == "ssd"


def test_the_cache_is_mounted_beside_a_local_model_file() -> None:
    found = documents((EXAMPLES / "llamacpp-gpu-local.yaml").read_text("utf-8"))
    mounts = {m["name"]: m["mountPath"] for m in container(found)["volumeMounts"]}
    assert mounts["cache"] == HF_CACHE
    assert mounts["model"] == "/srv/models/mistral-7b-instruct-v0.3.Q5_K_M.gguf"
    # A local file: no catalog size, so llama.cpp's 300 s start period alone: 30 probes.
    assert container(found)["startupProbe"]["failureThreshold"] == 30


def test_the_pod_s_threads_follow_its_cpu_limit() -> None:
    rendered = files(llamacpp())
    args = container(documents(llamacpp()))["args"]
    # No runtime.threads: the pod's default 4 CPUs become --threads 4 in the pod only.
    assert args[args.index("--threads") + 1] == "4"
    assert "--threads" not in rendered["launch.sh"]
    six = container(documents(llamacpp("runtime:\n  threads: 6\n")))
    assert six["args"][six["args"].index("--threads") + 1] == "6"
    assert six["resources"]["limits"]["cpu"] == "6"
    # vLLM's CPU build: OpenMP unpinned and sized to the limit in the pod, over the container's
    # own binding (docker-run.sh keeps VLLM_CPU_OMP_THREADS_BIND=0-3 for runtime.threads 4).
    cpu = (EXAMPLES / "vllm-cpu-smollm2.yaml").read_text("utf-8")
    env = {e["name"]: e.get("value") for e in container(documents(cpu))["env"]}
    assert (env["VLLM_CPU_OMP_THREADS_BIND"], env["OMP_NUM_THREADS"]) == ("nobind", "4")
    assert "--env VLLM_CPU_OMP_THREADS_BIND=0-3 \\" in files(cpu)["docker-run.sh"]


CKV_43 = "CKV_K8S_43=the image is pinned by its release tag; its digest is not known when rendering"
CKV_35 = (
    "CKV_K8S_35=the engine reads its API key and HF_TOKEN from the environment only; the "
    "values come from a Secret by reference"
)


def test_checkov_checks_left_failing_say_why() -> None:
    hub = documents(llamacpp())["Deployment"]["metadata"]["annotations"]
    assert hub == {"checkov.io/skip1": CKV_43, "checkov.io/skip2": CKV_35}  # HF_TOKEN
    local = llamacpp(model="  path: /srv/models/m.gguf\n")
    annotations = documents(local)["Deployment"]["metadata"]["annotations"]
    assert annotations == {"checkov.io/skip1": CKV_43}  # no secret at all


def test_the_host_cache_for_docker_run_and_compose() -> None:
    shell_cache = '"${HF_HOME:-$HOME/.cache/huggingface}"'
    compose_cache = '"${HF_HOME:-${HOME}/.cache/huggingface}"'
    mine = files(llamacpp("container:\n  model_cache: host\n"))
    run = mine["docker-run.sh"]
    assert (
        "# The model cache is the host's Hugging Face cache ($HF_HOME, else "
        "~/.cache/huggingface); made here so it belongs to you, not to root.\n"
        f"mkdir -p {shell_cache}\n"
    ) in run
    assert f"    --volume {shell_cache}:/hf-cache \\\n" in run
    assert "    --env HOME=/tmp \\\n    --env LLAMA_CACHE=/hf-cache/hub \\\n" in run
    assert '    --user "$(id -u):$(id -g)" \\\n' in run
    compose = yaml.safe_load(mine["compose.yaml"])
    (service,) = compose["services"].values()
    assert service["user"] == "${LLMGEN_USER:?set LLMGEN_USER to your uid:gid (id -u, id -g)}"
    assert service["environment"]["HOME"] == "/tmp"
    assert service["environment"]["LLAMA_CACHE"] == "/hf-cache/hub"
    (volume,) = service["volumes"]
    assert (volume["source"], volume["target"]) == (compose_cache.strip('"'), "/hf-cache")
    assert f"        source: {compose_cache}\n" in mine["compose.yaml"]
    assert "LLMGEN_USER=" in mine["README.md"]
    # vLLM's image runs as root: the cache at the image's own path, no --user.
    vllm = "name: demo\nengine: vllm\nmodel:\n  id: HuggingFaceTB/SmolLM2-360M-Instruct\n"
    theirs = files(vllm + "container:\n  model_cache: host\n")
    assert f"    --volume {shell_cache}:{HF_CACHE} \\\n" in theirs["docker-run.sh"]
    assert "--user" not in theirs["docker-run.sh"]
    assert "user" not in yaml.safe_load(theirs["compose.yaml"])["services"]["demo"]
    # The default: a named volume, no host cache.
    assert "HF_HOME" not in files(vllm)["docker-run.sh"]


def test_the_readme_says_who_reaches_the_single_host_targets() -> None:
    loopback = files(llamacpp())["README.md"]
    assert (
        "| API key | none: launch.sh, docker-run.sh, compose and the unit listen on loopback, "
        "this host only; in Kubernetes only labelled pods may connect (see below) |"
    ) in loopback
    public = files(
        "name: demo\nengine: llamacpp\nmodel:\n"
        f"  id: {SMOL_GGUF}\nserver:\n  host: 0.0.0.0\n  allow_unauthenticated: true\n"
    )["README.md"]
    assert (
        "| API key | none: launch.sh, docker-run.sh, compose and the unit listen on 0.0.0.0, "
        "open to the network (allow_unauthenticated); in Kubernetes only labelled pods may "
        "connect (see below) |"
    ) in public


def test_llamacpp_across_hosts_stays_one_pod_in_kubernetes() -> None:
    # llama.cpp's RPC workers run outside Kubernetes (docs/scale-out.md): one Deployment, and
    # no Ray wait in the start-up budget: 300 s + 1 GiB started x 60 s = 360 s: 36 probes.
    found = documents(llamacpp("runtime:\n  gpus: 1\ndeploy:\n  nodes: 2\n"))
    assert set(found) == {"Deployment", "PersistentVolumeClaim", "Service", "NetworkPolicy"}
    assert container(found)["startupProbe"]["failureThreshold"] == 36
    assert "dshm" not in {
        v["name"] for v in found["Deployment"]["spec"]["template"]["spec"]["volumes"]
    }


def test_a_recipe_outside_kubernetes_never_sizes_the_pod_s_shared_memory() -> None:
    # Only a LeaderWorkerSet's recipe sets the pod's /dev/shm. llama.cpp's RPC recipe has none;
    # given one by hand (8g), the single pod still keeps llama.cpp's own: none, and 2Gi of
    # memory as in test_llamacpp_across_hosts_stays_one_pod_in_kubernetes's spec.
    from dataclasses import replace

    from llmgen.engines import engine_of
    from llmgen.render.kube import kube_plan
    from llmgen.render.multinode import multinode_plan

    spec = validate_text(llamacpp("runtime:\n  gpus: 1\ndeploy:\n  nodes: 2\n"), "s.yaml").spec
    plan = engine_of(spec).plan(spec)
    recipe = multinode_plan(spec, engine_of(spec), plan)
    assert recipe is not None and not recipe.kubernetes
    kube = kube_plan(spec, plan, replace(recipe, shm_size="8g"))
    assert (kube.kind, kube.shm_size, kube.memory, kube.multinode) == (
        "Deployment",
        None,
        "2Gi",
        None,
    )
