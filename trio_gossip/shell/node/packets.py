"""Inbound packets: answer pings, relay indirect pings, route acks, hand gossip to the state task.

``on_packet`` runs synchronously on the transport's receive task for every datagram; it never
raises (bad input is counted and logged at debug) and never spawns a task.
"""

from __future__ import annotations

import attrs
import trio

from trio_gossip.core.membership.member import ip_string
from trio_gossip.shell.node.commands import UserMessage
from trio_gossip.shell.node.runtime import Runtime, log
from trio_gossip.transport.base import Address
from trio_gossip.wire import encode_message
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import (
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Nack,
    PacketMessage,
    Ping,
    Suspect,
    User,
)


def on_packet(rt: Runtime, data: bytes, addr: Address) -> None:
    rt.stats.packets_received += 1
    rt.stats.bytes_received += len(data)
    try:
        decoded = rt.codec.decode_packet_lenient(data)
    except DecodeError as exc:
        rt.stats.bad_packets += 1
        log.debug("%s: dropped a bad packet from %s: %s", rt.config.name, addr, exc)
        return
    if decoded.errors:
        rt.stats.bad_packets += 1
        log.debug("%s: dropped parts of a packet from %s: %s", rt.config.name, addr,
                  "; ".join(decoded.errors))  # fmt: skip
    for msg in decoded.messages:
        try:
            _dispatch(rt, msg, addr)
        except DecodeError as exc:  # e.g. a delegate refusing a user message's bytes
            rt.stats.bad_packets += 1
            log.debug("%s: bad %s from %s: %s", rt.config.name, type(msg).__name__, addr, exc)


def reply_address(source_addr: bytes, source_port: int, packet_from: Address) -> Address:
    """Where an answer goes: SourceAddr:SourcePort when the sender gave them, else the
    datagram's source (which is wrong behind NAT or with a 0.0.0.0 bind, hence the fields)."""
    host = ip_string(source_addr) if source_addr else ""
    return (host, source_port) if host and source_port > 0 else packet_from


def _dispatch(rt: Runtime, msg: PacketMessage, addr: Address) -> None:
    if isinstance(msg, Ping):
        _answer_ping(rt, msg, addr)
    elif isinstance(msg, IndirectPing):
        _relay_indirect_ping(rt, msg, addr)
    elif isinstance(msg, Ack):
        rt.deliver_ack(msg.seq_no, msg.payload)
    elif isinstance(msg, Nack):
        rt.deliver_nack(msg.seq_no)
    elif isinstance(msg, (Alive, Suspect, Dead)):
        if isinstance(msg, Alive) and (rt.config.protocol_version < 2 or msg.port == 0):
            msg = attrs.evolve(msg, port=rt.config.bind_port)
        rt.handoff(msg)
    elif isinstance(msg, User):
        rt.stats.user_messages_received += 1
        if rt.delegate is not None and msg.payload:
            # Like gossip: through the bounded hand-off queue, off the receive path.
            rt.handoff(msg)


def deliver_user_message(rt: Runtime, payload: bytes) -> None:
    """A user message from a stream: count it and queue it for the delegate (the stream's
    own concurrency bounds these, as memberlist delivers them straight from the stream)."""
    rt.stats.user_messages_received += 1
    if rt.delegate is not None and payload:
        rt.submit(UserMessage(payload))


def _answer_ping(rt: Runtime, ping: Ping, addr: Address) -> None:
    if ping.node and ping.node != rt.config.name:
        # A restarted agent at the same address under a new name must not answer for the old.
        log.debug("%s: ping for %r from %s ignored", rt.config.name, ping.node, addr)
        return
    payload_hook = rt.hook("ack_payload")
    payload = payload_hook() if payload_hook is not None else None
    ack = Ack(ping.seq_no, payload if isinstance(payload, bytes) else None)
    dest = reply_address(ping.source_addr, ping.source_port, addr)
    rt.send_soon(dest, rt.with_piggyback(encode_message(ack)))


def _relay_indirect_ping(rt: Runtime, req: IndirectPing, addr: Address) -> None:
    target_host = ip_string(req.target)
    if not target_host:
        raise DecodeError(f"indirect ping target of {len(req.target)} bytes")
    port = req.port
    if rt.config.protocol_version < 2 or port == 0:
        port = rt.config.bind_port
    requester = reply_address(req.source_addr, req.source_port, addr)
    rt.stats.indirect_relays += 1
    answered = False

    def on_ack(payload: bytes | None, when: float) -> None:
        nonlocal answered
        answered = True
        rt.send_soon(requester, rt.with_piggyback(encode_message(Ack(req.seq_no, None))))

    def send_nack() -> None:
        if not answered:
            rt.send_soon(requester, rt.with_piggyback(encode_message(Nack(req.seq_no))))

    # A fresh sequence number of our own: the target acks us, and we pass it on.
    seq = rt.next_seq()
    rt.expect_ack(seq, rt.config.probe_timeout, on_ack)
    ping = Ping(seq, req.node, rt.advertise_addr, rt.advertise_port, rt.config.name)
    rt.send_soon((target_host, port), rt.with_piggyback(encode_message(ping)))
    if req.nack:
        rt.timers.call_at(trio.current_time() + rt.config.probe_timeout, send_nack)
