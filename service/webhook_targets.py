"""Where a webhook may send: public addresses only, unless the deployment allows private ones.

A webhook URL is a request the server makes on a user's behalf. Unchecked, any user could
make Tickler POST to its own Dapr sidecar (localhost:3500), the cloud metadata service
(169.254.169.254) or the cluster's internal services: server-side request forgery. So a URL
naming a loopback, private, link-local or otherwise non-public address is refused when it
is set, and every delivery resolves the host once, refuses it unless every address is
public, and connects to the address it checked (the Host header and TLS server name stay the
original host), so a DNS answer that changes between check and connect cannot slip through.
Local development and the test suite, whose receivers run on loopback, allow private targets
(`TICKLER_WEBHOOK_PRIVATE_TARGETS`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from domain.errors import ValidationFailed

Resolver = Callable[[str, int], Awaitable[list[str]]]


class RefusedTarget(Exception):
    """The webhook's host is, or resolves to, an address deliveries may not reach."""


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> None:
    """When the webhook is set: refuse a host that names a non-public address outright."""
    if allow_private:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationFailed.field("url", "must be a public address, not localhost")
    try:
        literal = is_public(host)
    except ValueError:
        return  # a name: checked against what it resolves to at each delivery
    if not literal:
        raise ValidationFailed.field(
            "url", "must be a public address, not a loopback, private or link-local one"
        )


@dataclass(frozen=True)
class Target:
    """What to connect to for one delivery."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, Any] = field(default_factory=dict)


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


async def pin(url: str, *, allow_private: bool, resolve: Resolver = _getaddrinfo) -> Target:
    """Resolve the host once and connect to a checked address. Raises RefusedTarget, or
    OSError when the name does not resolve (a delivery to retry)."""
    if allow_private:
        return Target(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = await resolve(host, port)
    refused = [a for a in addresses if not is_public(a)]
    if refused or not addresses:
        raise RefusedTarget(f"{host} resolves to non-public addresses {refused}")
    address = addresses[0]
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"[{address}]" if ":" in address else address
    if parts.port is not None:
        netloc += f":{parts.port}"
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host:  # an IPv6 literal keeps its brackets in the Host header
        host_header = f"[{host}]" + (f":{parts.port}" if parts.port is not None else "")
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(urlunsplit(parts._replace(netloc=netloc)), {"host": host_header}, extensions)
