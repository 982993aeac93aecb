"""What goes into a node's engine: messages from the network, timers that fired, commands.

Every value is immutable. Commands that a caller waits on carry a ``token``: the engine
answers it with an ``Answer`` effect, and the shell wakes the caller that holds the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from trio_gossip.core.membership.form import Formation
from trio_gossip.core.membership.member import Member
from trio_gossip.wire.messages import PacketMessage, PushNodeState

Address = tuple[str, int]

# ---- from the network ------------------------------------------------------------------


@attrs.frozen(slots=True)
class Received:
    """One message of a datagram from ``source`` (compound parts arrive one by one)."""

    message: PacketMessage
    source: Address


@attrs.frozen(slots=True)
class StreamUser:
    """A user message that arrived over a stream (send_reliable)."""

    payload: bytes


# ---- timers: the probe round and the periodic work, in the way foca drives its core --------


@attrs.frozen(slots=True)
class ProbeTick:
    """Time to probe the next member (memberlist's probe ticker)."""


@attrs.frozen(slots=True)
class ProbeTimeout:
    """The direct ping of probe ``seq`` went unanswered for probe_timeout: go indirect."""

    seq: int


@attrs.frozen(slots=True)
class ProbeDeadline:
    """Probe ``seq`` reached its end (the scaled probe interval): suspect the target if
    nothing answered."""

    seq: int


@attrs.frozen(slots=True)
class AckExpired:
    """Nobody acked ``seq`` (a ping we relay for someone, or the API's ping) in time."""

    seq: int


@attrs.frozen(slots=True)
class SuspicionTimeout:
    """The suspicion timer of ``node`` fired."""

    node: str


@attrs.frozen(slots=True)
class GossipTick:
    """Time to gossip queued broadcasts to gossip_nodes random peers."""


@attrs.frozen(slots=True)
class PushPullStagger:
    """The random stagger before the first push/pull is over: schedule it, scaled for the
    cluster as it is now (memberlist's pushPullTrigger)."""


@attrs.frozen(slots=True)
class PushPullTick:
    """Time for a push/pull with one random peer."""


@attrs.frozen(slots=True)
class ReconnectTick:
    """Time to join a member that failed, maybe (Serf's reconnect ticker)."""


@attrs.frozen(slots=True)
class KVSweep:
    """Time to collect the KV store's expired tombstones and obsolete deleted keys."""


Timer = (
    ProbeTick | ProbeTimeout | ProbeDeadline | AckExpired | SuspicionTimeout | GossipTick
    | PushPullStagger | PushPullTick | ReconnectTick | KVSweep
)  # fmt: skip
"""A timer is its own key: arming one that is already armed moves it."""

# ---- outcomes of I/O the shell carried out --------------------------------------------------


@attrs.frozen(slots=True)
class ProbeSendFailed:
    """The local send of probe ``seq``'s ping failed (an interface down, a closed socket)."""

    seq: int


@attrs.frozen(slots=True)
class SuspectChecked:
    """The last-chance push/pull with suspect ``node`` ended: ``reached`` if it answered
    (its state is merged by then)."""

    node: str
    reached: bool


@attrs.frozen(slots=True)
class TcpPingDone:
    """The TCP fallback ping of probe ``seq`` finished: ``acked`` if the target answered."""

    seq: int
    acked: bool


# ---- commands from the API --------------------------------------------------------------


@attrs.frozen(slots=True)
class Start:
    """Announce ourselves (the first alive) and start the timers."""

    addr: bytes
    port: int
    meta: bytes


@attrs.frozen(slots=True)
class UpdateMeta:
    token: int
    meta: bytes


@attrs.frozen(slots=True)
class Leave:
    """Gossip that we leave. ``farewell`` also sends the news straight to as many peers as a
    broadcast would reach (when nobody will be left to gossip it)."""

    token: int
    farewell: bool = False


@attrs.frozen(slots=True)
class Merge:
    """A peer's push/pull state (join or anti-entropy) to merge into ours; ``catch_up``: the
    answer to a catch-up push/pull of ours (``catch_up_push_pull``)."""

    token: int
    states: tuple[PushNodeState, ...]
    user_state: bytes
    join: bool
    catch_up: bool = False


@attrs.frozen(slots=True)
class WakeGossip:
    """The application queued a broadcast of its own (Hooks.broadcasts_wake)."""


@attrs.frozen(slots=True)
class Form:
    """Hold ``members`` as a converged join would have left us (membership/form.py), with a
    join event each unless ``events`` is False."""

    token: int
    members: tuple[Member, ...] | Formation
    events: bool = True


@attrs.frozen(slots=True)
class Ping:
    """The API's one direct ping of ``member``: answered with the round trip or None."""

    token: int
    member: Member


@attrs.frozen(slots=True)
class SendUser:
    """A best-effort user message to ``member`` in one datagram."""

    member: Member
    payload: bytes


@attrs.frozen(slots=True, eq=False)
class KVCas:
    """Compare-and-swap of ``key``: the writer calls ``fn`` with the current value (None for
    a missing key) and stores what it returns (None: no change); answered with the value."""

    token: int
    key: str
    fn: Callable[[Any], Any]
    codec: str | None = None


@attrs.frozen(slots=True)
class KVDelete:
    """Soft-delete ``key`` everywhere; answered False if it did not exist."""

    token: int
    key: str


Command = (
    Start | UpdateMeta | Leave | Merge | Form | WakeGossip | Ping | SendUser | KVCas | KVDelete
)

Event = (
    Received | StreamUser | Timer | ProbeSendFailed | TcpPingDone | SuspectChecked | Command
)
