"""The fault-schedule strategies: a planted bug is found and shrunk to at most three faults,
the correct service holds across schedules, and a stateful machine drives the same check."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from testing_support import NAMES, one_leader_after_repair

from trio_gossip.testing import Heal, Kill, Partition, Pause, Restart, Resume
from trio_gossip.testing.faults import Fault
from trio_gossip.testing.strategies import FaultSchedule, fault_schedules

# No explain phase: it traces every line the simulation runs, some 20 times slower.
FAST = settings(deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


def test_a_planted_bug_is_found_and_shrunk_to_at_most_three_faults() -> None:
    found = find(
        fault_schedules(NAMES, max_faults=6, horizon=20.0),
        lambda schedule: not one_leader_after_repair(schedule, buggy=True),
        settings=settings(FAST, max_examples=300),
    )
    assert isinstance(found, FaultSchedule)
    assert 1 <= len(found) <= 3, str(found)
    # The minimal schedule really is a failure, and the correct service survives it.
    assert not one_leader_after_repair(found, buggy=True)
    assert one_leader_after_repair(found, buggy=False)
    assert any(isinstance(step, Kill) for step in found), str(found)


@settings(FAST, max_examples=12)
@given(fault_schedules(NAMES, max_faults=3, horizon=20.0))
def test_the_correct_service_holds_on_any_schedule(schedule: FaultSchedule) -> None:
    assert one_leader_after_repair(schedule, buggy=False), str(schedule)


def test_schedules_are_well_formed() -> None:
    @settings(FAST, max_examples=200)
    @given(fault_schedules(NAMES, max_faults=4, horizon=10.0))
    def check(schedule: FaultSchedule) -> None:
        steps = list(schedule)
        assert [s.at for s in steps] == sorted(s.at for s in steps)
        assert all(0 <= s.at <= 10.0 for s in steps)
        assert len(schedule) <= 4
        for step in steps:
            if isinstance(step, Partition):
                assert sorted(n for g in step.groups for n in g) == NAMES

    check()


class LeaderMachine(RuleBasedStateMachine):
    """Stateful: rules build a fault schedule a step at a time with a model of which nodes
    are down or paused (so a restart only follows a kill); teardown runs it in one
    simulation and checks the invariant. ``buggy`` plants the bug."""

    buggy = False

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.steps: list[Fault] = []
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.split = False

    @initialize()
    def start(self) -> None:
        self.now = 0.5

    @rule(seconds=st.integers(1, 8))
    def wait(self, seconds: int) -> None:
        self.now += seconds

    @precondition(lambda self: len(self.down) < len(NAMES) - 1)
    @rule(node=st.sampled_from(NAMES))
    def kill(self, node: str) -> None:
        if node not in self.down:
            self.down.add(node)
            self.steps.append(Kill(self.now, node))

    @precondition(lambda self: bool(self.down))
    @rule(data=st.data())
    def restart(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.down)))
        self.down.discard(node)
        self.steps.append(Restart(self.now, node))

    @rule(node=st.sampled_from(NAMES))
    def pause(self, node: str) -> None:
        if node not in self.paused:
            self.paused.add(node)
            self.steps.append(Pause(self.now, node))

    @precondition(lambda self: bool(self.paused))
    @rule(data=st.data())
    def resume(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(sorted(self.paused)))
        self.paused.discard(node)
        self.steps.append(Resume(self.now, node))

    @precondition(lambda self: not self.split)
    @rule(cut=st.integers(1, len(NAMES) - 1))
    def partition(self, cut: int) -> None:
        self.split = True
        self.steps.append(Partition(self.now, (tuple(NAMES[:cut]), tuple(NAMES[cut:]))))

    @precondition(lambda self: self.split)
    @rule()
    def heal(self) -> None:
        self.split = False
        self.steps.append(Heal(self.now))

    def teardown(self) -> None:
        assert one_leader_after_repair(self.steps, buggy=self.buggy), self.steps


def test_the_stateful_machine_passes_the_correct_service() -> None:
    run_state_machine_as_test(
        LeaderMachine, settings=settings(FAST, max_examples=8, stateful_step_count=8))


def test_the_stateful_machine_catches_the_planted_bug() -> None:
    class Buggy(LeaderMachine):
        buggy = True

    with pytest.raises(AssertionError, match=r"Kill\("):
        run_state_machine_as_test(
            Buggy, settings=settings(FAST, max_examples=100, stateful_step_count=8))
