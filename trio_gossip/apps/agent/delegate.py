"""The agent's delegate: Serf tags as metadata, Serf intents, Serf push/pull state carried on.

A trio_gossip agent is a memberlist member, not a Serf member: it does not run Serf's events or
queries. It does what Serf agents need from every member to list it correctly: tags in Serf's
metadata format, a join intent after joining, a leave intent before leaving (without one Serf
records a graceful leave as ``failed``), and a refutation when someone claims we left while we
are alive. It passes Serf's gossip on the way a Serf member would (see ``relay``) and answers
``serf keys`` (see ``keyquery``). It acknowledges queries that ask for it, answers the internal
ones it knows, hands Serf user events to its listeners (see ``queries``), and concedes its name
to another claimant (serf/serf.go ``handleNodeConflict``; see ``runner.watch_own_conflict``).

The newest Serf push/pull user state received is handed on, byte for byte, in our own
push/pulls, so a Serf agent joining through us still learns the Serf clocks, left members and
recent events it would have learned from a Serf peer.
"""

from __future__ import annotations

import collections
import hashlib
import logging
from collections.abc import Callable, Mapping

from trio_gossip.apps.agent.keyquery import KeyQueryAnswerer
from trio_gossip.apps.agent.queries import QueryAnswerer, UserEvent, decode_user_event
from trio_gossip.apps.agent.relay import SerfRelay
from trio_gossip.apps.agent.serf import (
    Intent,
    LamportClock,
    PushPullClocks,
    SerfMessageType,
    decode_intent,
    message_type,
    push_pull_clocks,
)
from trio_gossip.apps.agent.tags import decode_tags, encode_tags
from trio_gossip.core.membership.member import Member, MemberEvent
from trio_gossip.shell.node.delegate import BaseDelegate
from trio_gossip.wire.errors import DecodeError

log = logging.getLogger("trio_gossip.apps.agent")

RECENT_MESSAGES = 64
REMEMBERED_EVENTS = 1024  # user events already delivered: each arrives once per relay

MessageListener = Callable[[bytes], None]
# (member, or its name, and a Serf message) to send it directly
Outbox = Callable[[Member | str, bytes], None]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16] if data else ""


class AgentDelegate(BaseDelegate):
    """Hooks for one agent node. Synchronous and non-blocking, as the node requires."""

    def __init__(
        self,
        name: str,
        tags: Mapping[str, str] | None = None,
        *,
        retransmit_mult: int = 4,
        num_nodes: Callable[[], int] = lambda: 1,
    ) -> None:
        self.name = name
        self.tags = dict(tags or {})
        self._meta = encode_tags(self.tags)
        self.clock = LamportClock()
        self.clock.increment()  # as Serf: start at 1, since an intent at LTime 0 is a no-op
        self.num_nodes = num_nodes  # replaced by the runner with the node's own count
        self.relay = SerfRelay(retransmit_mult, self._count_nodes)
        self.key_queries = KeyQueryAnswerer(name)
        self.queries = QueryAnswerer(name, self.key_queries, lambda: self.tags)
        self.user_event_listeners: list[Callable[[UserEvent], None]] = []
        self._seen_events: collections.OrderedDict[UserEvent, None] = collections.OrderedDict()
        self.user_events = 0
        # Called once with the other claimant when someone else claims our name.
        self.on_own_conflict: Callable[[Member], None] | None = None
        self.outbox: Outbox | None = None  # set by the runner; None: answer no query
        self.leaving = False
        self._status_ltime = 0  # LTime of our latest join intent
        self.serf_state = b""
        self._serf_clocks: PushPullClocks | None = None
        self.last_state_received = b""
        self.last_state_sent = b""
        self.received: collections.Counter[str] = collections.Counter()
        self.recent: collections.deque[bytes] = collections.deque(maxlen=RECENT_MESSAGES)
        self.listeners: list[MessageListener] = []
        self.event_listeners: list[Callable[[MemberEvent], None]] = []

    def _count_nodes(self) -> int:
        return self.num_nodes()  # looked up late: the runner sets num_nodes after start

    # ---- memberlist's Delegate -----------------------------------------------------------

    def node_meta(self, limit: int) -> bytes:
        return self._meta

    def notify_msg(self, message: bytes) -> None:
        kind = message_type(message)
        self.received[kind.name.lower() if kind is not None else "unknown"] += 1
        self.recent.append(message)
        for listener in self.listeners:
            listener(message)
        if kind in (SerfMessageType.JOIN, SerfMessageType.LEAVE):
            intent = decode_intent(message)
            self._on_intent(intent)
            if intent.node != self.name:
                self.relay.offer_intent(message, intent)
        elif kind is not None:
            if kind is SerfMessageType.QUERY and self.outbox is not None:
                querier, replies = self.queries.answers(message)
                for reply in replies:
                    self.outbox(querier, reply)
            elif kind is SerfMessageType.USER_EVENT:
                self._on_user_event(message)
            self.relay.offer(message, kind)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return self.relay.get_broadcasts(overhead, limit)

    def set_gossip_waker(self, wake: Callable[[], None]) -> None:
        self.relay.set_gossip_waker(wake)

    def local_state(self, join: bool) -> bytes:
        self.last_state_sent = self.serf_state
        return self.serf_state

    def merge_remote_state(self, buf: bytes, join: bool) -> None:
        self.last_state_received = buf
        clocks = push_pull_clocks(buf)  # DecodeError: the node counts it and carries on
        if clocks.ltime > 0:
            self.clock.witness(clocks.ltime - 1)  # as Serf: nothing was sent at LTime yet
        key = (clocks.ltime, clocks.event_ltime, clocks.query_ltime)
        old = self._serf_clocks
        if old is None or key >= (old.ltime, old.event_ltime, old.query_ltime):
            self.serf_state, self._serf_clocks = buf, clocks

    def notify_event(self, event: MemberEvent) -> None:
        for listener in self.event_listeners:
            listener(event)

    def notify_conflict(self, existing: Member, other: Member) -> None:
        # serf/serf.go handleNodeConflict: a warning when two others claim one name; when the
        # name is ours, resolution (ours: concede, see runner.watch_own_conflict).
        if existing.name != self.name:
            log.warning(
                "name conflict for %r: both %s:%d and %s:%d are claiming it",
                existing.name, existing.host, existing.port, other.host, other.port,
            )  # fmt: skip
            return
        first = self.queries.own_conflict is None
        self.queries.own_conflict = other
        if first and self.on_own_conflict is not None:
            self.on_own_conflict(other)

    # ---- Serf user events ------------------------------------------------------------------

    def _on_user_event(self, message: bytes) -> None:
        """serf/serf.go handleUserEvent: deliver each event once (relays repeat it)."""
        try:
            event = decode_user_event(message)
        except DecodeError as exc:
            log.debug("bad Serf user event: %s", exc)
            return
        if event in self._seen_events:
            return
        self._seen_events[event] = None
        if len(self._seen_events) > REMEMBERED_EVENTS:
            self._seen_events.popitem(last=False)
        self.user_events += 1
        log.info(
            "user event %r: %d byte(s) of payload, event time %d%s",
            event.name, len(event.payload), event.ltime, " (coalesce)" if event.coalesce else "",
        )  # fmt: skip
        for listener in self.user_event_listeners:
            try:
                listener(event)
            except Exception:  # a hook must not break the node's message path
                log.exception("user event hook failed on %r", event.name)

    # ---- Serf intents ----------------------------------------------------------------------

    def announce_join(self) -> None:
        """Gossip a join intent (as a Serf agent does after joining)."""
        ltime = self.clock.time
        self.clock.witness(ltime)
        self._status_ltime = ltime
        self.relay.queue_own(Intent(self.name, ltime, leave=False))

    def announce_leave(self, on_finish: Callable[[], None] | None = None) -> None:
        """Gossip a leave intent; ``on_finish`` runs once it has been sent often enough."""
        self.leaving = True
        ltime = self.clock.time
        self.clock.increment()
        self.relay.queue_own(Intent(self.name, ltime, leave=True), on_finish)

    def _on_intent(self, intent: Intent) -> None:
        self.clock.witness(intent.ltime)
        if (
            intent.leave
            and intent.node == self.name
            and not self.leaving
            and intent.ltime > self._status_ltime
        ):
            # A leave of ours newer than our last join while we are alive: refute it with a
            # newer join intent, as Serf does (older ones are already superseded).
            self.announce_join()

    # ---- for the HTTP endpoint ---------------------------------------------------------------

    def statistics(self) -> dict[str, object]:
        return {
            "serf_messages_received": dict(self.received),
            "member_ltime": self.clock.time,
            "serf_state_bytes": len(self.serf_state),
            "serf_state_received_sha256": _digest(self.last_state_received),
            "serf_state_sent_sha256": _digest(self.last_state_sent),
            "serf_messages_relayed": self.relay.relayed,
            "serf_key_queries_answered": self.key_queries.answered,
            "serf_queries_acked": self.queries.acked + self.key_queries.acked,
            "serf_conflict_queries_answered": self.queries.conflicts_answered,
            "serf_user_events": self.user_events,
            "queued_serf_broadcasts": len(self.relay.queue),
        }

    def tags_of(self, meta: bytes) -> dict[str, str]:
        """A member's tags; metadata that is not Serf's format reads as no tags."""
        try:
            return decode_tags(meta)
        except ValueError:
            return {}
