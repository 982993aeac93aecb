"""The probe order as an immutable sequence whose appends cost O(1).

memberlist adds a new node by appending it and swapping it with a random earlier slot
(state.go aliveNode), so it is probed somewhere in the current round. Done on a tuple, each
new member copies the whole order: a node that learns a thousand members during a join
copied a thousand tuples of up to a thousand names, a tenth of a simulated join's CPU. Here an
append is a link to the order before it; the names are laid out once, when someone first
reads them (the next probe, gossip or push/pull, after a burst of appends), and kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload


class ProbeOrder(Sequence[str]):
    """``before`` with ``name`` appended, then swapped with slot ``swap`` (None: no swap).
    Equal to (and hashed as) the tuple of its names."""

    __slots__ = ("_before", "_flat", "_len", "_name", "_swap")

    def __init__(self, before: Sequence[str], name: str, swap: int | None) -> None:
        self._before: Sequence[str] | None = before
        self._name = name
        self._swap = swap
        self._len = len(before) + 1
        self._flat: tuple[str, ...] | None = None

    def names(self) -> tuple[str, ...]:
        """The order as a tuple (laid out on first use: walk back to a laid-out order, then
        apply the appends after it in turn)."""
        flat = self._flat
        if flat is not None:
            return flat
        links: list[ProbeOrder] = []
        node: Sequence[str] | None = self
        while isinstance(node, ProbeOrder) and node._flat is None:
            links.append(node)
            node = node._before
        assert node is not None  # a link loses ``_before`` only once laid out
        out = list(node.names() if isinstance(node, ProbeOrder) else node)
        for link in reversed(links):
            out.append(link._name)
            j = link._swap
            if j is not None:
                out[j], out[-1] = out[-1], out[j]
        self._flat = tuple(out)
        self._before = None  # the earlier links may go
        return self._flat

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return self.names()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def index(self, value: object, start: int = 0, stop: int | None = None) -> int:
        return self.names().index(value, start, len(self) if stop is None else stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProbeOrder):
            return self.names() == other.names()
        if isinstance(other, tuple):
            return self.names() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.names())

    def __repr__(self) -> str:
        return repr(self.names())

