"""What each rendered target must contain, beyond the snapshots: the behaviours users rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from llmgen.engines import ENGINES
from llmgen.render.bundle import Bundle, render
from llmgen.spec.models import parse_spec
from tests.support.versions import newest

MODELS = {
    "vllm": {"id": "org/model"},
    "tgi": {"id": "org/model"},
    "llamacpp": {"id": "org/model-GGUF:Q4_K_M"},
    "sglang": {"id": "org/model"},
}


def bundle(engine: str, **sections: Any) -> Bundle:
    data = {"name": "demo", "engine": engine, "model": MODELS[engine], **sections}
    return render(parse_spec(data))


@pytest.mark.parametrize("engine", list(ENGINES))
def test_cpu_spec_uses_the_cpu_image_and_no_gpu_flags(engine: str) -> None:
    files = bundle(engine, runtime={"gpus": 0}).files
    image = bundle(engine).plan.image
    assert "cuda" not in image and ("cpu" in image or "xeon" in image or engine == "llamacpp")
    assert "--gpus" not in files["docker-run.sh"]
    assert "nvidia" not in files["compose.yaml"] and "nvidia" not in files["kubernetes.yaml"]
    assert "PrivateDevices=yes" in files["demo.service"]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_gpu_spec_asks_for_gpus_everywhere(engine: str) -> None:
    files = bundle(engine, runtime={"gpus": 2}).files
    assert "--gpus 2" in files["docker-run.sh"]
    assert "count: 2" in files["compose.yaml"]
    assert "nvidia.com/gpu: 2" in files["kubernetes.yaml"]
    assert "DeviceAllow=char-nvidiactl rw" in files["demo.service"]
    assert "--shm-size" in files["docker-run.sh"] or engine == "llamacpp"


# ../shared/engines/README.md, "Cross-engine knobs" (GPU image / CPU image rows).
IMAGES = {
    ("vllm", 0): f"vllm/vllm-openai-cpu:v{newest('vllm')}-x86_64",
    ("vllm", 1): f"vllm/vllm-openai:v{newest('vllm')}",
    ("tgi", 0): "ghcr.io/huggingface/text-generation-inference:3.3.7-intel-cpu",
    ("tgi", 1): "ghcr.io/huggingface/text-generation-inference:3.3.7",
    ("llamacpp", 0): "ghcr.io/ggml-org/llama.cpp:server-b11434",
    ("llamacpp", 1): "ghcr.io/ggml-org/llama.cpp:server-cuda-b11434",
    # SGLang's release tags are v<version>; its CPU image is the Xeon build (docs/targets.md).
    ("sglang", 0): "lmsysorg/sglang:v0.5.23-xeon",
    ("sglang", 1): "lmsysorg/sglang:v0.5.23",
}
# Same table, "API key" row: the variable each engine reads its key from.
API_KEY_VARS = {
    "vllm": "VLLM_API_KEY",
    "tgi": "API_KEY",
    "llamacpp": "LLAMA_API_KEY",
    # SGLang reads no variable (fields/serving.py:160): llmgen passes this one as --api-key.
    "sglang": "SGLANG_API_KEY",
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_image_tag_override_reaches_every_container_file(engine: str) -> None:
    result = bundle(engine, container={"image_tag": "custom-1.2"}, runtime={"gpus": 0})
    image = IMAGES[engine, 0].rsplit(":", 1)[0] + ":custom-1.2"
    for name in ("docker-run.sh", "Dockerfile", "compose.yaml", "kubernetes.yaml"):
        assert image in result.files[name]
    assert json.loads(result.files["manifest.json"])["image"] == image


@pytest.mark.parametrize(("engine", "gpus"), list(IMAGES))
def test_images_are_the_pinned_official_ones(engine: str, gpus: int) -> None:
    files = bundle(engine, runtime={"gpus": gpus}).files
    assert json.loads(files["manifest.json"])["image"] == IMAGES[engine, gpus]
    assert f"FROM {IMAGES[engine, gpus]}" in files["Dockerfile"]


@pytest.mark.parametrize("engine", list(ENGINES))
def test_dockerfile_healthcheck_uses_the_real_port_and_path(engine: str) -> None:
    files = bundle(engine, server={"port": 9123}).files
    dockerfile = files["Dockerfile"]
    assert "http://127.0.0.1:9123/health" in dockerfile
    cmd = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD ")) == list(
        bundle(engine, server={"port": 9123}).plan.container_args
    )
    assert "EXPOSE 9123" in dockerfile


@pytest.mark.parametrize("engine", list(ENGINES))
def test_systemd_unit_runs_natively_and_restarts(engine: str) -> None:
    result = bundle(
        engine, server={"api_key_env": "LLM_API_KEY", "executable": "/opt/engine/bin/run"}
    )
    unit = result.files["demo.service"]
    assert "ExecStart=/opt/engine/bin/run" in unit
    assert "Restart=on-failure" in unit
    # With an API key the env file is required, as launch.sh requires the key.
    assert "EnvironmentFile=/etc/llmgen/demo.env\n" in unit
    assert 'Environment="PATH=/opt/engine/bin:' in unit
    assert "DynamicUser=yes" in unit
    default_unit = bundle(engine).files["demo.service"]
    assert f"ExecStart=/usr/local/bin/{ENGINES[engine].executable}" in default_unit


@pytest.mark.parametrize("engine", list(ENGINES))
def test_compose_and_kubernetes_parse_and_probe_patiently(engine: str) -> None:
    files = bundle(engine, server={"api_key_env": "LLM_API_KEY"}).files
    compose = yaml.safe_load(files["compose.yaml"])
    service = compose["services"]["demo"]
    assert service["healthcheck"]["start_period"].endswith("s")
    assert service["environment"][API_KEY_VARS[engine]] == (
        "${LLM_API_KEY:?set LLM_API_KEY to the API key}"
    )
    documents = {d["kind"]: d for d in yaml.safe_load_all(files["kubernetes.yaml"])}
    deployment, svc = documents["Deployment"], documents["Service"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["failureThreshold"] * 10 >= 300
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "demo-secrets"
    assert svc["spec"]["ports"][0]["port"] == 8000


def test_llamacpp_context_covers_every_slot() -> None:
    args = bundle("llamacpp", runtime={"context_length": 2048, "parallel": 3}).plan.args
    assert args[args.index("--ctx-size") + 1] == "6144"
    assert args[args.index("--parallel") + 1] == "3"
    assert args[args.index("--fit") + 1] == "off"


def test_loopback_spec_publishes_on_loopback_and_container_binds_all() -> None:
    plan = bundle("tgi").plan
    assert plan.args[plan.args.index("--hostname") + 1] == "127.0.0.1"
    assert plan.container_args[plan.container_args.index("--hostname") + 1] == "0.0.0.0"
    assert plan.published_host == "127.0.0.1"


def test_ipv6_bind_gives_bracketed_urls() -> None:
    plan = bundle("vllm", server={"host": "::1", "port": 8001}).plan
    assert plan.base_url == "http://[::1]:8001/v1"
    assert plan.published_host == "[::1]"


def test_vllm_cpu_knobs_come_from_the_spec() -> None:
    plan = bundle(
        "vllm", runtime={"threads": 2, "kv_cache_memory": "64M", "enforce_eager": True}
    ).plan
    assert ("VLLM_CPU_OMP_THREADS_BIND", "0-1") in plan.env
    assert plan.args[plan.args.index("--kv-cache-memory-bytes") + 1] == "64M"
    assert "--enforce-eager" in plan.args


def test_deployment_readme_names_what_clients_send() -> None:
    result = bundle("llamacpp", model={"id": "org/m-GGUF:Q8_0", "served_name": "chat"})
    assert "`chat`" in result.files["README.md"]
    assert "http://127.0.0.1:8000/v1" in result.files["README.md"]
