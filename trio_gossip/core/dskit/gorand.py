"""Go's ``math/rand`` source, bit for bit: ``rand.New(rand.NewSource(seed))``.

dskit's ShuffleShard (ring/ring.go shuffleShard) draws ``Uint32()`` from a generator seeded per
zone, so a Python client picks the same shard as Go only with Go's exact generator: the additive
lagged Fibonacci source of src/math/rand/rng.go (607 words, tap 273), seeded through the Lehmer
LCG ``seedrand`` and XORed with ``rngCooked``. Deterministic from the seed; no own randomness.
"""

from __future__ import annotations

from functools import lru_cache

from trio_gossip.core.dskit.gorand_cooked import RNG_COOKED

_RNG_LEN = 607
_RNG_TAP = 273
_INT32_MAX = (1 << 31) - 1
_MASK64 = (1 << 64) - 1
_MASK63 = (1 << 63) - 1

_COOKED_U64 = tuple(c & _MASK64 for c in RNG_COOKED)


_A = 48271
_SEED_STEPS = 20 + 3 * _RNG_LEN
# rng.go seedrand(x) is Schrage's exact form of 48271 * x mod (2**31 - 1), so the k-th value of
# the seeding sequence is x0 * 48271**k mod (2**31 - 1): one multiplication each.
_POWERS = tuple(pow(_A, k, _INT32_MAX) for k in range(1, _SEED_STEPS + 1))


@lru_cache(maxsize=4096)
def _seeded_vec(seed: int) -> tuple[int, ...]:
    # rng.go rngSource.Seed
    seed %= _INT32_MAX  # Go's % truncates; its fix-up for negatives makes it Python's %
    if seed == 0:
        seed = 89482311
    xs = [seed * p % _INT32_MAX for p in _POWERS]
    return tuple(
        ((xs[20 + 3 * i] << 40) ^ (xs[21 + 3 * i] << 20) ^ xs[22 + 3 * i] ^ cooked) & _MASK64
        for i, cooked in enumerate(_COOKED_U64)
    )


class GoRand:
    """The generator ``rand.New(rand.NewSource(seed))`` of Go's math/rand."""

    __slots__ = ("_feed", "_tap", "_vec")

    def __init__(self, seed: int) -> None:
        self._tap = 0
        self._feed = _RNG_LEN - _RNG_TAP
        self._vec = list(_seeded_vec(seed))

    def uint64(self) -> int:
        """rngSource.Uint64."""
        self._tap -= 1
        if self._tap < 0:
            self._tap += _RNG_LEN
        self._feed -= 1
        if self._feed < 0:
            self._feed += _RNG_LEN
        x = (self._vec[self._feed] + self._vec[self._tap]) & _MASK64
        self._vec[self._feed] = x
        return x

    def int63(self) -> int:
        """Rand.Int63."""
        return self.uint64() & _MASK63

    def uint32(self) -> int:
        """Rand.Uint32: ``uint32(r.Int63() >> 31)``."""
        return self.int63() >> 31
