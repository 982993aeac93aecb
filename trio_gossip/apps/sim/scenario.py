"""Scenario steps: what to do to a simulated cluster, and when.

``at`` is seconds after the scenario starts (``Cluster.run_scenario``). Nodes are named by
their simulation names ("node-07"); the cluster maps names to network hosts.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs


@attrs.frozen
class Kill:
    """Like kill -9: the node's network goes silent and its tasks stop, with no leave."""

    at: float
    node: str


@attrs.frozen
class Leave:
    """A graceful leave (peers record "left"), then the node stops."""

    at: float
    node: str


@attrs.frozen
class Pause:
    """The node's network freezes (sends block, arrivals are held) until ``Resume``."""

    at: float
    node: str


@attrs.frozen
class Resume:
    at: float
    node: str


@attrs.frozen
class Slow:
    """Everything delivered to the node arrives ``delay`` seconds late (0 undoes it)."""

    at: float
    node: str
    delay: float


def _groups(groups: Iterable[Iterable[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(group) for group in groups)


@attrs.frozen
class Partition:
    """Nodes in different groups cannot reach each other; unnamed nodes reach everyone."""

    at: float
    groups: tuple[tuple[str, ...], ...] = attrs.field(converter=_groups)


@attrs.frozen
class Heal:
    at: float


@attrs.frozen
class SetLoss:
    """Change the packet loss of every link (streams stay reliable, as TCP would)."""

    at: float
    loss: float


@attrs.frozen
class UpdateMeta:
    """The node announces new metadata (a broadcast whose reach the history records)."""

    at: float
    node: str
    meta: bytes


Step = Kill | Leave | Pause | Resume | Slow | Partition | Heal | SetLoss | UpdateMeta
Scenario = tuple[Step, ...]
