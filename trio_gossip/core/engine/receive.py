"""Messages from the network (memberlist's net.go, handleCommand and its handlers).

Pings are answered and indirect pings relayed with a sequence number of our own; acks and
nacks go to whoever waits on their sequence number; alive, suspect and dead messages go
through the membership rules; user messages go to the application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from trio_gossip.core.engine import probe
from trio_gossip.core.engine.effects import Answer, CancelTimer, DeliverUser, Send, SetTimer
from trio_gossip.core.engine.events import AckExpired, Address, Received
from trio_gossip.core.engine.state import Context, EngineState, PingWaiter, Relay
from trio_gossip.core.engine.step import Step
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.member import ip_string
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire import encode_message
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
        alive_filter = step.ctx.hooks.alive_filter
        if alive_filter is None and _stale_alive(membership, msg):
            return
        t = rules.alive(membership, msg, now, cfg, step.ctx.rng, alive_filter=alive_filter)
        step.note_learned(t)
    elif isinstance(msg, Suspect):
        t = rules.suspect(membership, msg, now, cfg)
    else:
        t = rules.dead(membership, msg, now, cfg)
    step.apply(t)


def is_stale_gossip(ctx: Context, state: EngineState, msg: PacketMessage) -> bool:
    """True for an alive message the engine would ignore given ``state`` (see
    ``_stale_alive``), so the receive path may drop it from the latest snapshot instead of
    queueing it for the writer: in a join most alive messages are repeats, and memberlist's
    bounded hand-off queue (net.go handleCommand) would spend its room on them. A member's
    incarnation only grows, so a repeat by the snapshot is a repeat by the writer's state
    too, unless the member is reaped in between (gossip_to_the_dead_time after its death):
    then the repeat is dropped where memberlist would have re-added a long-dead node."""
    return (type(msg) is Alive and msg.port != 0 and ctx.hooks.alive_filter is None
            and ctx.config.protocol_version >= 2
            and _stale_alive(state.membership, msg))  # fmt: skip


def _stale_alive(membership: MembershipState, msg: Alive) -> bool:
    """An alive about another node we know at this address with this incarnation or newer:
    ``rules.alive`` would change nothing. Most alive messages during a join are such repeats
    (each is sent retransmit-limit times), so they skip the rule. Only without an alive
    filter: memberlist calls that delegate for every alive, repeats included."""
    old = membership.members.get(msg.node)
    return (old is not None and msg.incarnation <= old.incarnation and old.addr == msg.addr
            and old.port == msg.port and msg.node != membership.local_name)  # fmt: skip


def deliver_user(step: Step, payload: bytes) -> None:
    step.count(user_messages_received=1)
    if not payload:
        return
    if step.ctx.kv is None:
        step.emit(DeliverUser(payload))
        return
    from trio_gossip.core.engine import kv  # noqa: PLC0415 - a node without a KV store never loads it
    from trio_gossip.core.kv.format import message_format  # noqa: PLC0415 - a node without a KV store never loads it

    if message_format(step.ctx.kv).is_message(payload):
        kv.on_message(step, payload)
    else:
        step.emit(DeliverUser(payload))


def _ack_for(ctx: Context, ping: Ping) -> Ack | None:
    """memberlist's handlePing: the ack, or None for a ping meant for another name (a
    restarted agent at the same address under a new name must not answer)."""
    if ping.node and ping.node != ctx.config.name:
        return None
    hook = ctx.hooks.ack_payload
    payload = hook() if hook is not None else None
    return Ack(ping.seq_no, payload if isinstance(payload, bytes) else None)


def _answer_ping(step: Step, ping: Ping, source: Address) -> None:
    ack = _ack_for(step.ctx, ping)
    if ack is not None:
        step.send(reply_address(ping.source_addr, ping.source_port, source), encode_message(ack))


def answer_ping_now(ctx: Context, state: EngineState, ping: Ping, source: Address
                    ) -> Send | None:  # fmt: skip
    """The answer to ``ping`` when giving it changes no state, for the receive path to send
    at once (memberlist answers on the packet path too, net.go handlePing); None when the
    writer must answer. Every packet carries what the transmit queue holds (memberlist
    sendMsg piggybacks on acks as well), and taking from the queue changes it: so only with
    nothing queued and no application broadcasts is the answer free of state. Application
    broadcasts that wake the gossip timer (Hooks.broadcasts_wake) count as none while the
    last gossip tick found nothing in them: one queued since then has woken the writer and
    goes out on its next tick, it only misses this ack. A ping for another name gets a
    ``Send`` with no datagrams: dropped, as the writer would."""
    hooks = ctx.hooks
    if len(state.queue) or (hooks.broadcasts is not None
                            and not (hooks.broadcasts_wake and state.gossip_quiet)):  # fmt: skip
        return None
    to = reply_address(ping.source_addr, ping.source_port, source)
    ack = _ack_for(ctx, ping)
    if ack is None:
        return Send(to, ())
    message = encode_message(ack)
    return Send(to, tuple(ctx.codec.packets([message])), kinds=message[:1])


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
