"""SSRF guard for URLs the app itself fetches (the `/gist` probe of an extensionless link).

`check_url` accepts only `http`/`https` URLs whose host resolves exclusively to public
addresses. Rejected: loopback, private (RFC 1918, `fc00::/7`), link-local (`169.254/16`,
`fe80::/10`), cloud metadata (`169.254.169.254`, `fd00:ec2::254`, `metadata.google.internal`),
unspecified, multicast, reserved, CGNAT `100.64/10`, and IPv6 forms that embed one of those
(IPv4-mapped `::ffff:a.b.c.d`, 6to4, Teredo; NAT64 `64:ff9b::/96` is reserved and so refused).

``allow_private=True`` switches the guard off entirely: any host and any address is accepted,
**including cloud-metadata addresses**, and no DNS lookup is made. It exists for on-premise
deployments that fetch from a private network and for tests that serve from `127.0.0.1`; never
turn it on for an app reachable by untrusted users on a cloud VM.

Resolution goes through `loop.getaddrinfo`, which runs in the default executor and never blocks
the event loop. A check is only as good as the connection that follows it: `probe.py` pins the
connection to the addresses checked here and verifies the peer address after connecting, so DNS
rebinding between the check and the request can't slip through.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Literal

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BlockKind = Literal["scheme", "host", "private", "unresolvable"]

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Names refused before any DNS lookup (they resolve to internal addresses where they resolve).
_BLOCKED_NAMES = frozenset({"localhost", "metadata.google.internal", "metadata.goog", "metadata"})
_BLOCKED_SUFFIXES = (".localhost",)

# Metadata endpoints: covered by the link-local / private rules, listed for the clearer message.
_METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class BlockedUrl(Exception):
    """The URL may not be fetched by the app. `reason` is safe to show to a user."""

    def __init__(self, reason: str, *, kind: BlockKind = "private") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind: BlockKind = kind


def is_public_address(ip: IPAddress) -> bool:
    """True when `ip` is a globally routable unicast address (see the module docstring)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip.teredo is not None:
            embedded = ip.teredo[1]
        if embedded is not None and not is_public_address(embedded):
            return False
        if ip.is_site_local:
            return False
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return bool(
        ip.is_global
        and not ip.is_private
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_multicast
        and not ip.is_reserved
        and not ip.is_unspecified
    )


def _describe(ip: IPAddress) -> str:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _describe(ip.ipv4_mapped)
    if ip in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "this machine (loopback)"
    if ip.is_link_local:
        return "a link-local address"
    return "a private or reserved address"


def parse_http_url(url: str | httpx.URL) -> httpx.URL:
    """Parse `url`, insisting on an http(s) scheme and a host. Raises `BlockedUrl`."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise BlockedUrl("That doesn't look like a valid link.", kind="host") from exc
    if parsed.scheme not in ALLOWED_SCHEMES:
        raise BlockedUrl("Only http:// and https:// links can be fetched.", kind="scheme")
    if not parsed.host:
        raise BlockedUrl("That link has no host name.", kind="host")
    return parsed


def normalise_host(host: str) -> str:
    return host.rstrip(".").lower()


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_address(ip: IPAddress, *, allow_private: bool) -> None:
    """Raise `BlockedUrl` unless `ip` is public (or `allow_private`)."""
    if allow_private or is_public_address(ip):
        return
    raise BlockedUrl(f"That link points to {_describe(ip)}, which the app won't fetch.")


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Resolve `host` without blocking the loop; addresses in resolver order, de-duplicated.

    Raises `BlockedUrl(kind="unresolvable")` when the name doesn't resolve.
    """
    literal = _literal_ip(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BlockedUrl(f"Couldn't find the host {host!r}.", kind="unresolvable") from exc
    out: list[IPAddress] = []
    for family, _type, _proto, _canon, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    if not out:
        raise BlockedUrl(f"Couldn't find the host {host!r}.", kind="unresolvable")
    return out


def _effective_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def resolve_checked(url: str | httpx.URL, *, allow_private: bool) -> list[IPAddress]:
    """Check `url` and return the addresses it resolves to, every one of them allowed.

    Unlike `check_url`, this always resolves (the probe connects to exactly these addresses).
    """
    parsed = parse_http_url(url)
    host = normalise_host(parsed.raw_host.decode("ascii"))
    if not allow_private:
        _check_name(host)
    addresses = await resolve_host(host, _effective_port(parsed))
    for ip in addresses:
        check_address(ip, allow_private=allow_private)
    return addresses


def _check_name(host: str) -> None:
    if host in _BLOCKED_NAMES or host.endswith(_BLOCKED_SUFFIXES):
        what = "a cloud metadata service" if "metadata" in host else "this machine"
        raise BlockedUrl(f"That link points to {what}, which the app won't fetch.", kind="host")


async def check_url(url: str, *, allow_private: bool) -> None:
    """Raise `BlockedUrl` unless the app may fetch `url` (see the module docstring).

    With `allow_private` only the scheme and the presence of a host are checked (no DNS).
    """
    if allow_private:
        parse_http_url(url)
        return
    await resolve_checked(url, allow_private=False)
