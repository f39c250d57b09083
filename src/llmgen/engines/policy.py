"""Engine-independent rules about who can reach the server."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import TYPE_CHECKING

from llmgen.errors import Diagnostic, error, warning

if TYPE_CHECKING:
    from llmgen.spec.models import Spec


@lru_cache(maxsize=256)
def host_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """`server.host` as an address, parsed once per process (the spec checked its form)."""
    return ipaddress.ip_address(host)


def policy_checks(title: str, open_routes: tuple[str, ...], spec: Spec) -> list[Diagnostic]:
    """A non-loopback bind needs an API key or an explicit opt-out; say what stays open."""
    server = spec.server
    if host_address(server.host).is_loopback:
        return []
    if server.api_key_env is None and not server.allow_unauthenticated:
        return [
            error(
                "server.host",
                f"binding to {server.host} exposes the model to the network without an API key",
                "set server.api_key_env, bind to 127.0.0.1, or set "
                "server.allow_unauthenticated: true",
            )
        ]
    if server.api_key_env is None:
        return [
            warning(
                "server.host",
                f"{server.host} is reachable from the network and "
                "allow_unauthenticated is set: anyone there can use the model",
            )
        ]
    return [
        warning(
            "server.host",
            f"{server.host} is reachable from the network; "
            f"{title} leaves {', '.join(open_routes)} open even with an API key",
            "put a reverse proxy in front if those must be private",
        )
    ]
