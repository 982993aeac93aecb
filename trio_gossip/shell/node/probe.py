"""Failure detection: the probe loop and one probe round (spec 9.2), plus the public ping."""

from __future__ import annotations

import trio

from trio_gossip.core.membership.awareness import scale_timeout
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.schedule import indirect_probe_helpers, next_probe_target
from trio_gossip.shell.node.commands import AwarenessDelta, Gossip, NextProbe, Reply
from trio_gossip.shell.node.gossip import ticker_sleep
from trio_gossip.shell.node.runtime import Runtime, log
from trio_gossip.shell.node.streams import STREAM_ERRORS, read_message
from trio_gossip.transport.base import TransportError
from trio_gossip.wire import encode_message
from trio_gossip.wire.errors import GossipError
from trio_gossip.wire.messages import Ack, IndirectPing, NodeState, Ping, Suspect


async def probe_loop(rt: Runtime) -> None:
    interval = rt.config.probe_interval
    tick = trio.current_time() + rt.rng.random() * interval
    while True:
        tick = await ticker_sleep(tick, interval)
        target = await _next_target(rt)
        if target is not None:
            await probe_node(rt, target)


async def _next_target(rt: Runtime) -> Member | None:
    """The state task's answer to NextProbe. When it is idle, NextProbe would be the very
    next command it handles, on the same snapshot at the same instant, so we make the same
    state step inline (cooperative scheduling keeps it atomic) and save two task switches
    per probe; otherwise we queue behind what it has to do first."""
    if rt.state_task_idle():
        rt.state, target = next_probe_target(rt.state, trio.current_time(), rt.config, rt.rng)
        return target
    reply: Reply[Member | None] = Reply()
    rt.submit(NextProbe(reply))
    return await reply.wait()


class _Outcome:
    """What came back for one probe's sequence number."""

    def __init__(self) -> None:
        self.acked = trio.Event()
        self.ack_time = 0.0
        self.payload: bytes | None = None
        self.nacks = 0

    def on_ack(self, payload: bytes | None, when: float) -> None:
        self.payload = payload
        self.ack_time = when
        self.acked.set()

    def on_nack(self) -> None:
        self.nacks += 1


def _ping(rt: Runtime, seq: int, target: Member) -> Ping:
    return Ping(seq, target.name, rt.advertise_addr, rt.advertise_port, rt.config.name)


def _earned_back(rt: Runtime) -> None:
    """A successful probe's AwarenessDelta(-1), left out when it cannot change anything (the
    score is 0 and no queued command may raise it first): saves the state task a wake-up on
    nearly every probe of a healthy cluster."""
    if rt.state.awareness == 0 and rt.state_task_idle():
        return
    rt.submit(AwarenessDelta(-1))


async def probe_node(rt: Runtime, target: Member) -> None:
    """Direct ping, then indirect pings and a TCP ping; a suspicion if nothing answers."""
    cfg = rt.config
    rt.stats.probes += 1
    probe_interval = scale_timeout(cfg.probe_interval, rt.state.awareness)
    start = trio.current_time()
    deadline = start + probe_interval
    seq = rt.next_seq()
    outcome = _Outcome()
    # The round ends at an ack or at ``deadline`` (start + probe_interval, where the ack
    # handler would expire): dropping the handler on the way out replaces its timer.
    rt.expect_ack(seq, None, outcome.on_ack, outcome.on_nack)
    try:
        await _probe_round(rt, target, outcome, seq=seq, start=start, deadline=deadline)
    finally:
        rt.forget_ack(seq, outcome.on_ack)


async def _probe_round(rt: Runtime, target: Member, outcome: _Outcome, *, seq: int,
                       start: float, deadline: float) -> None:  # fmt: skip
    cfg = rt.config
    ping = encode_message(_ping(rt, seq, target))

    sent = True
    try:
        if target.state == NodeState.ALIVE:
            await rt.send_packets(target.address, rt.with_piggyback(ping))
        else:
            # Buddy system: tell a suspect it is suspected so it can refute at once.
            accusation = encode_message(Suspect(target.incarnation, target.name, cfg.name))
            await rt.send_packets(
                target.address, rt.codec.packets([ping, accusation], peer_pmax=target.pmax)
            )
    except TransportError as exc:
        # HEAD counts a local send failure against the target (an interface going down
        # must not leave everyone looking alive forever).
        log.debug("%s: ping to %s failed: %s", cfg.name, target.name, exc)
        sent = False

    if sent:
        with trio.move_on_at(trio.current_time() + cfg.probe_timeout):
            await outcome.acked.wait()
        if outcome.acked.is_set():
            _earned_back(rt)
            hook = rt.hook("notify_ping_complete")
            if hook is not None:
                hook(target, outcome.ack_time - start, outcome.payload)
            return

    helpers = indirect_probe_helpers(rt.state, target.name, cfg, rt.rng)
    expected_nacks = 0
    for peer in helpers:
        want_nack = peer.pmax >= 4
        expected_nacks += want_nack
        req = IndirectPing(seq, target.addr, target.port, target.name, want_nack,
                           rt.advertise_addr, rt.advertise_port, cfg.name)  # fmt: skip
        rt.stats.indirect_probes += 1
        try:
            await rt.send_packets(peer.address, rt.with_piggyback(encode_message(req)))
        except TransportError as exc:
            log.debug("%s: indirect ping via %s failed: %s", cfg.name, peer.name, exc)

    tcp_ok = False
    async with trio.open_nursery() as nursery:
        if not cfg.disable_tcp_pings and target.pmax >= 3:

            async def tcp_fallback() -> None:
                nonlocal tcp_ok
                tcp_ok = await tcp_ping(rt, target, seq, deadline)

            nursery.start_soon(tcp_fallback)
        with trio.move_on_at(deadline):
            await outcome.acked.wait()
        if outcome.acked.is_set():
            nursery.cancel_scope.cancel()
    if outcome.acked.is_set() or tcp_ok:
        if tcp_ok and not outcome.acked.is_set():
            log.warning("%s: was able to connect to %s over TCP but UDP probes failed, network"
                        " may be misconfigured", cfg.name, target.name)  # fmt: skip
        if sent:
            # As memberlist: once the ping went out, any ack (late, relayed or over TCP) is a
            # successful probe and earns the point back; after a send error it earns nothing.
            _earned_back(rt)
        return

    rt.stats.failed_probes += 1
    delta = max(expected_nacks - outcome.nacks, 0) if expected_nacks else 1
    rt.submit(AwarenessDelta(delta))
    log.info("%s: suspect %s has failed, no acks received", cfg.name, target.name)
    rt.submit(Gossip(Suspect(target.incarnation, target.name, cfg.name)))


async def tcp_ping(rt: Runtime, target: Member, seq: int, deadline: float) -> bool:
    """Ping over a stream with the probe's sequence number; True if it was acked in time."""
    rt.stats.tcp_fallback_pings += 1
    codec = rt.codec
    try:
        with trio.move_on_at(deadline):
            stream = await rt.transport.open_stream(target.address)
            async with stream:
                await stream.send_all(codec.stream(_ping(rt, seq, target), dialer=True))
                reply = await read_message(stream, codec.stream_decoder(responder=False))
            if isinstance(reply, Ack) and reply.seq_no == seq:
                rt.stats.tcp_fallback_successes += 1
                return True
    except STREAM_ERRORS as exc:
        log.debug("%s: TCP ping to %s failed: %r", rt.config.name, target.name, exc)
    return False


async def ping(rt: Runtime, member: Member) -> float | None:
    """One UDP ping (no indirect probes, no state change): the round trip time, or None."""
    seq = rt.next_seq()
    outcome = _Outcome()
    rt.expect_ack(seq, rt.config.probe_timeout, outcome.on_ack)
    start = trio.current_time()
    try:
        await rt.send_packets(
            member.address, rt.with_piggyback(encode_message(_ping(rt, seq, member)))
        )
    except TransportError as exc:
        raise GossipError(f"ping to {member.name} failed: {exc}") from exc
    with trio.move_on_after(rt.config.probe_timeout):
        await outcome.acked.wait()
    return outcome.ack_time - start if outcome.acked.is_set() else None
