"""What every node of a simulated cluster knows right now, counted for the demo's table.

A node's view is complete when it has every running node alive and no stopped node alive or
suspect: after a join, it knows everyone; after a kill, it has also declared the victim dead.
Reading the views changes nothing in the simulation.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import attrs

from trio_gossip.apps.sim.observe import NodeStatus, SimNode
from trio_gossip.wire.messages import NodeState


@attrs.frozen
class NodeView:
    """One node's counts of the members it knows, by state (dead includes left)."""

    name: str
    running: bool
    status: str  # "running", "killed", "left", "starting"
    alive: int = 0
    suspect: int = 0
    dead: int = 0
    complete: bool = False


@attrs.frozen
class Survey:
    """Every node's view at one moment, in node order."""

    views: tuple[NodeView, ...]

    @property
    def running(self) -> tuple[NodeView, ...]:
        return tuple(v for v in self.views if v.running)

    @property
    def complete(self) -> int:
        return sum(1 for v in self.views if v.complete)

    @property
    def suspecting(self) -> int:
        """How many running nodes hold some member as suspect."""
        return sum(1 for v in self.running if v.suspect)

    @property
    def seeing_dead(self) -> int:
        """How many running nodes hold some member as dead (or left)."""
        return sum(1 for v in self.running if v.dead)

    def seen(self) -> tuple[int, int, float]:
        """Members seen (alive or suspect) per running node: min, max and median."""
        seen = [v.alive + v.suspect for v in self.running]
        if not seen:
            return 0, 0, 0.0
        return min(seen), max(seen), statistics.median(seen)


def _node_view(sim: SimNode, running: frozenset[str]) -> NodeView:
    if not sim.running or sim.node is None:
        return NodeView(sim.name, running=False, status=sim.status.value)
    alive = suspect = dead = wrong = 0
    for member in sim.node.snapshot.membership.members.values():
        state = member.state
        if state == NodeState.ALIVE:
            alive += 1
            wrong += member.name not in running
        elif state == NodeState.SUSPECT:
            suspect += 1
        else:
            dead += 1
    complete = alive == len(running) and not suspect and not wrong
    return NodeView(sim.name, running=True, status=NodeStatus.RUNNING.value, alive=alive,
                    suspect=suspect, dead=dead, complete=complete)  # fmt: skip


def survey(nodes: Sequence[SimNode]) -> Survey:
    """Count every node's view (a pass over each running node's member table)."""
    running = frozenset(sim.name for sim in nodes if sim.running and sim.node is not None)
    return Survey(tuple(_node_view(sim, running) for sim in nodes))


def view(sim: SimNode, subjects: Sequence[SimNode]) -> list[NodeState | None]:
    """How ``sim`` sees each subject (None: never heard of it)."""
    node = sim.memberlist
    states: list[NodeState | None] = []
    for subject in subjects:
        member = node.member(subject.name)
        states.append(member.state if member is not None else None)
    return states
