"""Counters a node keeps, and the frozen snapshot ``statistics()`` returns."""

from __future__ import annotations

import re

import attrs

from trio_gossip.core.engine.state import Counters
from trio_gossip.wire.messages import MessageType


@attrs.frozen
class Statistics:
    """A point-in-time copy of a node's counters (monotonic since start, except the gauges)."""

    packets_received: int
    packets_sent: int
    bytes_received: int
    bytes_sent: int
    bad_packets: int  # failed to decode (label, key, CRC, framing, msgpack): dropped
    bad_streams: int  # refused (see last_bad_stream) or their user state refused: dropped
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
    alive_verdicts: int = 0  # members that joined or changed
    dead_verdicts: int = 0  # members marked dead or left
    reconnects_attempted: int = 0  # joins of a failed member started (Serf's reconnect)
    reconnects: int = 0  # ... that reached the member
    cidr_refusals: int = 0  # datagrams, streams and alives from outside cidrs_allowed, dropped
    join_attempts: int = 0  # addresses join() tried a push/pull with
    suspect_checks: int = 0  # last-chance push/pulls with a due suspect (check_before_dead)
    suspect_checks_answered: int = 0  # ... answered: no dead verdict yet
    catch_ups: int = 0  # push/pulls after a burst of joins gossip brought (catch_up_push_pull)
    broadcasts_known: int = 0  # queued alives a catch-up showed a peer knew: no longer sent
    join_failures: int = 0  # ... that failed
    sent_by_type: dict[str, int] = attrs.field(factory=dict, hash=False)
    """Messages sent by memberlist type (``"ping"``, ``"alive"``, ...; compound parts each)."""
    received_by_type: dict[str, int] = attrs.field(factory=dict, hash=False)
    """Messages received and decoded, by type."""
    last_bad_stream: str = ""
    """The latest refused stream, ``"host:port: reason"``; empty when the latest one counted in
    bad_streams left no detail (the reply to a push/pull we started, whose user state the
    delegate refused)."""
    bad_input_reasons: dict[str, int] = attrs.field(factory=dict, hash=False)
    """Refused datagrams and streams by reason (``"packet: ..."``, ``"stream: ..."``, numbers
    blanked), and streams cut at tcp_timeout (``"stream: timed out"``); at most
    MAX_BAD_REASONS reasons, the rest under ``"other"``."""


@attrs.define
class IOCounters:
    """What the shell counts on the way in and out (the engine counts the protocol's own)."""

    packets_received: int = 0
    packets_sent: int = 0
    bytes_received: int = 0
    bytes_sent: int = 0
    bad_packets: int = 0
    bad_streams: int = 0
    last_bad_stream: str = ""  # what the latest refused stream was and who sent it
    last_bad_stream_at: int = 0  # bad_streams when last_bad_stream was recorded
    send_errors: int = 0
    push_pulls: int = 0
    push_pulls_received: int = 0
    push_pulls_refused: int = 0
    reconnects: int = 0
    cidr_refusals: int = 0
    join_attempts: int = 0  # push/pulls tried by join(), one per address
    join_failures: int = 0
    # Messages by type byte (compound parts one by one): sent after the send succeeded,
    # received as decoded.
    sent_by_type: dict[int, int] = attrs.field(factory=dict)
    received_by_type: dict[int, int] = attrs.field(factory=dict)
    bad_input_reasons: dict[str, int] = attrs.field(factory=dict)


    def count_sent(self, kinds: bytes) -> None:
        counts = self.sent_by_type
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1


def snapshot(io: IOCounters, engine: Counters, *, dropped: int, events_dropped: int,
             queued_broadcasts: int, health_score: int) -> Statistics:  # fmt: skip
    return Statistics(
        packets_received=io.packets_received,
        packets_sent=io.packets_sent,
        bytes_received=io.bytes_received,
        bytes_sent=io.bytes_sent,
        bad_packets=io.bad_packets + engine.bad_messages,
        bad_streams=io.bad_streams,
        dropped_messages=dropped,
        send_errors=io.send_errors,
        probes=engine.probes,
        failed_probes=engine.failed_probes,
        indirect_probes=engine.indirect_probes,
        indirect_relays=engine.indirect_relays,
        tcp_fallback_pings=engine.tcp_fallback_pings,
        tcp_fallback_successes=engine.tcp_fallback_successes,
        suspicions=engine.suspicions,
        refutations=engine.refutations,
        conflicts=engine.conflicts,
        push_pulls=io.push_pulls,
        push_pulls_received=io.push_pulls_received,
        push_pulls_refused=io.push_pulls_refused,
        user_messages_received=engine.user_messages_received,
        broadcasts_queued=engine.broadcasts_queued,
        events_dropped=events_dropped,
        queued_broadcasts=queued_broadcasts,
        health_score=health_score,
        alive_verdicts=engine.alive_verdicts,
        dead_verdicts=engine.dead_verdicts,
        reconnects_attempted=engine.reconnects,
        reconnects=io.reconnects,
        cidr_refusals=io.cidr_refusals + engine.cidr_refusals,
        join_attempts=io.join_attempts,
        suspect_checks=engine.suspect_checks,
        suspect_checks_answered=engine.suspect_checks_answered,
        catch_ups=engine.catch_ups,
        broadcasts_known=engine.broadcasts_known,
        join_failures=io.join_failures,
        sent_by_type=_by_name(io.sent_by_type),
        received_by_type=_by_name(io.received_by_type),
        last_bad_stream=io.last_bad_stream if io.last_bad_stream_at == io.bad_streams else "",
        bad_input_reasons=dict(io.bad_input_reasons),
    )


def _by_name(counts: dict[int, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, n in counts.items():
        try:
            name = MessageType(kind).name.lower()
        except ValueError:
            name = f"type {kind}"
        out[name] = out.get(name, 0) + n
    return out


# A hostile peer can make up endless texts: the table stays bounded. A million mutated
# datagrams and ten thousand hostile streams make ~110 reasons (benchmarks/bench_hostile.py).
MAX_BAD_REASONS = 256
_REASON_LENGTH = 80
_QUOTED = re.compile(r"b?'[^']*'|b?\"[^\"]*\"")
# A word holding a digit, or a hex word of 8+ letters (a CRC without a digit: 1 in 2,500).
_DIGITS = re.compile(r"\S*\d\S*|\b[0-9a-f]{8,}\b")
# "ack: body is bool False", "... is int #": whatever stood where a map belongs is one reason.
_NOT_A_MAP = re.compile(r"\b(body|node state) is .*")


def count_bad_input(io: IOCounters, where: str, text: str) -> str:
    """Count one refused input under its reason: the innermost part of the error text up to its
    first detail (``" ("`` or ``", "``), quoted bytes and any word holding a digit or written
    in hex (sizes, types, CRCs) blanked to ``#``, so that one kind of refusal is one reason.
    Returns the reason (what the log limiter keys its lines by)."""
    # The innermost refusal names the reason ("compound part 2 > ping: ..." is a bad ping).
    head = text.rsplit(" > ", 1)[-1].split(" (", 1)[0].split(", ", 1)[0]
    head = _NOT_A_MAP.sub(r"\1 is not a map", _DIGITS.sub("#", _QUOTED.sub("#", head)))
    reason = f"{where}: {head[:_REASON_LENGTH]}"
    reasons = io.bad_input_reasons
    if reason not in reasons and len(reasons) >= MAX_BAD_REASONS:
        reason = "other"
    reasons[reason] = reasons.get(reason, 0) + 1
    return reason
