"""Version stamps: a per-record hybrid logical clock with the writer as tie-break.

dskit orders ring updates by a one-second wall-clock timestamp. Two different writes in
the same second never converge (each node keeps the first it saw), and a CAS has to sleep
a second to make a change visible. A `Version` fixes both:

- ``ms`` is physical time in milliseconds, so versions still mean "when" (tombstone
  horizons, staleness) and a later write normally beats an earlier one;
- ``logical`` counts writes within one ``ms`` (and absorbs clocks that went backwards), so
  the next version of a record is always strictly greater: a CAS never waits;
- ``writer`` breaks the last tie, so two writers stamping the same record at the same
  instant still produce two *different* versions that every node orders the same way.

Versions only need to order updates of one record, so the clock is per record: the next
stamp is derived from the record's current version, with no clock state kept anywhere.
"""

from __future__ import annotations

import math
from typing import ClassVar

import attrs

from trio_gossip.wire.errors import DecodeError


@attrs.frozen(order=True)
class Version:
    """A stamp that totally orders the updates of one record (compare with ``<``)."""

    ms: int
    logical: int = 0
    writer: str = ""

    ZERO: ClassVar[Version]

    @property
    def seconds(self) -> float:
        """The physical part as seconds, the unit time is passed around in."""
        return self.ms / 1000.0

    def next(self, now: float, writer: str) -> Version:
        """The stamp for the write that follows this one, made by `writer` at `now` (s).

        Strictly greater than `self` whatever the clock says, which is what lets a local
        update win immediately.
        """
        ms = max(to_ms(now), self.ms)
        logical = self.logical + 1 if ms == self.ms else 0
        return Version(ms, logical, writer)

    def bump(self) -> Version:
        """The smallest useful successor: same instant and writer, one logical tick later.

        Used where a write must supersede a record but no clock is at hand (a local CAS
        that deleted or rewrote a record without stamping it).
        """
        return Version(self.ms, self.logical + 1, self.writer)


Version.ZERO = Version(0, 0, "")


def to_ms(seconds: float) -> int:
    """Seconds as whole milliseconds, the resolution every time is kept and sent in.

    Rounding (not flooring) makes ``to_ms(to_ms(t) / 1000) == to_ms(t)``, so a time that
    went through the wire once comes back unchanged.
    """
    if not math.isfinite(seconds):
        raise ValueError(f"time must be finite, got {seconds!r}")
    return round(seconds * 1000.0)


def quantize(seconds: float) -> float:
    """A time rounded to the millisecond it travels as, so local and decoded copies are equal."""
    return to_ms(seconds) / 1000.0


_MAX_INT64 = 2**63 - 1


def version_to_plain(version: Version) -> tuple[int, int, str]:
    """The msgpack form every codec uses: ``[ms, logical, writer]``."""
    return (version.ms, version.logical, version.writer)


def version_from_plain(plain: object) -> Version:
    """Inverse of `version_to_plain`; DecodeError on anything else."""
    if type(plain) is not tuple or len(plain) != 3:
        raise DecodeError("version: expected [ms, logical, writer]")
    ms, logical, writer = plain
    if type(ms) is not int or not 0 <= ms <= _MAX_INT64:
        raise DecodeError(f"version: bad ms {ms!r}")
    if type(logical) is not int or not 0 <= logical <= _MAX_INT64:
        raise DecodeError(f"version: bad logical counter {logical!r}")
    if type(writer) is not str:
        raise DecodeError("version: writer is not a string")
    return Version(ms, logical, writer)
