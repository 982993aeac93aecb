"""What keeps an idle simulated node cheap: a parked gossip loop, timer-free probe acks, and a
fast IPv4 formatter, each checked against the behaviour it must keep."""

from __future__ import annotations

import ipaddress
import random
from typing import cast

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import trio_gossip.shell.node.gossip as gossip_module
from trio_gossip import BaseDelegate
from trio_gossip.apps.sim import Cluster, ClusterSpec, open_cluster, run_simulation
from trio_gossip.apps.sim.history import History
from trio_gossip.apps.sim.observe import RecordingDelegate, SimNode
from trio_gossip.core.config import Config
from trio_gossip.core.membership.bounds import join_timeout, suspicion_window
from trio_gossip.core.membership.member import ip_string
from trio_gossip.core.membership.schedule import gossip_targets
from trio_gossip.shell.node.commands import AwarenessDelta
from trio_gossip.shell.node.runtime import Runtime
from trio_gossip.transport.base import Transport

CONFIG = Config.lan(name="sim")


@given(st.binary(min_size=4, max_size=4))
def test_ip_string_of_ipv4_matches_ipaddress(addr: bytes) -> None:
    assert ip_string(addr) == str(ipaddress.IPv4Address(addr))


def test_recording_delegate_declares_user_broadcasts_only_with_an_inner_delegate() -> None:
    sim, history = cast(SimNode, object()), History()

    class Silent(BaseDelegate):
        sends_broadcasts = False

    assert RecordingDelegate(sim, history, None).sends_broadcasts is False
    assert RecordingDelegate(sim, history, BaseDelegate()).sends_broadcasts is True
    assert RecordingDelegate(sim, history, Silent()).sends_broadcasts is False


def _runtime(delegate: BaseDelegate | None) -> Runtime:
    return Runtime(Config.lan(name="a"), cast(Transport, None), delegate, random.Random(1))


def test_runtime_parks_gossip_only_without_user_broadcasts() -> None:
    assert _runtime(None).delegate_broadcasts is False
    assert _runtime(BaseDelegate()).delegate_broadcasts is True


def test_an_ack_without_timeout_waits_until_forgotten_by_its_owner() -> None:
    rt = _runtime(None)
    got: list[bytes | None] = []

    def on_ack(payload: bytes | None, when: float) -> None:
        got.append(payload)

    def other(payload: bytes | None, when: float) -> None:
        raise AssertionError("not this handler")

    rt.expect_ack(7, None, on_ack)
    assert not rt.timers._heap  # no timer per probe
    rt.forget_ack(7, other)  # someone else's callback leaves it alone
    assert 7 in rt.acks
    rt.forget_ack(7, on_ack)
    assert 7 not in rt.acks
    rt.expect_ack(8, None, on_ack)
    rt.forget_ack(8, on_ack)
    assert not rt.acks
    assert not got


def _quiet(cluster: Cluster) -> bool:
    return all(sim.memberlist.statistics().queued_broadcasts == 0 for sim in cluster.running())


def test_idle_gossip_loop_picks_no_targets_and_wakes_for_news(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = [0]

    def counting(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return gossip_targets(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gossip_module, "gossip_targets", counting)
    nodes = 6
    counts: dict[str, int] = {}

    async def main() -> None:
        async with open_cluster(ClusterSpec(nodes=nodes, seed=3, config=CONFIG)) as cluster:
            await cluster.join()
            limit = join_timeout(CONFIG, nodes)
            await cluster.wait_converged(timeout=limit)
            await cluster.wait_until(lambda: _quiet(cluster), timeout=limit)
            counts["join"] = calls[0]
            await trio.sleep(50 * CONFIG.gossip_interval)  # mock clock
            counts["idle"] = calls[0] - counts["join"]
            await cluster.kill(cluster.live_names()[-1])
            _, high = suspicion_window(CONFIG, nodes)
            await cluster.wait_until(lambda: calls[0] > counts["join"] + counts["idle"],
                                     timeout=nodes * CONFIG.probe_interval + high)  # fmt: skip
            counts["after_kill"] = calls[0] - counts["join"] - counts["idle"]

    run_simulation(main, seed=1)
    assert counts["join"] > 0  # the patch is live: joining gossips
    assert counts["idle"] == 0  # at rest, no target picking at all
    assert counts["after_kill"] > 0  # a suspicion is news: the loop wakes for it


async def test_state_task_idle_only_while_it_waits_on_an_empty_inbox() -> None:
    rt = _runtime(None)
    assert not rt.state_task_idle()  # no state task running: queue, don't step inline
    got: list[object] = []

    async def state_task() -> None:
        got.append(await rt.inbox_recv.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(state_task)
        await trio.testing.wait_all_tasks_blocked()
        assert rt.state_task_idle()
        rt.submit(AwarenessDelta(-1))  # handed straight to the waiting task: now it is busy
        assert not rt.state_task_idle()
    assert got == [AwarenessDelta(-1)]
    assert not rt.state_task_idle()
