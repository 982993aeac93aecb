"""What a node knows about one member, and the events that tell watchers it changed."""

from __future__ import annotations

import enum
import ipaddress

import attrs

from trio_gossip.wire.messages import NodeState


def ip_string(addr: bytes) -> str:
    """Go's ``net.IP(addr).String()``: an IPv4-mapped 16-byte address prints as plain IPv4."""
    if len(addr) == 4:
        # Same text as str(IPv4Address(addr)), without the object (this runs per ping).
        return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}"
    if len(addr) == 16:
        v6 = ipaddress.IPv6Address(addr)
        return str(v6.ipv4_mapped) if v6.ipv4_mapped is not None else str(v6)
    return ""


def ip_bytes(host: str) -> bytes:
    """Packed form of an IP string: 4 bytes for IPv4, as Go advertises an explicit IPv4 address."""
    return ipaddress.ip_address(host).packed


@attrs.frozen
class Member:
    """An immutable snapshot of one member record (memberlist's ``nodeState``).

    ``addr`` keeps the bytes exactly as received (4 or 16 long): Go compares them raw, so they
    are re-gossiped unchanged. ``vsn`` is always the 6 bytes ``[PMin, PMax, PCur, DMin, DMax,
    DCur]`` (zeros until an alive with a full Vsn arrives).
    """

    name: str
    addr: bytes
    port: int
    meta: bytes
    incarnation: int
    state: NodeState
    state_change: float
    vsn: bytes = bytes(6)

    @property
    def host(self) -> str:
        return ip_string(self.addr)

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def pmin(self) -> int:
        return self.vsn[0]

    @property
    def pmax(self) -> int:
        return self.vsn[1]

    @property
    def pcur(self) -> int:
        return self.vsn[2]

    @property
    def dmin(self) -> int:
        return self.vsn[3]

    @property
    def dmax(self) -> int:
        return self.vsn[4]

    @property
    def dcur(self) -> int:
        return self.vsn[5]

    @property
    def is_live(self) -> bool:
        """Alive or Suspect: what ``members()`` lists (suspects are still members)."""
        return self.state in (NodeState.ALIVE, NodeState.SUSPECT)


class EventKind(enum.Enum):
    JOINED = "joined"
    UPDATED = "updated"
    LEFT = "left"
    FAILED = "failed"


@attrs.frozen
class MemberEvent:
    """A membership change for watchers: ``member`` is the record right after the change."""

    kind: EventKind
    member: Member
