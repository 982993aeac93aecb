"""Lifeguard's dynamic suspicion timeout (LHA-Suspicion), as pure values.

A suspicion starts at ``max`` and shrinks towards ``min`` as distinct accusers confirm it; the
caller keeps one timer per suspect at ``Suspicion.deadline`` and re-arms it after a confirmation.
"""

from __future__ import annotations

import math

import attrs


def suspicion_timeout(suspicion_mult: int, n: int, probe_interval: float) -> float:
    """The minimum suspicion timeout for a cluster of ``n`` known nodes.

    memberlist scales by ``max(1, log10(max(1, n)))`` truncated to three decimals (it converts
    ``scale * 1000`` to an integer), so we truncate the same way to land on the same values.
    """
    node_scale = max(1.0, math.log10(max(1.0, float(n))))
    return suspicion_mult * int(node_scale * 1000) * probe_interval / 1000


def remaining_suspicion_time(
    confirmations: int, k: int, elapsed: float, min_timeout: float, max_timeout: float
) -> float:
    """Time left after ``confirmations`` distinct confirmations, ``elapsed`` seconds in.

    The total timeout falls from max to min along ``log(n+1)/log(k+1)``, floored to whole
    milliseconds and never below min. A result <= 0 means the timer is already due.
    """
    frac = math.log(confirmations + 1.0) / math.log(k + 1.0)
    raw = max_timeout - frac * (max_timeout - min_timeout)
    timeout = max(math.floor(1000.0 * raw) / 1000.0, min_timeout)
    return timeout - elapsed


def confirmations_wanted(suspicion_mult: int, n: int) -> int:
    """k: how many independent confirmations take the timeout down to min.

    Derived from SuspicionMult (not IndirectChecks), and 0 when the cluster is too small to
    ever produce that many distinct accusers.
    """
    k = suspicion_mult - 2
    return 0 if n - 2 < k else k


# Timers may fire a hair early on float clocks; a suspicion within this of its deadline is due.
DEADLINE_SLACK = 1e-9


@attrs.frozen
class Suspicion:
    """One running suspicion: when it started, its bounds and who has accused so far."""

    start: float
    min_timeout: float
    max_timeout: float
    k: int
    accusers: frozenset[str]  # the originating accuser counts as already confirmed
    timeout: float  # current total length, measured from ``start``
    checked: bool = False  # the last-chance push/pull with the suspect was started

    @classmethod
    def begin(
        cls,
        from_node: str,
        now: float,
        n: int,
        *,
        suspicion_mult: int,
        suspicion_max_timeout_mult: int,
        probe_interval: float,
    ) -> Suspicion:
        k = confirmations_wanted(suspicion_mult, n)
        min_timeout = suspicion_timeout(suspicion_mult, n, probe_interval)
        max_timeout = suspicion_max_timeout_mult * min_timeout
        return cls(
            start=now,
            min_timeout=min_timeout,
            max_timeout=max_timeout,
            k=k,
            accusers=frozenset((from_node,)),
            timeout=max_timeout if k >= 1 else min_timeout,
        )

    @property
    def confirmations(self) -> int:
        return len(self.accusers) - 1

    @property
    def deadline(self) -> float:
        return self.start + self.timeout

    def due(self, now: float) -> bool:
        """Whether the timer may end it now (timers fire a hair early on float clocks)."""
        return now + DEADLINE_SLACK >= self.deadline

    def checking(self, now: float, within: float) -> Suspicion:
        """The last-chance check started: the verdict waits at most ``within`` for it."""
        return attrs.evolve(self, checked=True, timeout=now + within - self.start)

    def extended(self, now: float) -> Suspicion:
        """The suspect answered the check: one more minimum timeout for its refutation."""
        return attrs.evolve(self, timeout=now + self.min_timeout - self.start)

    def ended(self, now: float) -> Suspicion:
        """The suspect did not answer the check: due at once."""
        return attrs.evolve(self, timeout=now - self.start)

    def confirm(self, from_node: str) -> Suspicion | None:
        """The suspicion after a confirmation by ``from_node``; None if it adds nothing new."""
        if self.confirmations >= self.k or from_node in self.accusers:
            return None
        accusers = self.accusers | {from_node}
        timeout = remaining_suspicion_time(
            len(accusers) - 1, self.k, 0.0, self.min_timeout, self.max_timeout
        )
        return attrs.evolve(self, accusers=accusers, timeout=timeout)
