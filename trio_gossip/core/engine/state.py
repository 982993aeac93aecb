"""A node's whole protocol state as one immutable value, and the fixed context it runs in."""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
import immutables

from trio_gossip.core.config import Config
from trio_gossip.core.engine.events import Address
from trio_gossip.core.engine.queue import TransmitQueue
from trio_gossip.core.membership.codec import Codec
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.push_table import PushTable
from trio_gossip.core.membership.reconnect import FailedMembers
from trio_gossip.core.membership.state import MembershipState

if TYPE_CHECKING:
    # The KV store's modules load only in a node that runs one: an agent without a ring never
    # needs them (half a MiB of a process's memory).
    from trio_gossip.core.kv.replica import KVContext, Replica


@attrs.frozen(slots=True)
class Hooks:
    """The application's synchronous answers the engine needs while it decides (memberlist's
    AliveDelegate, MergeDelegate, PingDelegate.AckPayload and Delegate.GetBroadcasts). The
    shell builds them from the typed delegate roles; None means the role is not played."""

    alive_filter: Callable[[Member], bool] | None = None
    merge_veto: Callable[[Sequence[Member]], bool] | None = None
    ack_payload: Callable[[], bytes | None] | None = None
    broadcasts: Callable[[int, int], list[bytes]] | None = None
    # The broadcasts role wakes the gossip timer when it queues something (WakeGossip), so
    # the timer may sleep while neither queue has anything to send.
    broadcasts_wake: bool = False


@attrs.frozen(slots=True)
class Context:
    """What does not change while a node runs. ``rng`` is the node's seeded generator: every
    random choice (probe order, peers, staggers) draws from it, so a run replays from a seed.
    ``push_table`` is a cache of our members as push/pull entries, as the codec's memos are
    caches: both sides of a push/pull need it, the shell to send our table and the engine to
    step over a peer's entries that equal ours."""

    config: Config
    codec: Codec
    rng: random.Random
    hooks: Hooks = Hooks()
    kv: KVContext | None = None  # the node runs a KV store
    push_table: PushTable = attrs.Factory(PushTable)


@attrs.frozen(slots=True)
class ProbeRound:
    """The probe in flight (memberlist's probeNode, one at a time)."""

    seq: int
    target: Member
    start: float
    deadline: float
    sent: bool = True  # the ping left this node (a failed local send earns no awareness back)
    indirect: bool = False
    expected_nacks: int = 0
    nacks: int = 0
    tcp_acked: bool = False


@attrs.frozen(slots=True)
class Relay:
    """We ping ``target`` for ``requester``'s indirect probe ``seq`` and pass the ack on."""

    requester: Address
    seq: int
    nack: bool


@attrs.frozen(slots=True)
class PingWaiter:
    """The API's ping: answer ``token`` with the round trip."""

    token: int
    start: float


Waiter = Relay | PingWaiter


@attrs.frozen(slots=True)
class Counters:
    """Protocol counters, monotonic since start (the I/O counters live with the transport)."""

    probes: int = 0
    failed_probes: int = 0
    indirect_probes: int = 0
    indirect_relays: int = 0
    tcp_fallback_pings: int = 0
    tcp_fallback_successes: int = 0
    suspicions: int = 0
    refutations: int = 0
    conflicts: int = 0
    broadcasts_queued: int = 0
    user_messages_received: int = 0
    bad_messages: int = 0
    alive_verdicts: int = 0  # members that joined or changed (memberlist.msg.alive)
    dead_verdicts: int = 0  # members marked dead or left (memberlist.msg.dead)
    reconnects: int = 0  # joins of a failed member started (Serf's reconnect)
    cidr_refusals: int = 0  # alives for addresses outside cidrs_allowed, ignored
    suspect_checks: int = 0  # last-chance push/pulls with a suspect (check_before_dead)
    catch_ups: int = 0  # push/pulls after a burst of joins (catch_up_push_pull)
    broadcasts_known: int = 0  # ... queued alives they showed a peer knew: no longer sent
    suspect_checks_answered: int = 0  # ... that the suspect answered

    def plus(self, deltas: Mapping[str, int]) -> Counters:
        """These counters with ``deltas`` added (a step's counts, once per handled batch):
        by position, as attrs.evolve would by keyword at twice the cost, for 21 fields."""
        values = list(_COUNTER_VALUES(self))
        for name, n in deltas.items():
            values[_COUNTER_INDEX[name]] += n
        return Counters(*values)


_COUNTER_NAMES = tuple(a.name for a in attrs.fields(Counters))
_COUNTER_VALUES = operator.attrgetter(*_COUNTER_NAMES)
_COUNTER_INDEX = {name: i for i, name in enumerate(_COUNTER_NAMES)}


_NO_WAITERS: immutables.Map[int, Waiter] = immutables.Map()


@attrs.frozen(slots=True)
class EngineState:
    """Everything a node knows and is in the middle of doing."""

    membership: MembershipState
    queue: TransmitQueue = attrs.field(factory=TransmitQueue)
    addr: bytes = b""  # what we advertise
    port: int = 0
    seq: int = 0
    probe: ProbeRound | None = None
    waiters: immutables.Map[int, Waiter] = _NO_WAITERS
    probe_tick: float = 0.0  # the next tick of the probe ticker's grid
    gossip_tick: float = 0.0  # likewise for gossip; the timer is left unarmed while idle
    gossip_idle: bool = False
    started: bool = False
    counters: Counters = attrs.field(factory=Counters)
    kv: Replica | None = None  # the KV store's replica, when the node runs one
    failed: FailedMembers = attrs.field(factory=FailedMembers)  # to reconnect, as Serf does
    # catch_up_push_pull: members learned in this burst (until our queue drains), of them
    # learned from gossip since our last push/pull, and whether the last catch-up found our
    # views differ (then one more follows); when a member was last new to us, when our last
    # catch-up started, and when gossip taught us the first member ``unmerged`` counts
    learned: int = 0
    unmerged: int = 0
    caught_up: bool = False
    news_at: float = -math.inf
    caught_up_at: float = -math.inf
    unmerged_at: float = math.inf
    # Hooks.broadcasts_wake: the last gossip tick found nothing to send in either queue
    gossip_quiet: bool = False

    @classmethod
    def initial(cls, name: str, *, kv: bool = False) -> EngineState:
        if not kv:
            return cls(MembershipState(name))
        from trio_gossip.core.kv.replica import Replica  # noqa: PLC0415 - only a node with a KV store loads it

        return cls(MembershipState(name), kv=Replica())
