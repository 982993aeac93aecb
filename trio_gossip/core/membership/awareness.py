"""Lifeguard's local health multiplier ("awareness"): a node that misses acks slows itself down."""

from __future__ import annotations


def apply_awareness_delta(score: int, delta: int, max_multiplier: int) -> int:
    """New score after ``delta``, clamped to ``[0, max_multiplier - 1]``."""
    return min(max(score + delta, 0), max_multiplier - 1)


def scale_timeout(timeout: float, score: int) -> float:
    """Scale the probe interval (only that) by ``score + 1``."""
    return timeout * (score + 1)
