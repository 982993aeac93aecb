"""IP address strings: validation, one canonical spelling, IPv4-mapped IPv6 folding."""

from __future__ import annotations

import ipaddress

from .base import Address, TransportError

# The largest UDP payload: 65535 bytes minus the 8-byte UDP header, minus the 20-byte IPv4
# header for IPv4 (an IPv6 payload length does not count its own header). Past it, a socket's
# sendto fails with EMSGSIZE.
MAX_UDP_PAYLOAD_IPV4 = 65507
MAX_UDP_PAYLOAD_IPV6 = 65527


def canonical_host(host: str) -> str:
    """The canonical spelling of an IP literal ("fd00:0::1" -> "fd00::1"); ValueError otherwise.

    Peers learn addresses from the wire, where they are bytes turned back into the canonical
    string, so every address we register or report must use that same spelling.
    """
    return str(ipaddress.ip_address(host))


def is_ipv6(host: str) -> bool:
    return ":" in host


def unmap_host(host: str) -> str:
    """ "::ffff:1.2.3.4" -> "1.2.3.4", so a dual-stack socket reports IPv4 peers as IPv4."""
    if host.startswith("::ffff:") and "." in host:
        return host[7:]
    return host


def check_address(addr: Address) -> tuple[str, int]:
    """Validate an (ip, port) pair for dialing; TransportError names what is wrong (no DNS)."""
    try:
        host, port = addr
        ipaddress.ip_address(host)
    except (TypeError, ValueError) as exc:
        raise TransportError(f"not an (ip, port) address: {addr!r}") from exc
    if not isinstance(port, int) or not 0 < port < 65536:
        raise TransportError(f"port out of range in {addr!r}")
    return host, port


def max_udp_payload(host: str) -> int:
    return MAX_UDP_PAYLOAD_IPV6 if is_ipv6(host) else MAX_UDP_PAYLOAD_IPV4
