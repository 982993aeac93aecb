"""How a node keeps trying to join its seeds: dskit's memberlist KV settings
(dskit kv/memberlist/memberlist_client.go, KVConfig: ``min_join_backoff``,
``max_join_backoff``, ``max_join_retries``, ``abort_if_cluster_join_fails``,
``rejoin_interval``) and the jittered doubling of dskit backoff/backoff.go ``NextDelay``.

Pure: the shell (shell/node/joiner.py) sleeps the delays computed here.
"""

from __future__ import annotations

import math
import random

import attrs

from trio_gossip.wire.errors import ConfigError


def _fail(field: str, why: str) -> ConfigError:
    return ConfigError(f"{field}: {why}")


@attrs.frozen(kw_only=True)
class JoinPolicy:
    """dskit's defaults: 1 s doubling to 1 min, 10 attempts, keep running if all fail."""

    min_backoff: float = 1.0
    max_backoff: float = 60.0
    # Attempts in all (dskit's backoff stops once it has retried MaxRetries times); 0: forever.
    max_retries: int = 10
    abort_if_join_fails: bool = False
    # Join the seeds again every this many seconds, whatever the members say; 0: never.
    rejoin_interval: float = 0.0

    def __attrs_post_init__(self) -> None:
        for field in ("min_backoff", "max_backoff", "rejoin_interval"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise _fail(field, f"expected seconds as a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise _fail(field, f"must be a finite number of seconds >= 0, got {value}")
        if not self.min_backoff > 0:
            raise _fail("min_backoff", "must be positive")
        if self.max_backoff < self.min_backoff:
            raise _fail("max_backoff", "must not be below min_backoff")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise _fail("max_retries", f"expected int, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise _fail("max_retries", "must not be negative (0 retries forever)")
        if not isinstance(self.abort_if_join_fails, bool):
            raise _fail("abort_if_join_fails", f"expected bool, got {self.abort_if_join_fails!r}")


def delay(policy: JoinPolicy, retry: int, rng: random.Random) -> float:
    """The wait after failed attempt ``retry`` (0-based): uniform in [min*2^k, min*2^(k+1)),
    both ends capped at max_backoff, as dskit's NextDelay."""
    low = min(policy.min_backoff * 2.0**min(retry, 64), policy.max_backoff)
    if low >= policy.max_backoff:
        return policy.max_backoff
    high = min(low * 2, policy.max_backoff)
    return low + rng.random() * (high - low)
