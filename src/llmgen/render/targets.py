"""The output registry: which files a deployment consists of and which template makes each.

Adding a target is one folder under templates/ and one entry here.
"""

from __future__ import annotations

from llmgen.records import record


@record
class OutputFile:
    """One generated file: its path in the bundle (may use {name}) and its template."""

    path: str
    template: str


TARGETS: dict[str, tuple[OutputFile, ...]] = {
    "native": (OutputFile("launch.sh", "native/launch.sh.j2"),),
    "docker": (
        OutputFile("docker-run.sh", "docker/docker-run.sh.j2"),
        OutputFile("Dockerfile", "docker/Dockerfile.j2"),
    ),
    "compose": (OutputFile("compose.yaml", "compose/compose.yaml.j2"),),
    "kubernetes": (OutputFile("kubernetes.yaml", "kubernetes/kubernetes.yaml.j2"),),
    "systemd": (OutputFile("{name}.service", "systemd/unit.service.j2"),),
    "clients": (
        OutputFile("clients/client.py", "clients/client.py.j2"),
        OutputFile("clients/client.sh", "clients/client.sh.j2"),
        OutputFile("clients/client.mjs", "clients/client.mjs.j2"),
    ),
    "docs": (OutputFile("README.md", "docs/README.md.j2"),),
}

MANIFEST = "manifest.json"
