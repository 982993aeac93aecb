"""check_before_dead: one push/pull with a suspect before its suspicion becomes a dead verdict.

The case it fixes (found by tracing the Lifeguard study's false deaths): under 10% loss a node
missed every copy of a refutation the rest of the cluster got, and declared a live node dead
when its suspicion ran out.
"""

from __future__ import annotations

import random

from node_support import base_config

from trio_gossip.apps.sim.studies import false_positive_study
from trio_gossip.core.config import Config
from trio_gossip.core.engine import Context, EngineState, handle
from trio_gossip.core.engine import events as ev
from trio_gossip.core.engine.effects import PushPullWith, SetTimer
from trio_gossip.core.membership.codec import Codec
from trio_gossip.wire.messages import Alive, NodeState, Suspect

VSN = bytes((1, 5, 2, 0, 0, 0))
PEER = ("10.0.0.9", 7946)


def _suspected(**overrides: object) -> tuple[Context, EngineState, float]:
    """A node that knows "p" and has just heard it suspected by "q"; and when it is due."""
    config = base_config(name="me", **overrides)
    ctx = Context(config, Codec(config), random.Random(5))
    state, _ = handle(ctx, EngineState.initial("me"), 0.0,
                      ev.Start(bytes((10, 0, 0, 1)), 7946, b""))  # fmt: skip
    for name, host in (("p", 9), ("q", 8)):
        alive = Alive(1, name, bytes((10, 0, 0, host)), 7946, b"", VSN)
        state, _ = handle(ctx, state, 0.5, ev.Received(alive, PEER))
    state, _ = handle(ctx, state, 1.0, ev.Received(Suspect(1, "p", "q"), PEER))
    suspicion = state.membership.suspicions["p"]
    return ctx, state, suspicion.deadline


def _state_of(state: EngineState, name: str) -> NodeState:
    return state.membership.members[name].state


def test_a_due_suspicion_first_asks_the_suspect() -> None:
    ctx, state, due = _suspected()
    state, effects = handle(ctx, state, due, ev.SuspicionTimeout("p"))
    assert _state_of(state, "p") == NodeState.SUSPECT
    checks = [e for e in effects if isinstance(e, PushPullWith)]
    assert len(checks) == 1 and checks[0].check and checks[0].peer.name == "p"  # noqa: PT018
    cap = due + ctx.config.probe_interval
    assert SetTimer(ev.SuspicionTimeout("p"), cap) in effects
    assert state.counters.suspect_checks == 1
    # No answer within a probe interval: the verdict, without a second check.
    state, effects = handle(ctx, state, cap, ev.SuspicionTimeout("p"))
    assert _state_of(state, "p") == NodeState.DEAD
    assert not [e for e in effects if isinstance(e, PushPullWith)]


def test_an_unanswered_check_is_the_verdict_at_once() -> None:
    ctx, state, due = _suspected()
    state, _ = handle(ctx, state, due, ev.SuspicionTimeout("p"))
    state, _ = handle(ctx, state, due + 0.01, ev.SuspectChecked("p", reached=False))
    assert _state_of(state, "p") == NodeState.DEAD


def test_an_answered_check_waits_one_more_minimum_timeout() -> None:
    """The suspect answered but had not refuted yet (our state just told it): its alive gets
    one minimum suspicion timeout to arrive; then the verdict stands."""
    ctx, state, due = _suspected()
    state, _ = handle(ctx, state, due, ev.SuspicionTimeout("p"))
    answered = due + 0.01
    state, effects = handle(ctx, state, answered, ev.SuspectChecked("p", reached=True))
    suspicion = state.membership.suspicions["p"]
    assert suspicion.deadline == answered + suspicion.min_timeout
    assert SetTimer(ev.SuspicionTimeout("p"), suspicion.deadline) in effects
    assert state.counters.suspect_checks_answered == 1
    # The refutation arrives: suspicion over, and a late timer changes nothing.
    refuted, _ = handle(ctx, state, answered + 1, ev.Received(
        Alive(2, "p", bytes((10, 0, 0, 9)), 7946, b"", VSN), PEER))  # fmt: skip
    assert _state_of(refuted, "p") == NodeState.ALIVE
    later, _ = handle(ctx, refuted, suspicion.deadline, ev.SuspicionTimeout("p"))
    assert _state_of(later, "p") == NodeState.ALIVE
    # Without it, the verdict when the extra time is up.
    state, _ = handle(ctx, state, suspicion.deadline, ev.SuspicionTimeout("p"))
    assert _state_of(state, "p") == NodeState.DEAD


def test_without_the_check_a_due_suspicion_is_the_verdict() -> None:
    ctx, state, due = _suspected(check_before_dead=False)
    state, effects = handle(ctx, state, due, ev.SuspicionTimeout("p"))
    assert _state_of(state, "p") == NodeState.DEAD
    assert not [e for e in effects if isinstance(e, PushPullWith)]


def test_the_traced_false_death_of_the_lifeguard_study_is_gone() -> None:
    """Seed 1 of the Lifeguard study (50 nodes, 5 slowed, 10% loss): in its first minute
    node-17 never received the refutation of node-41 (0 copies of ~370 sent, while every
    other node got 1 to 17) and declared it dead at 44.9 s. With the check it asks node-41,
    whose state carries the refutation. (The run as traced: without the later catch-up
    push/pulls, which change the cluster's formation and so the whole course.)"""
    traced = {"catch_up_push_pull": False, "quiet_join": False}
    before = false_positive_study(seed=1, minutes=1.0, lifeguard=True, config=Config.lan(
        name="sim", check_before_dead=False, **traced))  # fmt: skip
    assert before.healthy_verdicts >= 1  # the scenario still shows the failure it fixed
    after = false_positive_study(seed=1, minutes=1.0, lifeguard=True,
                                 config=Config.lan(name="sim", **traced))  # fmt: skip
    assert after.healthy_verdicts == 0
