"""Counters a node keeps, and the frozen snapshot ``statistics()`` returns."""

from __future__ import annotations

import attrs


@attrs.frozen
class Statistics:
    """A point-in-time copy of a node's counters (monotonic since start, except the gauges)."""

    packets_received: int
    packets_sent: int
    bytes_received: int
    bytes_sent: int
    bad_packets: int  # failed to decode (label, key, CRC, framing, msgpack): dropped
    bad_streams: int
    dropped_messages: int  # gossip dropped because the hand-off queue was full
    send_errors: int
    probes: int
    failed_probes: int  # ended in a suspicion
    indirect_probes: int  # indirect ping requests we sent
    indirect_relays: int  # indirect ping requests we served for others
    tcp_fallback_pings: int
    tcp_fallback_successes: int
    suspicions: int
    refutations: int
    conflicts: int
    push_pulls: int  # initiated (join and periodic) that completed
    push_pulls_received: int
    push_pulls_refused: int  # over the 128 concurrent inbound limit
    user_messages_received: int
    broadcasts_queued: int
    events_dropped: int  # a slow events() reader fell behind
    queued_broadcasts: int  # gauge: broadcasts waiting in the transmit queue
    health_score: int  # gauge: awareness


@attrs.define
class Counters:
    """The mutable counters behind ``Statistics`` (touched only from the node's Trio thread)."""

    packets_received: int = 0
    packets_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    bad_packets: int = 0
    bad_streams: int = 0
    dropped_messages: int = 0
    send_errors: int = 0
    probes: int = 0
    failed_probes: int = 0
    indirect_probes: int = 0
    indirect_relays: int = 0
    tcp_fallback_pings: int = 0
    tcp_fallback_successes: int = 0
    suspicions: int = 0
    refutations: int = 0
    conflicts: int = 0
    push_pulls: int = 0
    push_pulls_received: int = 0
    push_pulls_refused: int = 0
    user_messages_received: int = 0
    broadcasts_queued: int = 0
    events_dropped: int = 0

    def snapshot(self, *, queued_broadcasts: int, health_score: int) -> Statistics:
        return Statistics(
            **attrs.asdict(self),
            queued_broadcasts=queued_broadcasts,
            health_score=health_score,
        )
