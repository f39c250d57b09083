"""What the systemd unit needs so that it runs the engine the way launch.sh does."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from llmgen.records import record

if TYPE_CHECKING:
    from llmgen.spec.models import Spec


# systemd's own PATH for services (systemd.exec(5), "Environment variables in spawned processes").
SYSTEMD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
PRIVILEGED_PORTS = 1024
TEMP_DIRS = ("/tmp/", "/var/tmp/")
# The open-files soft limit an engine raises itself to at start-up, within the hard limit only:
# vLLM 0.32.0 vllm/entrypoints/launchers/launcher.py:402 calls set_ulimit() "to avoid footguns
# where uvicorn drops requests with too many concurrent requests active", which asks for
# (65535, hard) (vllm/utils/system_utils.py:241-262) and only logs a warning when the hard limit
# is lower. The unit asks for it itself, so the engine gets it whatever the host's
# DefaultLimitNOFILE says (systemd clamps it to what the manager may give, as under the
# tests' container systemd, tests/render/test_systemd_runtime.py).
OPEN_FILES = {"vllm": 65535}
# systemd's own hard limit for services (systemd.exec(5), LimitNOFILE=: 1024:524288).
OPEN_FILES_HARD = 524288


@record
class UnitSettings:
    """Sandbox choices that depend on the spec, as plain values for the unit template."""

    path: str  # PATH with the executable's folder first: engines start helpers by name
    bind_privileged_port: bool  # port < 1024 under DynamicUser needs CAP_NET_BIND_SERVICE
    address_families: str  # gloo and tensor parallel discover interfaces over AF_NETLINK
    private_tmp: bool  # a model under /tmp would be hidden by PrivateTmp=yes
    open_files: str | None = None  # LimitNOFILE= for an engine that raises its own limit


def unit_settings(spec: Spec, unit_executable: str) -> UnitSettings:
    """The unit's sandbox for this spec."""
    folder = posixpath.dirname(unit_executable)
    path = SYSTEMD_PATH if folder in SYSTEMD_PATH.split(":") else f"{folder}:{SYSTEMD_PATH}"
    families = "AF_INET AF_INET6 AF_UNIX"
    # vLLM's worker always joins a torch.distributed (gloo) group, even alone, and gloo lists
    # the interfaces over netlink: without it "Address family not supported by protocol"
    # (seen under a real systemd 252, tests/render/test_systemd_runtime.py).
    if spec.runtime.gpus > 1 or spec.engine == "vllm":
        families += " AF_NETLINK"
    model = spec.model.path or ""
    return UnitSettings(
        path=path,
        bind_privileged_port=spec.server.port < PRIVILEGED_PORTS,
        address_families=families,
        private_tmp=not any((model + "/").startswith(d) for d in TEMP_DIRS),
        open_files=(
            f"{OPEN_FILES[spec.engine]}:{OPEN_FILES_HARD}" if spec.engine in OPEN_FILES else None
        ),
    )
