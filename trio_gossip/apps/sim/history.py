"""What each simulated node learned, and when: the record a simulation leaves behind.

A fact is "observer Y saw subject X in state S (at incarnation I)" at time T. Only the first
time per (observer, subject, kind, incarnation) is kept, so a history is small enough to compare
between two runs of the same seed, and every question (when did X's death reach everyone, when
did metadata version I arrive) is a scan over it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Iterator

import attrs


class FactKind(enum.Enum):
    ALIVE = "alive"  # first heard of, or back after dead/left (a join)
    SUSPECT = "suspect"
    DEAD = "dead"
    LEFT = "left"
    UPDATED = "updated"  # metadata changed


@attrs.frozen
class Fact:
    time: float
    observer: str
    subject: str
    kind: FactKind
    incarnation: int


@attrs.frozen
class Note:
    """Something the harness did (a kill, a partition...), kept in the same timeline."""

    time: float
    what: str


class History:
    """Facts in the order they were recorded, with a first-time index.

    Mutable and append-only; one simulation writes it from one Trio thread.
    """

    def __init__(self) -> None:
        self.facts: list[Fact] = []
        self.notes: list[Note] = []
        self._seen: set[tuple[str, str, FactKind, int]] = set()
        self._first: dict[tuple[str, str, FactKind], float] = {}
        self._about: dict[tuple[str, FactKind], list[Fact]] = {}  # by (subject, kind)
        self.enabled = True

    def record(
        self, time: float, observer: str, subject: str, kind: FactKind, incarnation: int
    ) -> bool:
        """Keep the fact if it is new; True if it was."""
        if not self.enabled:
            return False
        key = (observer, subject, kind, incarnation)
        if key in self._seen:
            return False
        self._seen.add(key)
        fact = Fact(time, observer, subject, kind, incarnation)
        self.facts.append(fact)
        self._about.setdefault((subject, kind), []).append(fact)
        first = (observer, subject, kind)
        # Sampled suspicions arrive with their (earlier) start time, so keep the minimum.
        if first not in self._first or time < self._first[first]:
            self._first[first] = time
        return True

    def note(self, time: float, what: str) -> None:
        self.notes.append(Note(time, what))

    def first(self, observer: str, subject: str, kind: FactKind) -> float | None:
        """When ``observer`` first saw ``subject`` as ``kind``; None if it never did."""
        return self._first.get((observer, subject, kind))

    def first_times(
        self,
        subject: str,
        kind: FactKind,
        *,
        min_incarnation: int = 0,
        observers: Iterable[str] | None = None,
        since: float = -math.inf,
    ) -> dict[str, float]:
        """Per observer, the first time (not before ``since``) it saw ``subject`` as ``kind``
        at ``min_incarnation`` or later; observers that never did are absent."""
        wanted = set(observers) if observers is not None else None
        times: dict[str, float] = {}
        for fact in self._select(subject, kind, min_incarnation):
            if fact.time < since or (wanted is not None and fact.observer not in wanted):
                continue
            if fact.observer not in times or fact.time < times[fact.observer]:
                times[fact.observer] = fact.time
        return times

    def count(self, kind: FactKind, subjects: Iterable[str] | None = None) -> int:
        """How many (observer, subject) pairs ever recorded ``kind``."""
        wanted = set(subjects) if subjects is not None else None
        pairs = {
            (f.observer, f.subject)
            for f in self.facts
            if f.kind == kind and (wanted is None or f.subject in wanted)
        }
        return len(pairs)

    def subjects(self, kind: FactKind) -> set[str]:
        """Every subject some observer saw as ``kind``."""
        return {f.subject for f in self.facts if f.kind == kind}

    def _select(self, subject: str, kind: FactKind, min_incarnation: int) -> Iterator[Fact]:
        for fact in self.facts:
            if (
                fact.subject == subject
                and fact.kind == kind
                and fact.incarnation >= min_incarnation
            ):
                yield fact

    def trace(self) -> list[tuple[float, str, str, str, int]]:
        """The whole history as plain tuples: equal for two runs of the same seed."""
        return [
            (f.time, f.observer, f.subject, f.kind.value, f.incarnation) for f in self.facts
        ] + [(n.time, "", n.what, "note", 0) for n in self.notes]
