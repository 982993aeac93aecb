"""Hypothesis strategies for fault schedules (needs the ``test`` extra).

A schedule is a list of episodes: a kill (with or without a later restart), a pause and its
resume, a partition and its heal, a loss burst and its end, a clock skew and its end, a clock
drift and its end. Hypothesis shrinks the list by dropping whole episodes and moves each
toward "node-00, at 0 s, short", so a failing schedule shrinks to the few faults that matter.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import attrs
from hypothesis import strategies as st

from trio_gossip.testing import faults as ft

Episode = tuple[ft.Fault, ...]


@attrs.frozen
class FaultSchedule:
    """Episodes of faults; iterating gives their steps in time order (``run_schedule``)."""

    episodes: tuple[Episode, ...]

    def __iter__(self) -> Iterator[ft.Fault]:
        steps = [step for episode in self.episodes for step in episode]
        return iter(sorted(steps, key=lambda step: step.at))

    def __len__(self) -> int:
        """How many faults (episodes) the schedule holds."""
        return len(self.episodes)

    def __str__(self) -> str:
        return "; ".join(" then ".join(repr(step) for step in ep) for ep in self.episodes)


def _times(horizon: float) -> st.SearchStrategy[tuple[float, float]]:
    """A start and an end within the horizon, whole tenths of a second (shrinks cleanly)."""
    tenths = int(horizon * 10)
    return st.tuples(st.integers(0, tenths), st.integers(1, tenths)).map(
        lambda t: (t[0] / 10, min(tenths, t[0] + t[1]) / 10))


def _kill(names: Sequence[str], horizon: float) -> st.SearchStrategy[Episode]:
    @st.composite
    def build(draw: st.DrawFn) -> Episode:
        node = draw(st.sampled_from(names))
        start, end = draw(_times(horizon))
        if draw(st.booleans()):
            return (ft.Kill(start, node),)
        return (ft.Kill(start, node), ft.Restart(end, node))

    return build()


def _pause(names: Sequence[str], horizon: float) -> st.SearchStrategy[Episode]:
    return st.tuples(st.sampled_from(names), _times(horizon)).map(
        lambda a: (ft.Pause(a[1][0], a[0]), ft.Resume(a[1][1], a[0])))


def _partition(names: Sequence[str], horizon: float) -> st.SearchStrategy[Episode]:
    @st.composite
    def build(draw: st.DrawFn) -> Episode:
        cut = draw(st.sets(st.sampled_from(names), min_size=1, max_size=max(1, len(names) - 1)))
        rest = tuple(n for n in names if n not in cut)
        start, end = draw(_times(horizon))
        group = tuple(n for n in names if n in cut)
        return (ft.Partition(start, (group, rest)), ft.Heal(end))

    return build()


def _loss(horizon: float) -> st.SearchStrategy[Episode]:
    return st.tuples(st.integers(1, 9), _times(horizon)).map(
        lambda a: (ft.SetLoss(a[1][0], a[0] / 10), ft.SetLoss(a[1][1], 0.0)))


def _skew(names: Sequence[str], horizon: float) -> st.SearchStrategy[Episode]:
    return st.tuples(st.sampled_from(names), st.integers(-120, 120), _times(horizon)).map(
        lambda a: (ft.Skew(a[2][0], a[0], float(a[1])), ft.Skew(a[2][1], a[0], 0.0)))


def _drift(names: Sequence[str], horizon: float) -> st.SearchStrategy[Episode]:
    # A clock that gains or loses up to half a second a second, then runs at the right rate
    # again (what it drifted stays as skew).
    return st.tuples(st.sampled_from(names), st.integers(-5, 5), _times(horizon)).map(
        lambda a: (ft.Drift(a[2][0], a[0], a[1] / 10), ft.Drift(a[2][1], a[0], 0.0)))


def fault_episodes(names: Sequence[str], *, horizon: float = 30.0
                   ) -> st.SearchStrategy[Episode]:  # fmt: skip
    """One fault episode among ``names`` within ``horizon`` seconds."""
    if not names:
        raise ValueError("fault_episodes needs at least one node name")
    if not horizon > 0:
        raise ValueError(f"horizon must be positive, got {horizon}")
    return st.one_of(_kill(names, horizon), _pause(names, horizon),
                     _partition(names, horizon), _loss(horizon), _skew(names, horizon),
                     _drift(names, horizon))  # fmt: skip


def fault_schedules(names: Sequence[str], *, max_faults: int = 4, horizon: float = 30.0
                    ) -> st.SearchStrategy[FaultSchedule]:  # fmt: skip
    """Schedules of up to ``max_faults`` episodes (see the module docstring)."""
    episodes = fault_episodes(list(names), horizon=horizon)
    return st.lists(episodes, max_size=max_faults).map(lambda e: FaultSchedule(tuple(e)))
