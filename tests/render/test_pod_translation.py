"""tests/support/pod_docker.py refuses what it cannot carry over, so the pod runs on Docker
(tests/render/test_pods_on_docker.py) prove what they claim: a field added to the pod template
later fails here until the translation learns what the kubelet does with it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.support.bundles import render_spec
from tests.support.kube import load_documents
from tests.support.pod_docker import (
    UntranslatedFieldError,
    docker_run,
    pod_template,
    quantity_bytes,
)


@pytest.fixture(scope="module", params=["llamacpp", "vllm"])
def pod(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The rendered pod template of a CPU deployment of each engine that runs here."""
    folder = tmp_path_factory.mktemp(request.param)
    model = folder / ("tiny.gguf" if request.param == "llamacpp" else "tiny")
    model.mkdir() if request.param == "vllm" else model.write_bytes(b"")
    runtime: dict[str, object] = {"context_length": 512, "parallel": 1, "threads": 2}
    if request.param == "vllm":
        runtime |= {"kv_cache_memory": "64M", "enforce_eager": True}
    spec = {
        "name": "pod",
        "engine": request.param,
        "model": {"path": str(model)},
        "server": {"host": "127.0.0.1", "port": 8000},
        "runtime": runtime,
    }
    out = render_spec(folder, spec)
    workload = next(d for d in load_documents(out / "kubernetes.yaml") if d["kind"] == "Deployment")
    return pod_template(workload)


def test_every_field_of_the_rendered_pod_is_translated(pod: Any, tmp_path: Path) -> None:
    scratch = tmp_path / "volumes"
    run = docker_run(pod, "pod", scratch)
    argv = run.argv
    container = pod["containers"][0]
    assert argv[argv.index("--user") + 1] == "65532:65532"
    assert argv[argv.index("--group-add") + 1] == str(pod["securityContext"]["fsGroup"])
    assert "--read-only" in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert argv[argv.index("--security-opt") + 1] == "no-new-privileges"
    # The arguments come last, unchanged, after the image.
    assert argv[-len(container["args"]) :] == container["args"]
    assert set(run.probes) == {"startup", "readiness", "liveness"}
    startup = run.probes["startup"]
    assert (startup.period_s, startup.failure_threshold) == (
        container["startupProbe"]["periodSeconds"],
        container["startupProbe"]["failureThreshold"],
    )
    # Unset fields take the kubelet's defaults (core/v1 Probe): 1 s timeout, 3 failures.
    assert startup.timeout_s == 1
    assert run.probes["liveness"].failure_threshold == 3
    shm = [v for v in pod["volumes"] if v["name"] == "dshm"]
    if shm:  # vLLM on CPU: /dev/shm sized by the Memory emptyDir
        size = quantity_bytes(shm[0]["emptyDir"]["sizeLimit"])
        assert argv[argv.index("--shm-size") + 1] == str(size)


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("pod", "hostNetwork", True),
        ("pod", "initContainers", []),
        ("pod", "hostIPC", True),
        ("container", "lifecycle", {"preStop": {"exec": {"command": ["true"]}}}),
        ("container", "workingDir", "/srv"),
        ("container", "envFrom", []),
        ("security", "procMount", "Unmasked"),
        ("podsecurity", "sysctls", []),
        ("probe", "grpc", {"port": 9000}),
    ],
)
def test_a_field_it_does_not_know_is_refused(
    pod: Any, where: str, key: str, value: Any, tmp_path: Path
) -> None:
    scratch = tmp_path / "volumes"
    changed = copy.deepcopy(dict(pod))
    container = changed["containers"][0]
    target = {
        "pod": changed,
        "container": container,
        "security": container["securityContext"],
        "podsecurity": changed["securityContext"],
        "probe": container["livenessProbe"],
    }[where]
    target[key] = value
    with pytest.raises(UntranslatedFieldError, match=key):
        docker_run(changed, "pod", scratch)


def test_a_root_user_is_refused_as_the_kubelet_does(pod: Any, tmp_path: Path) -> None:
    scratch = tmp_path / "volumes"
    changed = copy.deepcopy(dict(pod))
    changed["securityContext"]["runAsUser"] = 0
    with pytest.raises(PermissionError, match="runAsNonRoot"):
        docker_run(changed, "pod", scratch)


def test_volumes_are_folders_made_as_the_kubelet_makes_them(pod: Any, tmp_path: Path) -> None:
    """emptyDir 0777 and a new claim 0755, then fsGroup's: group fsGroup, group rw, setgid."""
    scratch = tmp_path / "volumes"
    docker_run(pod, "pod", scratch)
    group = pod["securityContext"]["fsGroup"]
    kinds = {v["name"]: set(v) - {"name"} for v in pod["volumes"]}
    made = {path.name: path.stat() for path in scratch.iterdir()}
    for name, kind in kinds.items():
        if kind in ({"emptyDir"}, {"persistentVolumeClaim"}) and name != "dshm":
            mode = 0o2777 if kind == {"emptyDir"} else 0o2775
            assert (made[name].st_mode & 0o7777, made[name].st_gid) == (mode, group), name
    assert "dshm" not in made  # /dev/shm is Docker's own tmpfs, sized


def test_a_sized_emptydir_on_disk_is_refused(pod: Any, tmp_path: Path) -> None:
    """The kubelet enforces it by eviction, which a single container run cannot show."""
    changed = copy.deepcopy(dict(pod))
    home = next(v for v in changed["volumes"] if v["name"] == "home")
    home["emptyDir"] = {"sizeLimit": "1Gi"}
    with pytest.raises(UntranslatedFieldError, match="on disk"):
        docker_run(changed, "pod", tmp_path / "volumes")
