"""Messages from the network (memberlist's net.go, handleCommand and its handlers).

Pings are answered and indirect pings relayed with a sequence number of our own; acks and
nacks go to whoever waits on their sequence number; alive, suspect and dead messages go
through the membership rules; user messages go to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from trio_gossip.core.engine import kv, probe
from trio_gossip.core.engine.effects import Answer, CancelTimer, DeliverUser, SetTimer
from trio_gossip.core.engine.events import AckExpired, Address, Received
from trio_gossip.core.engine.state import PingWaiter, Relay
from trio_gossip.core.engine.step import Step
from trio_gossip.core.kv.replica import is_kv_payload
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.member import ip_string
from trio_gossip.wire import encode_message
from trio_gossip.wire.messages import (
    Ack,
    Alive,
    Dead,
    IndirectPing,
    Nack,
    Ping,
    Suspect,
    User,
)


def reply_address(source_addr: bytes, source_port: int, packet_from: Address) -> Address:
    """Where an answer goes: SourceAddr:SourcePort when the sender gave them, else the
    datagram's source (which is wrong behind NAT or with a 0.0.0.0 bind, hence the fields)."""
    host = ip_string(source_addr) if source_addr else ""
    return (host, source_port) if host and source_port > 0 else packet_from


def on_received(step: Step, event: Received) -> None:
    handler = _BY_TYPE.get(type(event.message))
    if handler is not None:
        handler(step, event.message, event.source)


def on_gossip(step: Step, msg: Alive | Suspect | Dead) -> None:
    cfg, now, membership = step.ctx.config, step.now, step.membership
    if isinstance(msg, Alive):
        if cfg.protocol_version < 2 or msg.port == 0:
            msg = attrs.evolve(msg, port=cfg.bind_port)
        t = rules.alive(membership, msg, now, cfg, step.ctx.rng,
                        alive_filter=step.ctx.hooks.alive_filter)  # fmt: skip
    elif isinstance(msg, Suspect):
        t = rules.suspect(membership, msg, now, cfg)
    else:
        t = rules.dead(membership, msg, now, cfg)
    step.apply(t)


def deliver_user(step: Step, payload: bytes) -> None:
    step.count(user_messages_received=1)
    if not payload:
        return
    if step.ctx.kv is not None and is_kv_payload(payload):
        kv.on_message(step, payload)
    else:
        step.emit(DeliverUser(payload))


def _answer_ping(step: Step, ping: Ping, source: Address) -> None:
    name = step.ctx.config.name
    if ping.node and ping.node != name:
        return  # a restarted agent at the same address under a new name must not answer
    hook = step.ctx.hooks.ack_payload
    payload = hook() if hook is not None else None
    ack = Ack(ping.seq_no, payload if isinstance(payload, bytes) else None)
    step.send(reply_address(ping.source_addr, ping.source_port, source), encode_message(ack))


def _relay(step: Step, req: IndirectPing, source: Address) -> None:
    target_host = ip_string(req.target)
    if not target_host:
        step.count(bad_messages=1)
        return
    cfg = step.ctx.config
    port = req.port if cfg.protocol_version >= 2 and req.port else cfg.bind_port
    requester = reply_address(req.source_addr, req.source_port, source)
    step.count(indirect_relays=1)
    # A fresh sequence number of our own: the target acks us, and we pass the ack on.
    seq = step.next_seq()
    waiters = step.waiters.set(seq, Relay(requester, req.seq_no, req.nack))
    step.waiters = waiters
    ping = Ping(seq, req.node, step.addr, step.port, cfg.name)
    step.send((target_host, port), encode_message(ping))
    step.emit(SetTimer(AckExpired(seq), step.now + cfg.probe_timeout))


def on_ack(step: Step, seq: int, payload: bytes | None) -> None:
    if probe.on_ack(step, seq, payload):
        return
    waiter = step.waiters.get(seq)
    if waiter is None:
        return  # late or unknown
    step.waiters = step.waiters.delete(seq)
    step.emit(CancelTimer(AckExpired(seq)))
    if isinstance(waiter, Relay):
        step.send(waiter.requester, encode_message(Ack(waiter.seq, None)))
    else:
        step.emit(Answer(waiter.token, step.now - waiter.start))


def on_ack_expired(step: Step, seq: int) -> None:
    waiter = step.waiters.get(seq)
    if waiter is None:
        return
    step.waiters = step.waiters.delete(seq)
    if isinstance(waiter, Relay):
        if waiter.nack:
            step.send(waiter.requester, encode_message(Nack(waiter.seq)))
    else:
        step.emit(Answer(waiter.token, None))


def start_ping(step: Step, token: int, member_address: Address, name: str) -> None:
    """The API's direct ping: no indirect probes, no state change but the waiter."""
    seq = step.next_seq()
    waiters = step.waiters.set(seq, PingWaiter(token, step.now))
    step.waiters = waiters
    ping = Ping(seq, name, step.addr, step.port, step.ctx.config.name)
    step.send(member_address, encode_message(ping))
    step.emit(SetTimer(AckExpired(seq), step.now + step.ctx.config.probe_timeout))


_BY_TYPE: dict[type[Any], Callable[[Step, Any, Address], None]] = {
    Ping: _answer_ping,
    IndirectPing: _relay,
    Ack: lambda step, msg, _: on_ack(step, msg.seq_no, msg.payload),
    Nack: lambda step, msg, _: probe.on_nack(step, msg.seq_no),
    Alive: lambda step, msg, _: on_gossip(step, msg),
    Suspect: lambda step, msg, _: on_gossip(step, msg),
    Dead: lambda step, msg, _: on_gossip(step, msg),
    User: lambda step, msg, _: deliver_user(step, msg.payload),
}
"""Each message type's handler (a dict: the receive path's one lookup per message)."""
