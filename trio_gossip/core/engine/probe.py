"""Failure detection: memberlist's probe round (state.go, probeNode) as timer-driven steps.

A round starts on a ``ProbeTick``: a UDP ping to the next member (with the buddy system's
accusation when it is suspect). At ``ProbeTimeout`` without an ack it goes indirect: ping
requests to ``indirect_checks`` helpers (asking for nacks from those that speak protocol 4+)
and a TCP ping (``TcpPing`` effect) to targets that speak protocol 3+. At ``ProbeDeadline``
(the probe interval, scaled by awareness) with no ack of any kind, the target is suspected and
awareness rises by the nacks that did not come (Lifeguard). An ack at any point ends the round.
The next round starts at the next tick of the probe ticker's grid; a tick that passed during a
long round fires at once, as Go's ticker keeps one tick buffered.
"""

from __future__ import annotations

import math

import attrs

from trio_gossip.core.engine.effects import (
    CancelTimer,
    PingComplete,
    ProbeFailed,
    SetTimer,
    TcpOnly,
    TcpPing,
)
from trio_gossip.core.engine.events import ProbeDeadline, ProbeTick, ProbeTimeout
from trio_gossip.core.engine.state import EngineState, ProbeRound
from trio_gossip.core.engine.step import Step
from trio_gossip.core.membership import rules
from trio_gossip.core.membership.awareness import scale_timeout
from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.schedule import indirect_probe_helpers, next_probe_target
from trio_gossip.wire import encode_message
from trio_gossip.wire.messages import IndirectPing, NodeState, Ping, Suspect


def ping_for(step: Step, seq: int, target: Member) -> bytes:
    return encode_message(Ping(seq, target.name, step.addr, step.port, step.ctx.config.name))


def start_ticker(step: Step) -> None:
    """The first tick, at a random point of the first interval so nodes don't probe in step."""
    interval = step.ctx.config.probe_interval
    tick = step.now + step.ctx.rng.random() * interval
    step.probe_tick = tick + interval
    step.emit(SetTimer(ProbeTick(), tick))


def on_tick(step: Step) -> None:
    cfg = step.ctx.config
    if step.probe is not None or step.membership.left:
        _next_tick(step)
        return
    membership, target = next_probe_target(step.membership, step.now, cfg, step.ctx.rng)
    step.set_membership(membership)
    if target is None:
        _next_tick(step)
        return
    seq = step.next_seq()
    deadline = step.now + scale_timeout(cfg.probe_interval, membership.awareness)
    step.probe = ProbeRound(seq, target, step.now, deadline)
    step.count(probes=1)
    ping = ping_for(step, seq, target)
    if target.state == NodeState.ALIVE:
        # No CRC: Go adds one only when it finds the destination by name in its node map
        # (rawSendMsgPacket), which a ping's address-only send never does.
        step.send(target.address, ping, probe=seq)
    else:
        # Buddy system: tell a suspect it is suspected, so it can refute at once.
        accusation = encode_message(Suspect(target.incarnation, target.name, cfg.name))
        step.send_bare(target.address, [ping, accusation], pmax=target.pmax, probe=seq)
    step.emit(SetTimer(ProbeTimeout(seq), step.now + cfg.probe_timeout))


def on_send_failed(step: Step, seq: int) -> None:
    """HEAD counts a local send failure against the target (an interface going down must not
    leave everyone looking alive forever): go indirect at once, earn nothing back."""
    probe = step.probe
    if probe is None or probe.seq != seq or probe.indirect:
        return
    step.probe = attrs.evolve(probe, sent=False)
    step.emit(CancelTimer(ProbeTimeout(seq)))
    on_timeout(step, seq)


def on_timeout(step: Step, seq: int) -> None:
    """No direct ack within probe_timeout: indirect pings and the TCP fallback."""
    probe = step.probe
    if probe is None or probe.seq != seq or probe.indirect:
        return
    cfg = step.ctx.config
    target = probe.target
    helpers = indirect_probe_helpers(step.membership, target.name, cfg, step.ctx.rng)
    expected_nacks = 0
    for peer in helpers:
        want_nack = peer.pmax >= 4
        expected_nacks += want_nack
        req = IndirectPing(seq, target.addr, target.port, target.name, want_nack,
                           step.addr, step.port, cfg.name)  # fmt: skip
        step.send(peer.address, encode_message(req))
    if helpers:
        step.count(indirect_probes=len(helpers))
    step.probe = attrs.evolve(probe, indirect=True, expected_nacks=expected_nacks)
    if not cfg.disable_tcp_pings and target.pmax >= 3:
        step.count(tcp_fallback_pings=1)
        step.emit(TcpPing(seq, target, probe.deadline))
    step.emit(SetTimer(ProbeDeadline(seq), probe.deadline))


def on_ack(step: Step, seq: int, payload: bytes | None) -> bool:
    """An ack for the probe in flight (direct, relayed or late): True if it was ours."""
    probe = step.probe
    if probe is None or probe.seq != seq:
        return False
    if not probe.indirect:
        step.emit(CancelTimer(ProbeTimeout(seq)))
        step.emit(PingComplete(probe.target, step.now - probe.start, payload))
    else:
        step.emit(CancelTimer(ProbeDeadline(seq)))
    _succeeded(step, probe)
    return True


def ack_can_wait(state: EngineState, seq: int) -> tuple[float, ProbeTimeout] | None:
    """For the receive path: an ack that answers our direct probe in flight (before its
    timeout) changes nothing anyone needs before the probe grid's next tick, where the next
    round starts. It may be handled then (at its arrival time, so the round trip is exact),
    the timeout it makes moot cancelled: one wake-up of the writer per probe instead of
    two. Returns (the latest time to handle it, the timer to cancel), or None when it must
    be handled now (another probe's, a relayed one, or the round went indirect)."""
    probe = state.probe
    if probe is None or probe.seq != seq or probe.indirect or not probe.sent:
        return None
    return state.probe_tick, ProbeTimeout(seq)


def on_nack(step: Step, seq: int) -> None:
    probe = step.probe
    if probe is not None and probe.seq == seq:
        step.probe = attrs.evolve(probe, nacks=probe.nacks + 1)


def on_tcp_done(step: Step, seq: int, acked: bool) -> None:
    """Go waits for the fallback at the deadline; its answer counts then."""
    probe = step.probe
    if acked:
        step.count(tcp_fallback_successes=1)
        if probe is not None and probe.seq == seq:
            step.probe = attrs.evolve(probe, tcp_acked=True)


def on_deadline(step: Step, seq: int) -> None:
    probe = step.probe
    if probe is None or probe.seq != seq:
        return
    if probe.tcp_acked:
        step.emit(TcpOnly(probe.target))
        _succeeded(step, probe)
        return
    cfg = step.ctx.config
    step.count(failed_probes=1)
    expected = probe.expected_nacks
    delta = max(expected - probe.nacks, 0) if expected else 1
    _end(step)
    step.set_membership(rules.apply_awareness(step.membership, delta, cfg))
    step.emit(ProbeFailed(probe.target))
    suspect = Suspect(probe.target.incarnation, probe.target.name, cfg.name)
    step.apply(rules.suspect(step.membership, suspect, step.now, cfg))


def _succeeded(step: Step, probe: ProbeRound) -> None:
    _end(step)
    if probe.sent:
        # As memberlist: once the ping went out, any ack (late, relayed or over TCP) is a
        # successful probe and earns an awareness point back.
        step.set_membership(rules.apply_awareness(step.membership, -1, step.ctx.config))


def _end(step: Step) -> None:
    step.probe = None
    _next_tick(step)


def _next_tick(step: Step) -> None:
    """Arm the next probe: at the next tick of the grid, or at once if a tick passed during
    the round (Go's ticker buffers one). ``probe_tick`` is the grid tick after that one."""
    interval = step.ctx.config.probe_interval
    tick = step.probe_tick
    if tick > step.now:
        step.emit(SetTimer(ProbeTick(), tick))
        step.probe_tick = tick + interval
    else:
        step.emit(SetTimer(ProbeTick(), step.now))
        missed = math.floor((step.now - tick) / interval) + 1
        step.probe_tick = tick + interval * missed
