"""A leaving instance's tombstone reaches everyone, expires everywhere after the horizon,
and a node that slept through it all cannot bring the instance back."""

from __future__ import annotations

import trio
import trio.testing

from trio_gossip.apps.sim.ring_cluster import (
    RingNode,
    digests,
    ring_cluster,
    rings_converged,
    seed_trio,
    wait_until,
)
from trio_gossip.core.config import Config
from trio_gossip.core.kv.settings import KVSettings
from trio_gossip.core.membership.schedule import push_pull_scale
from trio_gossip.core.ring import InstanceState, Ring
from trio_gossip.transport.memory import MemoryNetwork

N = 8
HORIZON = 60.0
SWEEP = 5.0
OPTIONS = {"heartbeat_period": 5.0, "record_refresh_period": 15.0}


def stored(node: RingNode) -> Ring:
    """The ring as stored, tombstones included (readers never see them)."""
    return node.kv.replica.entries["ring"].value  # type: ignore[no-any-return]


async def test_tombstones_expire_everywhere_and_never_come_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seed_trio(51)
    net = MemoryNetwork(seed=51)
    config = Config.lan(name="t")
    settings = KVSettings(left_instances_timeout=HORIZON, sweep_interval=SWEEP)
    async with ring_cluster(net, N, config=config, settings=settings, lifecyclers=True,
                          lifecycler_options=OPTIONS) as nodes:  # fmt: skip
        names = {n.name for n in nodes}
        await wait_until(lambda: rings_converged(nodes, names), 40.0)
        gone, stale = nodes[3], nodes[-1]
        awake = [n for n in nodes if n is not stale]
        net.partition([stale.host], [n.host for n in awake])

        gone.leave.set()
        await gone.left.wait()
        await wait_until(lambda: all(
            gone.name not in n.ring().instances
            and stored(n).instances[gone.name].state is InstanceState.LEFT
            for n in awake
        ), 10.0)  # fmt: skip
        # Past the horizon every awake node has swept the tombstone (and the heartbeat).
        await wait_until(lambda: all(
            gone.name not in stored(n).instances and gone.name not in stored(n).heartbeats
            for n in awake
        ), HORIZON + 2 * SWEEP)  # fmt: skip

        # The stale node still holds the live record; it comes back and rejoins.
        assert stale.ring().instance(gone.name) is not None
        net.heal()
        await stale.kv.node.join([nodes[0].kv.node.local_member.address])
        # Two push/pull rounds and a refresh: plenty of chances to leak the stale record.
        await trio.sleep(2 * push_pull_scale(config.push_pull_interval, N))
        assert all(gone.name not in stored(n).instances for n in awake)
        # Only the sleeper is behind, and it can tell: the instance's heartbeat is stale.
        assert len(digests(awake)) == 1
        desc = stale.ring().instance(gone.name)
        assert desc is not None
        assert stale.kv.now() - stale.ring().heartbeat_at(gone.name) > HORIZON

        # Forgetting it there writes a fresh tombstone that everyone accepts, then drops.
        await stale.kv.cas("ring", lambda r: r.remove(gone.name, now=stale.kv.now()))
        survivors = names - {gone.name}
        await wait_until(lambda: rings_converged(nodes, survivors), 10.0)
        await wait_until(lambda: all(gone.name not in stored(n).instances for n in nodes),
                         HORIZON + 2 * SWEEP)  # fmt: skip
