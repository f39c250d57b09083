"""What the systemd unit needs so that it runs the engine the way launch.sh does."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmgen.spec.models import Spec


# systemd's own PATH for services (systemd.exec(5), "Environment variables in spawned processes").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
PRIVILEGED_PORTS = 1024
TEMP_DIRS = ("/tmp/", "/var/tmp/")


@dataclass(frozen=True)
class UnitSettings:
    """Sandbox choices that depend on the spec, as plain values for the unit template."""

    path: str  # PATH with the executable's folder first: engines start helpers by name
    bind_privileged_port: bool  # port < 1024 under DynamicUser needs CAP_NET_BIND_SERVICE
    address_families: str  # tensor parallel discovers interfaces over AF_NETLINK
    private_tmp: bool  # a model under /tmp would be hidden by PrivateTmp=yes


def unit_settings(spec: Spec, unit_executable: str) -> UnitSettings:
    """The unit's sandbox for this spec."""
    folder = posixpath.dirname(unit_executable)
    path = SYSTEMD_PATH if folder in SYSTEMD_PATH.split(":") else f"{folder}:{SYSTEMD_PATH}"
    families = "AF_INET AF_INET6 AF_UNIX"
    if spec.runtime.gpus > 1:
        families += " AF_NETLINK"
    model = spec.model.path or ""
    return UnitSettings(
        path=path,
        bind_privileged_port=spec.server.port < PRIVILEGED_PORTS,
        address_families=families,
        private_tmp=not any((model + "/").startswith(d) for d in TEMP_DIRS),
    )
