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

    Mutable and append-only; one simulation writes it from one Trio thread. A fact is kept as
    a plain row and becomes a ``Fact`` when ``facts`` is read: a 1,000-node join records a
    million facts, and most runs only ever read a few (or a digest of them all).
    """

    def __init__(self) -> None:
        self._rows: list[tuple[float, str, str, FactKind, int]] = []
        self._facts: list[Fact] = []  # the rows read so far, as Facts
        self.notes: list[Note] = []
        self._seen: set[tuple[str, str, FactKind, int]] = set()
        self._first: dict[tuple[str, str, FactKind], float] = {}
        self.enabled = True

    @property
    def facts(self) -> list[Fact]:
        """Every fact, in the order recorded (the same list each time, grown as needed)."""
        facts, rows = self._facts, self._rows
        if len(facts) < len(rows):
            facts.extend(Fact(*row) for row in rows[len(facts) :])
        return facts

    def record(
        self, time: float, observer: str, subject: str, kind: FactKind, incarnation: int
    ) -> bool:
        """Keep the fact if it is new; True if it was."""
        if not self.enabled:
            return False
        key = (observer, subject, kind, incarnation)
        seen = self._seen
        if key in seen:
            return False
        seen.add(key)
        self._rows.append((time, observer, subject, kind, incarnation))
        first = (observer, subject, kind)
        # Sampled suspicions arrive with their (earlier) start time, so keep the minimum.
        known = self._first.get(first)
        if known is None or time < known:
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
            (time, observer, subject, kind.value, incarnation)
            for time, observer, subject, kind, incarnation in self._rows
        ] + [(n.time, "", n.what, "note", 0) for n in self.notes]
