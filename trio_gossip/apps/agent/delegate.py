"""The agent's delegate: Serf tags as metadata, Serf intents, Serf push/pull state carried on.

A trio_gossip agent is a memberlist member, not a Serf member: it does not run Serf's events or
queries. It does what Serf agents need from every member to list it correctly: tags in Serf's
metadata format, a join intent after joining, a leave intent before leaving (without one Serf
records a graceful leave as ``failed``), and a refutation when someone claims we left while we
are alive. It passes Serf's gossip on the way a Serf member would (see ``relay``) and answers
``serf keys`` (see ``keyquery``).

The newest Serf push/pull user state received is handed on, byte for byte, in our own
push/pulls, so a Serf agent joining through us still learns the Serf clocks, left members and
recent events it would have learned from a Serf peer.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable, Mapping

from trio_gossip.apps.agent.keyquery import KeyQueryAnswerer
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
from trio_gossip.core.membership.member import MemberEvent
from trio_gossip.shell.node.delegate import BaseDelegate

RECENT_MESSAGES = 64

MessageListener = Callable[[bytes], None]
Outbox = Callable[[str, bytes], None]  # (member name, Serf message) to send it directly


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
                querier, replies = self.key_queries.answers(message)
                for reply in replies:
                    self.outbox(querier, reply)
            self.relay.offer(message, kind)

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        return self.relay.get_broadcasts(overhead, limit)

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
            "queued_serf_broadcasts": len(self.relay.queue),
        }

    def tags_of(self, meta: bytes) -> dict[str, str]:
        """A member's tags; metadata that is not Serf's format reads as no tags."""
        try:
            return decode_tags(meta)
        except ValueError:
            return {}
