"""How one direction between two simulated hosts behaves: delay, loss, duplication, reordering."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from trio_gossip.wire.errors import ConfigError


def _in_range(low: float, high: float) -> Callable[[Any, attrs.Attribute[float], float], None]:
    def check(_instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and low <= value <= high
        )
        if not ok:
            raise ConfigError(
                f"LinkConfig.{attribute.name} must be a number in [{low}, {high}], got {value!r}"
            )

    return check


_SECONDS = _in_range(0.0, 3600.0)
_PROBABILITY = _in_range(0.0, 1.0)


@attrs.frozen
class LinkConfig:
    """One-way link behaviour; every packet draws its fate from the network's seeded Random.

    A packet's delay is ``latency + U(0, jitter)``, plus ``U(0, reorder_delay)`` for the
    ``reorder`` fraction of packets, which lets later packets overtake them. ``loss`` drops,
    ``duplicate`` delivers a second copy with its own delay, ``corrupt`` flips one random bit
    of a copy (what a checksum such as memberlist's CRC header is there to catch). Streams
    (TCP) only see the delay: they are reliable and ordered.
    """

    latency: float = attrs.field(default=0.0005, validator=_SECONDS)
    jitter: float = attrs.field(default=0.0, validator=_SECONDS)
    loss: float = attrs.field(default=0.0, validator=_PROBABILITY)
    duplicate: float = attrs.field(default=0.0, validator=_PROBABILITY)
    reorder: float = attrs.field(default=0.0, validator=_PROBABILITY)
    reorder_delay: float = attrs.field(default=0.01, validator=_SECONDS)
    corrupt: float = attrs.field(default=0.0, validator=_PROBABILITY)
