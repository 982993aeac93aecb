"""trio_gossip.testing's cluster: kinds, faults, skew, restarts, bad arguments."""

from __future__ import annotations

import attrs
import pytest
import trio

from trio_gossip import RingClient
from trio_gossip.core.ring.lookup import DEFAULT_HEARTBEAT_TIMEOUT
from trio_gossip.testing import (
    FactKind,
    GossipCluster,
    GossipTimeoutError,
    default_config,
    open_cluster,
    run,
)
from trio_gossip.testing.cluster import HEARTBEAT_PERIOD


def _healthy(cluster: GossipCluster, observer: str) -> list[str]:
    kv = cluster[observer].kv
    assert kv is not None
    return sorted(d.id for d in RingClient(kv).get_all_healthy())


def test_a_skewed_clock_makes_ring_heartbeats_look_stale() -> None:
    """A node 120 s behind stamps heartbeats older than dskit's 60 s heartbeat timeout
    (the newer stamp it wrote before wins the merge until then); back in time, it is healthy
    again within a heartbeat."""

    async def main() -> tuple[list[str], list[str], list[str]]:
        async with open_cluster(4, seed=5, kind="ring") as cluster:
            await cluster.converged()
            await cluster.ring_settled()
            before = _healthy(cluster, "node-00")
            cluster.skew("node-01", -120.0)
            assert cluster["node-01"].now() - cluster["node-00"].now() == -120.0
            await trio.sleep(70.0)
            skewed = _healthy(cluster, "node-00")
            cluster.skew("node-01", 0.0)
            await trio.sleep(12.0)
            return before, skewed, _healthy(cluster, "node-00")

    before, skewed, after = run(main, seed=5)
    everyone = ["node-00", "node-01", "node-02", "node-03"]
    assert before == after == everyone
    assert skewed == ["node-00", "node-02", "node-03"]


def test_a_drifting_clock_goes_stale_when_its_lag_passes_the_heartbeat_timeout() -> None:
    """A node whose clock loses half a second a second: its heartbeats are stamped later and
    later behind, healthy while the lag plus a heartbeat period and gossip stays under dskit's
    heartbeat timeout, unhealthy once the lag alone exceeds it; the drift is carried into the
    skew when it stops, and `repair` undoes both."""
    rate = -0.5
    healthy_until = (DEFAULT_HEARTBEAT_TIMEOUT - 2 * HEARTBEAT_PERIOD) / -rate
    stale_after = (DEFAULT_HEARTBEAT_TIMEOUT + HEARTBEAT_PERIOD) / -rate

    async def main() -> tuple[list[str], list[str], float, float]:
        async with open_cluster(4, seed=6, kind="ring") as cluster:
            await cluster.converged()
            await cluster.ring_settled()
            cluster.drift("node-01", rate)
            await trio.sleep(healthy_until)
            early = _healthy(cluster, "node-00")
            await trio.sleep(stale_after - healthy_until)
            late = _healthy(cluster, "node-00")
            lag = cluster["node-00"].now() - cluster["node-01"].now()
            cluster.drift("node-01", 0.0)
            await trio.sleep(10.0)
            kept = cluster["node-00"].now() - cluster["node-01"].now()
            return early, late, lag, kept

    early, late, lag, kept = run(main, seed=6)
    assert early == ["node-00", "node-01", "node-02", "node-03"]
    assert late == ["node-00", "node-02", "node-03"]
    assert lag == pytest.approx(-rate * stale_after)
    assert kept == pytest.approx(lag)  # stopping the drift keeps what it drifted


def test_drift_rejects_a_clock_that_stops_or_runs_backwards() -> None:
    async def main() -> None:
        async with open_cluster(2, seed=1) as cluster:
            with pytest.raises(ValueError, match="drift: rate must be in"):
                cluster.drift("node-00", -1.0)

    run(main, seed=1)


def test_a_restarted_ring_node_comes_back_under_its_name() -> None:
    async def main() -> tuple[int, bool, float]:
        async with open_cluster(5, seed=8, kind="ring") as cluster:
            await cluster.converged()
            await cluster.ring_settled()
            await cluster.kill("node-02")
            assert not cluster["node-02"].running
            await cluster.detected("node-02")
            await cluster.restart("node-02")
            await cluster.converged()
            took = await cluster.ring_settled()
            handle = cluster["node-02"]
            return handle.restarts, handle.lifecycler is not None, took

    restarts, has_lifecycler, took = run(main, seed=8)
    assert (restarts, has_lifecycler) == (1, True)
    assert took >= 0


def test_link_faults_pauses_and_slowness_heal_without_a_death() -> None:
    """One lossy link is routed around by indirect probes (SWIM), a 2 s pause and a 0.2 s
    slowness are within the suspicion window: nobody is declared dead."""

    async def main() -> int:
        async with open_cluster(5, seed=2) as cluster:
            await cluster.converged()
            cluster.set_link("node-00", "node-03", loss=1.0)
            cluster.slow("node-01", 0.2)
            cluster.pause("node-02")
            await trio.sleep(2.0)
            cluster.resume("node-02")
            cluster.slow("node-01", 0.0)
            await trio.sleep(10.0)
            await cluster.converged()
            return sum(1 for fact in cluster.facts() if fact.kind is FactKind.DEAD)

    assert run(main, seed=2) == 0


def test_a_partition_without_reconnect_never_converges() -> None:
    """memberlist alone does not call members it declared dead and reaped (Serf's reconnect is
    turned off here); the error says who saw whom."""

    async def main() -> str:
        config = attrs.evolve(default_config(), reconnect_interval=0.0)
        async with open_cluster(4, seed=4, config=config) as cluster:
            await cluster.converged()
            cluster.partition(["node-00", "node-01"], ["node-02", "node-03"])
            await trio.sleep(30.0)
            cluster.heal()
            try:
                await cluster.converged()
            except GossipTimeoutError as error:
                return str(error)
            return "converged"

    message = run(main, seed=4)
    assert message.startswith("the running nodes did not all list each other as alive")
    assert "node-00: alive=node-00,node-01 MISSING node-02,node-03" in message  # dead, reaped


def test_a_partition_heals_by_itself_within_a_reconnect_interval() -> None:
    """The same split with the default config: each side reaped the other, and the reconnect
    loop joins a failed member within one reconnect interval after the heal."""

    async def main() -> float:
        config = default_config()
        async with open_cluster(4, seed=4, config=config) as cluster:
            await cluster.converged()
            cluster.partition(["node-00", "node-01"], ["node-02", "node-03"])
            await trio.sleep(60.0)  # past the dead verdicts and gossip_to_the_dead_time
            assert cluster["node-00"].memberlist.member("node-02") is None  # reaped
            cluster.heal()
            healed = trio.current_time()
            await cluster.converged()
            return trio.current_time() - healed

    assert run(main, seed=4) <= default_config().reconnect_interval


def test_bad_arguments_fail_at_once_naming_the_field() -> None:
    async def main(**kwargs: object) -> None:
        async with open_cluster(**kwargs):  # type: ignore[arg-type]
            pass

    with pytest.raises(ValueError, match="nodes must be at least 1"):
        run(lambda: main(nodes=0), seed=1)
    with pytest.raises(ValueError, match="kind must be one of"):
        run(lambda: main(nodes=2, kind="rings"), seed=1)

    async def unknown() -> None:
        async with open_cluster(2) as cluster:
            with pytest.raises(KeyError, match="no node 'node-9'"):
                cluster["node-9"]
            with pytest.raises(RuntimeError, match="kill it"):
                await cluster.restart("node-01")
            with pytest.raises(RuntimeError, match="needs kind='ring'"):
                await cluster.ring_settled()

    run(unknown, seed=1)
