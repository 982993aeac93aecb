"""Serf gossip an agent passes on: intents, user events and queries, each once, retransmit-limited.

Serf spreads its own messages by having every member that receives one for the first time
queue it again. A trio_gossip agent that swallowed them would be a dead end: in a mixed cluster
with few Serf agents, a leave intent or an event could miss some of them. So an agent relays
what a Serf member relays, with Serf's rule for "first time": an intent only if its Lamport
time is newer than the newest intent seen about that node, anything else only if its exact
bytes are new (Serf rebroadcasts a copy of what it received, so duplicates are identical).
Query responses, relays and key messages are point to point and never passed on.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Callable

from trio_gossip.apps.agent.serf import Intent, SerfMessageType, encode_intent, query_flags
from trio_gossip.core.engine.queue import TransmitQueue, retransmit_limit

MAX_QUEUED = 1024  # past this the most-sent broadcasts are dropped, like Serf's queue depth
MAX_REMEMBERED = 4096  # messages and nodes remembered for deduplication
QUERY_NO_BROADCAST = 2  # Serf's queryFlagNoBroadcast


def intent_name(node: str) -> str:
    """Queue name of a node's intents: a newer one replaces a queued older one."""
    return f"serf-intent:{node}"


class SerfRelay:
    """The agent's broadcast queue for Serf messages, its own intents included."""

    def __init__(self, retransmit_mult: int, num_nodes: Callable[[], int]) -> None:
        # The node's own queue type (memberlist's TransmitLimitedQueue as a value); this one
        # is the Serf delegate's, as Serf keeps its broadcasts in a queue of its own.
        self.queue = TransmitQueue()
        self._retransmit_mult = retransmit_mult
        self._num_nodes = num_nodes
        self._waiters: dict[int, Callable[[], None]] = {}
        self._next_token = 0
        self._intent_ltimes: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self.relayed = 0
        self._wake: Callable[[], None] | None = None

    def set_gossip_waker(self, wake: Callable[[], None]) -> None:
        """The node's gossip timer sleeps while our queue and its own are empty; ``wake`` is
        called whenever we queue something."""
        self._wake = wake

    def queue_own(self, intent: Intent, on_finish: Callable[[], None] | None = None) -> None:
        self._remember_intent(intent)
        token = None
        if on_finish is not None:
            self._next_token += 1
            token = self._next_token
            self._waiters[token] = on_finish
        self.queue, finished = self.queue.push(encode_intent(intent),
                                               name=intent_name(intent.node), token=token)
        self._finish((finished,) if finished is not None else ())
        self._woken()

    def offer_intent(self, message: bytes, intent: Intent) -> bool:
        """Queue someone's intent again if it is newer than any seen about that node."""
        if intent.ltime <= self._intent_ltimes.get(intent.node, -1):
            return False
        self._remember_intent(intent)
        self._queue(message, intent_name(intent.node))
        return True

    def offer(self, message: bytes, kind: SerfMessageType) -> bool:
        """Queue a user event or query again the first time its bytes are seen."""
        if kind not in (SerfMessageType.USER_EVENT, SerfMessageType.QUERY):
            return False
        if kind is SerfMessageType.QUERY and query_flags(message) & QUERY_NO_BROADCAST:
            return False
        key = hashlib.sha256(message).digest()
        if key in self._seen:
            return False
        self._seen[key] = None
        if len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)
        self._queue(message, None)
        return True

    def get_broadcasts(self, overhead: int, limit: int) -> list[bytes]:
        limit_n = retransmit_limit(self._retransmit_mult, self._num_nodes())
        taken = self.queue.take(overhead, limit, limit_n)
        self.queue = taken.queue
        self._finish(taken.finished)
        return taken.messages

    def _queue(self, message: bytes, name: str | None) -> None:
        self.queue, finished = self.queue.push(message, name=name)
        self._finish((finished,) if finished is not None else ())
        self.queue, dropped = self.queue.prune(MAX_QUEUED)
        self._finish(dropped)
        self.relayed += 1
        self._woken()

    def _woken(self) -> None:
        if self._wake is not None:
            self._wake()

    def _finish(self, tokens: tuple[int, ...]) -> None:
        for token in tokens:
            callback = self._waiters.pop(token, None)
            if callback is not None:
                callback()

    def _remember_intent(self, intent: Intent) -> None:
        self._intent_ltimes[intent.node] = intent.ltime
        self._intent_ltimes.move_to_end(intent.node)
        if len(self._intent_ltimes) > MAX_REMEMBERED:
            self._intent_ltimes.popitem(last=False)
