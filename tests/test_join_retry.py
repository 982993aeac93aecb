"""Join retries with dskit's backoff, abort_if_join_fails, and the periodic rejoin to the seeds
(shell/node/joiner.py), on the memory network and trio's MockClock: every bound below comes
from the JoinPolicy or the node's Config."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from node_support import base_config, wait_for

from trio_gossip import Memberlist, open_memberlist
from trio_gossip.core.join_policy import JoinPolicy, delay
from trio_gossip.shell.node.joiner import join_with_backoff, rejoin_forever
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.errors import ConfigError, JoinError

SEED = ("10.9.0.1", 7946)
SEED_TEXT = "10.9.0.1:7946"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_backoff", 0.0),
        ("min_backoff", float("inf")),
        ("max_backoff", 0.5),  # below min_backoff
        ("max_backoff", "60"),
        ("max_retries", -1),
        ("max_retries", 2.5),
        ("abort_if_join_fails", 1),
        ("rejoin_interval", -1.0),
        ("rejoin_interval", float("nan")),
    ],
)
def test_bad_policies_name_the_field(field: str, value: object) -> None:
    kwargs: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError, match=f"^{field}: "):
        JoinPolicy(**kwargs)


def test_delays_double_with_jitter_up_to_the_cap() -> None:
    policy = JoinPolicy(min_backoff=1.0, max_backoff=10.0)
    rng = random.Random(7)
    for retry in range(12):
        for _ in range(50):
            d = delay(policy, retry, rng)
            low = min(2.0**retry, 10.0)
            assert low <= d <= min(2 * low, 10.0)
    assert delay(policy, 200, rng) == 10.0


class Attempts:
    """Wraps a node's join to record when each attempt started and ended."""

    def __init__(self, node: Memberlist) -> None:
        self.node = node
        self.spans: list[tuple[float, float]] = []

    async def __call__(self, seeds: Sequence[str]) -> int:
        start = trio.current_time()
        try:
            return await self.node.join(list(seeds))
        finally:
            self.spans.append((start, trio.current_time()))

    def waits(self) -> list[float]:
        return [b[0] - a[1] for a, b in zip(self.spans, self.spans[1:], strict=False)]


async def test_retries_until_the_seed_appears(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=101)
    config = base_config(tcp_timeout=1.0)
    policy = JoinPolicy(min_backoff=0.5, max_backoff=4.0, max_retries=0)
    seed_up_at = 6.0
    async with open_memberlist(attrs.evolve(config, name="joiner"), transport=net.add_node()) as j:
        attempts = Attempts(j)

        async with trio.open_nursery() as nursery:

            async def late_seed() -> None:
                await trio.sleep(seed_up_at)
                async with open_memberlist(
                    attrs.evolve(config, name="seed"), transport=net.add_node(SEED)
                ) as seed:
                    await wait_for(lambda: seed.num_members() == 2, 60)

            nursery.start_soon(late_seed)
            start = trio.current_time()
            assert await join_with_backoff(attempts, [SEED_TEXT], policy) == 1
            joined_after = trio.current_time() - start
    waits = attempts.waits()
    assert len(attempts.spans) >= 3
    for k, wait in enumerate(waits):
        low = min(policy.min_backoff * 2**k, policy.max_backoff)
        assert low - 1e-9 <= wait <= min(2 * low, policy.max_backoff) + 1e-9
    # The first attempt after the seed came up succeeded: at most one (capped) backoff late.
    assert seed_up_at <= joined_after <= seed_up_at + policy.max_backoff + config.tcp_timeout


@pytest.mark.parametrize("abort", [True, False])
async def test_gives_up_after_max_retries(
    autojump_clock: trio.testing.MockClock, abort: bool
) -> None:
    net = MemoryNetwork(seed=102)
    policy = JoinPolicy(min_backoff=1.0, max_backoff=3.0, max_retries=4, abort_if_join_fails=abort)
    async with open_memberlist(base_config(name="alone"), transport=net.add_node()) as node:
        attempts = Attempts(node)
        start = trio.current_time()
        if abort:
            with pytest.raises(JoinError, match="gave up after 4 join attempts"):
                await join_with_backoff(attempts, [SEED_TEXT], policy)
        else:
            assert await join_with_backoff(attempts, [SEED_TEXT], policy) == 0
        took = trio.current_time() - start
    assert len(attempts.spans) == policy.max_retries
    # Three waits: [1, 2), [2, 3], [3, 3] seconds.
    assert 1 + 2 + 3 <= took <= 2 + 3 + 3 + 4 * base_config().tcp_timeout


async def test_rejoin_finds_a_seed_that_restarted_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The seed crashes and comes back knowing nobody. memberlist alone never reconnects the
    two (the survivor declared it dead and stops gossiping to it after
    gossip_to_the_dead_time); the rejoin ticker does, within one rejoin_interval."""
    net = MemoryNetwork(seed=103)
    config = base_config(name="t")
    interval = 20.0
    async with (
        open_memberlist(attrs.evolve(config, name="b"), transport=net.add_node()) as b,
        trio.open_nursery() as nursery,
    ):
        async with open_memberlist(
            attrs.evolve(config, name="seed"), transport=net.add_node(SEED),
            leave_on_exit=False,
        ):  # fmt: skip
            assert await b.join([SEED_TEXT]) == 1
            nursery.start_soon(rejoin_forever, b.join, [SEED_TEXT], interval)
            net.kill(SEED[0])
        # Crashed: b finds it dead, and keeps no link to it past gossip_to_the_dead_time.
        await wait_for(lambda: b.num_members() == 1, 60)
        await trio.sleep(config.gossip_to_the_dead_time)
        async with open_memberlist(
            attrs.evolve(config, name="seed"), transport=net.add_node(SEED)
        ) as seed:
            took = await wait_for(lambda: seed.num_members() == 2, 3 * interval)
            assert took <= interval + config.tcp_timeout
            await wait_for(lambda: b.num_members() == 2, config.probe_interval * 5)
            nursery.cancel_scope.cancel()
