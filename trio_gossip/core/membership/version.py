"""verifyProtocol: refuse a push/pull whose protocol or delegate versions don't fit ours."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from trio_gossip.wire.errors import GossipError
from trio_gossip.wire.messages import NodeState, PushNodeState

if TYPE_CHECKING:
    from trio_gossip.core.membership.member import Member
    from trio_gossip.core.membership.state import MembershipState


_VSN = attrgetter("vsn")
_STATE = attrgetter("state")


def _pairs(nodes: Iterable[PushNodeState] | Iterable[Member]) -> set[tuple[bytes, int]]:
    """The distinct (Vsn, state) pairs, gathered at C speed: a push/pull lists every member
    and a cluster has a handful of pairs (this runs on every push/pull). Most clusters run one
    build: one Vsn, paired with each state, costs two passes with no tuple per node.
    ``nodes`` is iterated more than once: a sequence, or a map's view of its values."""
    vsns = set(map(_VSN, nodes))
    if len(vsns) == 1:
        (vsn,) = vsns
        return {(vsn, s) for s in set(map(_STATE, nodes))}
    return set(zip(map(_VSN, nodes), map(_STATE, nodes), strict=True))


class ProtocolVersionError(GossipError):
    """A peer speaks a protocol or delegate version outside what the whole cluster accepts."""


def verify_protocol(state: MembershipState, remote: Sequence[PushNodeState],
                    local_pairs: set[tuple[bytes, int]] | None = None) -> None:  # fmt: skip
    """Raise ProtocolVersionError unless every node's current versions fit the cluster's range.

    The range is the overlap of all *alive* nodes' [min, max] on both sides; every node of both
    sides, whatever its state, must then speak a current version inside it. A Vsn shorter than
    6 bytes reads as current versions 0, which fails against any real cluster.
    ``local_pairs``: our members' distinct (Vsn, state) pairs, when the caller keeps them.
    """
    # Checked once per distinct Vsn (a cluster has a handful; a push/pull lists every node),
    # and the error names the first node, remote ones first, whose Vsn fails.
    members = state.members.values()
    remote_pairs = _pairs(remote)
    if local_pairs is None:
        local_pairs = _pairs(members)
    alive = {bytes(v) for v, s in remote_pairs if s == NodeState.ALIVE and len(v) >= 5}
    alive.update(v for v, s in local_pairs if s == NodeState.ALIVE)
    max_pmin = max((v[0] for v in alive), default=0)
    min_pmax = min((v[1] for v in alive), default=255)
    max_dmin = max((v[3] for v in alive), default=0)
    min_dmax = min((v[4] for v in alive), default=255)

    def problem(name: str, vsn: bytes) -> str | None:
        pcur, dcur = (vsn[2], vsn[5]) if len(vsn) >= 6 else (0, 0)
        if not max_pmin <= pcur <= min_pmax:
            return (f"node {name!r} uses protocol version {pcur}, cluster range is"
                    f" [{max_pmin}, {min_pmax}]")  # fmt: skip
        if not max_dmin <= dcur <= min_dmax:
            return (f"node {name!r} uses delegate protocol version {dcur}, cluster range is"
                    f" [{max_dmin}, {min_dmax}]: set delegate_protocol_min/max/version to fit"
                    " (Config.serf() joins Serf agents; the default [0, 0, 0] joins plain"
                    " memberlist programs)")  # fmt: skip
        return None

    every = {bytes(v) for v, _ in remote_pairs}
    every.update(v for v, _ in local_pairs)
    bad = {vsn for vsn in every if problem("", vsn) is not None}
    if not bad:
        return
    nodes = [(r.name, bytes(r.vsn)) for r in remote] + [(m.name, m.vsn) for m in members]
    for name, vsn in nodes:
        if vsn in bad:
            raise ProtocolVersionError(problem(name, vsn) or name)
