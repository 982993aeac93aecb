"""Join addresses with dskit's DNS prefixes (dskit dns/provider.go, ``Provider.Resolve``):

- ``dns+host:port``: every A and AAAA address of ``host``, on ``port``;
- ``dnssrv+_service._proto.domain``: the SRV records, each target's A/AAAA addresses on the
  record's port;
- ``dnssrvnoa+_service._proto.domain``: the SRV records, each target name as it is (resolved
  afterwards like any host name, without asking the DNS server for A records itself).

Any other address is a plain ``host[:port]`` resolved by the system (getaddrinfo). Nothing is
cached: a join resolves its addresses again on every attempt, so a Kubernetes headless service
that gained or lost pods is seen at once. The lookups go through dnspython (the ``dns`` extra),
imported only when a prefixed address is used.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

import trio

from trio_gossip.transport.base import Address

if TYPE_CHECKING:
    from dns.asyncresolver import Resolver

DNS_A = "dns+"
DNS_SRV = "dnssrv+"
DNS_SRV_NO_A = "dnssrvnoa+"
PREFIXES = (DNS_SRV_NO_A, DNS_SRV, DNS_A)  # longest first: "dnssrv+" is not "dns+"


class DiscoveryError(OSError):
    """A DNS lookup for a join address failed (no such name, no answer, no server)."""


def split_host_port(text: str, default_port: int | None) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: expected [IPV6]:PORT")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"{text!r}: no host")
    if not port_text:
        if default_port is None:
            raise ValueError(f"{text!r}: expected HOST:PORT")
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise ValueError(f"{text!r}: port {port_text!r} is not a number in 1..65535")
    return host, int(port_text)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def system_resolve(host: str, port: int) -> list[Address]:
    """getaddrinfo, every address once, in the order the system gives them."""
    if is_ip(host):
        return [(host, port)]
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except OSError as exc:
        raise DiscoveryError(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
    return list(dict.fromkeys((str(info[4][0]), port) for info in infos))


def _resolver(servers: Sequence[Address], lifetime: float) -> Resolver:
    try:
        import dns.asyncresolver  # noqa: PLC0415
        import dns.nameserver  # noqa: PLC0415
        import dns.resolver  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the install
        raise DiscoveryError(
            "dns+ / dnssrv+ join addresses need dnspython: pip install 'trio-gossip[dns]'"
        ) from None
    try:
        resolver = dns.asyncresolver.Resolver(configure=not servers)
    except dns.resolver.NoResolverConfiguration:
        raise DiscoveryError("no DNS server configured (resolv.conf) for dns+ addresses") from None
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(h, p) for h, p in servers]
    resolver.lifetime = lifetime
    resolver.cache = None  # re-resolve on every attempt, whatever the record's TTL
    return resolver


async def _addresses(resolver: Resolver, host: str, port: int) -> list[Address]:
    """A and AAAA records of ``host`` (an IP literal is itself); empty when there are none."""
    import dns.exception  # noqa: PLC0415
    import dns.resolver  # noqa: PLC0415

    if is_ip(host):
        return [(host, port)]
    found: list[Address] = []
    failures: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            answer = await resolver.resolve(host, rdtype)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            continue
        except dns.exception.DNSException as exc:
            # One family failing (a server that refuses AAAA) is no reason to drop the other,
            # as Go's LookupIPAddr returns what it found.
            failures.append(f"{rdtype} lookup of {host!r} failed: {exc}")
            continue
        found += [(rr.address, port) for rr in answer]
    if not found and failures:
        raise DiscoveryError("; ".join(failures))
    return found


async def _srv(resolver: Resolver, name: str) -> list[tuple[str, int]]:
    import dns.exception  # noqa: PLC0415
    import dns.resolver  # noqa: PLC0415

    try:
        answer = await resolver.resolve(name, "SRV")
    except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
        return []
    except dns.exception.DNSException as exc:
        raise DiscoveryError(f"SRV lookup of {name!r} failed: {exc}") from None
    return [(rr.target.to_text(omit_final_dot=True), int(rr.port)) for rr in answer]


async def resolve_join_address(
    spec: str | tuple[str, int],
    default_port: int,
    *,
    dns_servers: Sequence[Address] = (),
    lifetime: float = 5.0,
) -> list[Address]:
    """Every address ``spec`` stands for now. ``dns_servers`` empty: the system's resolv.conf.

    Raises DiscoveryError when a lookup fails or finds nothing, ValueError on a malformed spec.
    An optional ``name/`` prefix (memberlist's form) is not handled here.
    """
    if isinstance(spec, tuple):
        return await system_resolve(spec[0], int(spec[1]))
    prefix = next((p for p in PREFIXES if spec.startswith(p)), "")
    rest = spec[len(prefix) :]
    if not prefix:
        return await system_resolve(*split_host_port(rest, default_port))
    resolver = _resolver(dns_servers, lifetime)
    if prefix == DNS_A:
        # dskit requires the port here: "dns+" names a host, not a service.
        host, port = split_host_port(rest, None)
        found = await _addresses(resolver, host, port)
    else:
        if not rest:
            raise ValueError(f"{spec!r}: no SRV name after {prefix!r}")
        found = []
        for target, port in await _srv(resolver, rest):
            if prefix == DNS_SRV:
                found += await _addresses(resolver, target, port)
            else:
                found += await system_resolve(target, port)
    if not found:
        raise DiscoveryError(f"{spec}: the DNS lookup found no address")
    return list(dict.fromkeys(found))
