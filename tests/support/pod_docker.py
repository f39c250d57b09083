"""A rendered pod template run on the Docker Engine as a container runtime would run it.

Test support, not product code: the tests start the pod template's one container with the
pod's own settings, then probe it as the kubelet would (tests/support/pod_probes.py). The
translation follows what the kubelet asks of the container runtime:

- `securityContext.runAsUser/runAsGroup` -> `--user UID:GID`; `fsGroup` -> `--group-add GID`,
  and the volumes the kubelet hands to fsGroup (emptyDir, claims) are owned by that group with
  the setgid bit, as the kubelet's SetVolumeOwnership leaves them; `runAsNonRoot` is checked as
  the kubelet checks it (a user of 0 is refused before start).
- `readOnlyRootFilesystem` -> `--read-only`; `allowPrivilegeEscalation: false` ->
  `--security-opt no-new-privileges`; `capabilities.drop/add` -> `--cap-drop/--cap-add`;
  `seccompProfile: RuntimeDefault` is Docker's default profile.
- each `emptyDir` and `persistentVolumeClaim` -> a fresh folder bind-mounted at its mount path,
  made as the kubelet makes it on the node (emptyDir 0777, a new claim 0755) and handed to
  fsGroup (a tmpfs would not do: runc gives a tmpfs the mode of the image's folder beneath it,
  0700 for /root, where the kubelet's bind mount shows the volume's own); a Memory emptyDir at
  /dev/shm -> `--shm-size` of its sizeLimit (the kubelet mounts a tmpfs of that size); a
  `hostPath` -> a bind mount of the same path, read-only when the mount says so, after the
  kubelet's own type check (Directory / File must exist).
- `command` / `args` replace the image's ENTRYPOINT / CMD; `env` values are passed as they
  are, `secretKeyRef` values from the secrets the test hands over (an optional one may be
  missing, as in the cluster).
- `resources.limits` -> `--cpus` and `--memory`; requests only place a pod, so they change
  nothing on one node; nodeSelector and tolerations likewise.
- `imagePullPolicy`: nothing can be pulled here, so the local stand-in image runs
  (`--pull never`).
- container ports are published on loopback only (the tests reach the pod through it, where
  the kubelet reaches the pod's IP).

Every field the translation does not know is refused (UntranslatedFieldError naming its path),
so a field added to the template cannot be silently left out of the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

# Fields that only place the pod or say what the cluster must not do for it; the Docker run of
# one container has no equivalent to apply (and no service account or service links to add).
SCHEDULING_ONLY = ("nodeSelector", "tolerations")
POD_FIELDS = {
    "automountServiceAccountToken",
    "enableServiceLinks",
    "securityContext",
    "containers",
    "volumes",
    *SCHEDULING_ONLY,
}
POD_SECURITY_FIELDS = {"runAsNonRoot", "runAsUser", "runAsGroup", "fsGroup", "seccompProfile"}
CONTAINER_FIELDS = {
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "args",
    "ports",
    "env",
    "startupProbe",
    "readinessProbe",
    "livenessProbe",
    "securityContext",
    "resources",
    "volumeMounts",
}
CONTAINER_SECURITY_FIELDS = {
    "allowPrivilegeEscalation",
    "privileged",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "capabilities",
}
PORT_FIELDS = {"name", "containerPort"}
MOUNT_FIELDS = {"name", "mountPath", "readOnly"}
ENV_FIELDS = {"name", "value", "valueFrom"}
PROBE_FIELDS = {
    "httpGet",
    "exec",
    "periodSeconds",
    "failureThreshold",
    "successThreshold",
    "timeoutSeconds",
    "initialDelaySeconds",
}
SHM = "/dev/shm"

_BINARY = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
_DECIMAL = {"k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


class UntranslatedFieldError(ValueError):
    """A pod field this translation does not carry over to Docker."""


def _only(found: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(found) - allowed)
    if unknown:
        raise UntranslatedFieldError(
            f"{where}: {', '.join(unknown)} not translated to Docker "
            "(teach tests/support/pod_docker.py what the kubelet does with it)"
        )


def quantity_bytes(text: str | int) -> int:
    """A Kubernetes memory quantity (`16Gi`, `512M`, `1024`) in bytes."""
    value = str(text)
    for suffix, factor in {**_BINARY, **_DECIMAL}.items():
        if value.endswith(suffix):
            return int(float(value.removesuffix(suffix)) * factor)
    return int(value)


def cpu_count(text: str | int | float) -> float:
    """A Kubernetes CPU quantity (`2`, `500m`) in CPUs."""
    value = str(text)
    return int(value.removesuffix("m")) / 1000 if value.endswith("m") else float(value)


@dataclass(frozen=True)
class Probe:
    """One kubelet probe: an HTTP GET on a container port, or a command run in the container."""

    kind: str  # startup, readiness, liveness
    period_s: float
    failure_threshold: int
    success_threshold: int
    timeout_s: float
    initial_delay_s: float
    http_path: str | None = None
    http_port: int | None = None
    command: tuple[str, ...] = ()


@dataclass
class PodRun:
    """The `docker run` argv of the pod's container, and its probes."""

    name: str
    argv: list[str]
    probes: dict[str, Probe]
    ports: dict[str, int]


def _probe(kind: str, raw: Mapping[str, Any], ports: Mapping[str, int], where: str) -> Probe:
    _only(raw, PROBE_FIELDS, where)
    # The kubelet's defaults (k8s.io/api core/v1 Probe): period 10 s, timeout 1 s, 3 failures.
    common = Probe(
        kind=kind,
        period_s=float(raw.get("periodSeconds", 10)),
        failure_threshold=int(raw.get("failureThreshold", 3)),
        success_threshold=int(raw.get("successThreshold", 1)),
        timeout_s=float(raw.get("timeoutSeconds", 1)),
        initial_delay_s=float(raw.get("initialDelaySeconds", 0)),
    )
    if "httpGet" in raw:
        http = raw["httpGet"]
        _only(http, {"path", "port"}, f"{where}.httpGet")
        port = http["port"]
        number = ports[port] if isinstance(port, str) else int(port)
        return replace(common, http_path=str(http.get("path", "/")), http_port=number)
    if "exec" in raw:
        _only(raw["exec"], {"command"}, f"{where}.exec")
        return replace(common, command=tuple(raw["exec"]["command"]))
    raise UntranslatedFieldError(f"{where}: a probe without httpGet or exec")


def _pod_folder(scratch: Path, name: str, mode: int, fs_group: int | None) -> Path:
    """A fresh folder for one volume, as the kubelet makes it on the node: emptyDir
    (pkg/volume/emptydir) 0777, a claim's root as provisioned; then fsGroup's ownership
    (pkg/volume/volume_linux.go SetVolumeOwnership: group fsGroup, group rw, setgid)."""
    folder = scratch / name
    folder.mkdir(parents=True)
    if fs_group is not None:
        os.chown(folder, 0, fs_group)
        mode |= 0o2070
    folder.chmod(mode)
    return folder


def _volume_args(
    pod: Mapping[str, Any],
    mounts: list[Mapping[str, Any]],
    fs_group: int | None,
    scratch: Path,
    where: str,
) -> list[str]:
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    argv: list[str] = []
    for index, mount in enumerate(mounts):
        here = f"{where}.volumeMounts[{index}]"
        _only(mount, MOUNT_FIELDS, here)
        target = mount["mountPath"]
        volume = volumes[mount["name"]]
        kinds = set(volume) - {"name"}
        read_only = bool(mount.get("readOnly", False))
        mode = "ro" if read_only else "rw"
        if kinds == {"emptyDir"}:
            empty = volume["emptyDir"] or {}
            _only(empty, {"medium", "sizeLimit"}, f"volumes[{mount['name']}].emptyDir")
            if empty.get("medium") == "Memory":
                # The kubelet mounts a tmpfs of sizeLimit; Docker's own /dev/shm is one.
                if target != SHM or "sizeLimit" not in empty:
                    raise UntranslatedFieldError(f"{here}: a Memory emptyDir other than /dev/shm")
                argv += ["--shm-size", str(quantity_bytes(empty["sizeLimit"]))]
                continue
            if "medium" in empty or "sizeLimit" in empty:
                # On disk the kubelet enforces sizeLimit by eviction, which one node cannot show.
                raise UntranslatedFieldError(f"{here}: emptyDir {sorted(empty)} on disk")
            folder = _pod_folder(scratch, mount["name"], 0o777, fs_group)
            argv += ["--volume", f"{folder}:{target}:{mode}"]
        elif kinds == {"persistentVolumeClaim"}:
            # A freshly provisioned claim: an empty folder (0755 root, as local provisioners
            # make it) handed to fsGroup.
            folder = _pod_folder(scratch, mount["name"], 0o755, fs_group)
            argv += ["--volume", f"{folder}:{target}:{mode}"]
        elif kinds == {"hostPath"}:
            host = volume["hostPath"]
            _only(host, {"path", "type"}, f"volumes[{mount['name']}].hostPath")
            path = Path(host["path"])
            kind = host.get("type", "")
            if kind not in ("Directory", "File"):
                raise UntranslatedFieldError(f"volumes[{mount['name']}].hostPath.type {kind!r}")
            # The kubelet refuses to start the pod when the typed path is not there.
            if not (path.is_dir() if kind == "Directory" else path.is_file()):
                raise FileNotFoundError(f"hostPath {path} is not a {kind}: the pod would not start")
            argv += ["--volume", f"{path}:{target}:{mode}"]
        else:
            raise UntranslatedFieldError(f"volumes[{mount['name']}]: {sorted(kinds)}")
    return argv


def _env_args(container: Mapping[str, Any], secrets: Mapping[str, str], where: str) -> list[str]:
    argv: list[str] = []
    for index, entry in enumerate(container.get("env", [])):
        _only(entry, ENV_FIELDS, f"{where}.env[{index}]")
        if "value" in entry:
            argv += ["--env", f"{entry['name']}={entry['value']}"]
            continue
        ref = entry["valueFrom"]
        _only(ref, {"secretKeyRef"}, f"{where}.env[{index}].valueFrom")
        key = ref["secretKeyRef"]
        _only(key, {"name", "key", "optional"}, f"{where}.env[{index}].valueFrom.secretKeyRef")
        if key["key"] in secrets:
            argv += ["--env", f"{entry['name']}={secrets[key['key']]}"]
        elif not key.get("optional", False):
            raise KeyError(f"secret key {key['key']!r} is required by the pod; give it")
    return argv


def _security_args(
    pod_security: Mapping[str, Any], security: Mapping[str, Any], where: str
) -> list[str]:
    _only(pod_security, POD_SECURITY_FIELDS, "securityContext")
    _only(security, CONTAINER_SECURITY_FIELDS, f"{where}.securityContext")
    argv: list[str] = []
    seccomp = pod_security.get("seccompProfile", {"type": "RuntimeDefault"})
    if seccomp != {"type": "RuntimeDefault"}:
        raise UntranslatedFieldError(f"securityContext.seccompProfile {seccomp}")
    uid = pod_security.get("runAsUser")
    gid = pod_security.get("runAsGroup", uid)
    non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot", False))
    if non_root and not uid:
        # The kubelet: "container has runAsNonRoot and image will run as root".
        raise PermissionError(f"{where}: runAsNonRoot without a non-zero runAsUser")
    if uid is not None:
        argv += ["--user", f"{int(uid)}:{int(gid)}"]
    if "fsGroup" in pod_security:
        argv += ["--group-add", str(pod_security["fsGroup"])]
    if security.get("privileged", False):
        raise UntranslatedFieldError(f"{where}.securityContext.privileged: true")
    if security.get("readOnlyRootFilesystem", False):
        argv.append("--read-only")
    if security.get("allowPrivilegeEscalation", True) is False:
        argv += ["--security-opt", "no-new-privileges"]
    caps = security.get("capabilities", {})
    _only(caps, {"drop", "add"}, f"{where}.securityContext.capabilities")
    for cap in caps.get("drop", []):
        argv += ["--cap-drop", cap]
    for cap in caps.get("add", []):
        argv += ["--cap-add", cap]
    return argv


def _resource_args(resources: Mapping[str, Any], where: str) -> list[str]:
    _only(resources, {"requests", "limits"}, f"{where}.resources")
    limits = resources.get("limits", {})
    _only(limits, {"cpu", "memory"}, f"{where}.resources.limits")
    _only(resources.get("requests", {}), {"cpu", "memory"}, f"{where}.resources.requests")
    argv: list[str] = []
    if "cpu" in limits:
        argv += ["--cpus", f"{cpu_count(limits['cpu']):g}"]
    if "memory" in limits:
        argv += ["--memory", str(quantity_bytes(limits["memory"]))]
    return argv


def pod_template(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a Deployment or StatefulSet document."""
    spec: Mapping[str, Any] = document["spec"]["template"]["spec"]
    return spec


def docker_run(
    pod: Mapping[str, Any],
    name: str,
    scratch: Path,
    *,
    secrets: Mapping[str, str] | None = None,
) -> PodRun:
    """The `docker run` of `pod`'s only container. Its emptyDir and claim folders are made
    under `scratch` (the caller removes it); `secrets` holds the Secret's keys the pod reads."""
    _only(pod, POD_FIELDS, "pod")
    if pod.get("automountServiceAccountToken", True) is not False:
        raise UntranslatedFieldError("pod: a mounted service account token")
    if pod.get("enableServiceLinks", True) is not False:
        raise UntranslatedFieldError("pod: service link variables")
    containers = pod["containers"]
    if len(containers) != 1:
        raise UntranslatedFieldError(f"pod: {len(containers)} containers (one is translated)")
    container = containers[0]
    where = f"containers[{container['name']}]"
    _only(container, CONTAINER_FIELDS, where)
    ports: dict[str, int] = {}
    argv = ["run", "--detach", "--name", name, "--pull", "never"]
    for index, port in enumerate(container.get("ports", [])):
        _only(port, PORT_FIELDS, f"{where}.ports[{index}]")
        number = int(port["containerPort"])
        ports[port.get("name", str(number))] = number
        argv += ["--publish", f"127.0.0.1:{number}:{number}"]
    security = _security_args(
        pod.get("securityContext", {}), container.get("securityContext", {}), where
    )
    argv += security
    argv += _resource_args(container.get("resources", {}), where)
    fs_group = pod.get("securityContext", {}).get("fsGroup")
    volumes = _volume_args(pod, container.get("volumeMounts", []), fs_group, scratch, where)
    argv += volumes
    argv += _env_args(container, secrets or {}, where)
    command = list(container.get("command", []))
    if command:
        argv += ["--entrypoint", command[0]]
    argv.append(container["image"])
    argv += command[1:]
    argv += [str(arg) for arg in container.get("args", [])]
    probes = {
        kind: _probe(kind, container[f"{kind}Probe"], ports, f"{where}.{kind}Probe")
        for kind in ("startup", "readiness", "liveness")
        if f"{kind}Probe" in container
    }
    return PodRun(name, argv, probes, ports)
