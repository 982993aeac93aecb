"""Joining the seeds until it works, and again now and then (dskit kv/memberlist
memberlist_client.go: ``joinMembersOnStartup`` with its backoff, and the ``rejoin_interval``
ticker in ``running``).

Each attempt resolves the seed addresses again (``dns+`` and ``dnssrv+`` included, see
discovery), so seeds that appear while the node waits are found.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence

import trio

from trio_gossip.core.join_policy import JoinPolicy, delay
from trio_gossip.wire.errors import JoinError

log = logging.getLogger("trio_gossip.join")

JoinFn = Callable[[Sequence[str]], Awaitable[int]]


async def join_with_backoff(
    join: JoinFn,
    seeds: Sequence[str],
    policy: JoinPolicy,
    rng: random.Random | None = None,
) -> int:
    """Call ``join(seeds)`` until it succeeds; how many seeds answered, or 0 when every attempt
    failed and ``abort_if_join_fails`` is off. JoinError (the last attempt's) when it is on."""
    if not seeds:
        return 0
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await join(seeds)
        except JoinError as exc:
            last = exc
        if policy.max_retries and attempt >= policy.max_retries:
            break
        wait = delay(policy, attempt - 1, rng)
        log.info("join attempt %d failed (%s); next in %.1f s", attempt, last, wait)
        await trio.sleep(wait)
    if policy.abort_if_join_fails:
        raise JoinError(f"gave up after {attempt} join attempts: {last}")
    log.warning("gave up joining after %d attempts, running alone: %s", attempt, last)
    return 0


async def rejoin_forever(join: JoinFn, seeds: Sequence[str], interval: float) -> None:
    """Join ``seeds`` every ``interval`` seconds, so two halves that lost each other (each
    declared the other dead and stopped gossiping to it) meet again through the seeds."""
    if not seeds or interval <= 0:
        return
    while True:
        await trio.sleep(interval)
        try:
            joined = await join(seeds)
        except JoinError as exc:
            log.info("rejoin failed: %s", exc)
        else:
            log.debug("rejoined through %d seed address(es)", joined)
