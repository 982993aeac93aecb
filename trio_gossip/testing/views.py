"""What each node believes, in words: the body of a waiting helper's error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from trio_gossip.core.ring import InstanceState, Ring
from trio_gossip.shell.memberlist import Memberlist
from trio_gossip.wire.messages import NodeState


class GossipTimeoutError(AssertionError):
    """A waiting helper's deadline passed: what did not happen and what each node believed."""


def membership_view(name: str, node: Memberlist, expected: set[str]) -> str:
    """One line: whom ``node`` lists in which state, and how that differs from ``expected``."""
    states: dict[str, list[str]] = {}
    for member in node.members():
        states.setdefault(member.state.name.lower(), []).append(member.name)
    listed = {m.name for m in node.members() if m.state in (NodeState.ALIVE, NodeState.SUSPECT)}
    alive = set(states.get("alive", ()))
    parts = [f"{state}={','.join(sorted(names))}" for state, names in sorted(states.items())]
    missing = sorted(expected - listed)
    doubted = sorted((expected & listed) - alive)
    extra = sorted(listed - expected)
    if missing:
        parts.append(f"MISSING {','.join(missing)}")
    if doubted:
        parts.append(f"NOT ALIVE {','.join(doubted)}")
    if extra:
        parts.append(f"STILL LISTS {','.join(extra)}")
    return f"  {name}: " + " ".join(parts)


def ring_view(name: str, ring: Ring) -> str:
    records = [f"{d.id}:{InstanceState(d.state).name}" for d in ring.live()]
    return f"  {name}: ring " + (" ".join(records) if records else "(empty)")


def timeout_message(what: str, deadline: float, lines: Iterable[str],
                    notes: Sequence[str]) -> str:  # fmt: skip
    body = "\n".join(lines)
    tail = ("\nfaults applied: " + "; ".join(notes)) if notes else ""
    return f"{what} within {deadline:.2f} simulated s. Each node believed:\n{body}{tail}"
