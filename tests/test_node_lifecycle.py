"""Starting and stopping a node: graceful leave on exit, crashes, and task clean-up."""

from __future__ import annotations

import attrs
import pytest
import trio
import trio.testing
from node_support import (
    RawPeer,
    base_config,
    converged,
    convergence_bound,
    detection_bound,
    sees,
    start_cluster,
    wait_for,
)

from trio_gossip import BaseDelegate, EventKind, open_memberlist
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.messages import NodeState, User


class Exploding(BaseDelegate):
    def notify_msg(self, message: bytes) -> None:
        raise RuntimeError("delegate bug")


async def test_exception_in_body_leaves_and_is_reraised_as_is(
    autojump_clock: trio.testing.MockClock,
) -> None:
    net = MemoryNetwork(seed=21)
    config = base_config()
    async with start_cluster(net, 1, config) as (a,):
        with pytest.raises(ValueError, match="boom"):  # noqa: PT012
            async with open_memberlist(attrs.evolve(config, name="x"),
                                       transport=net.add_node()) as x:  # fmt: skip
                await x.join([a.local_member.address])
                raise ValueError("boom")
        await wait_for(lambda: sees(a, "x", NodeState.LEFT), convergence_bound(config, 2))


async def test_explicit_leave_then_keep_running(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=22)
    config = base_config()
    async with start_cluster(net, 3, config) as (a, b, c):
        await wait_for(lambda: converged([a, b, c]), convergence_bound(config, 3))
        events = a.events(replay=False)
        assert await c.leave(timeout=config.leave_timeout)
        assert c.local_member.state == NodeState.LEFT
        assert await c.leave()  # idempotent
        await wait_for(lambda: sees(a, "n2", NodeState.LEFT) and sees(b, "n2", NodeState.LEFT),
                       convergence_bound(config, 3))  # fmt: skip
        event = await events.__anext__()
        assert (event.kind, event.member.name) == (EventKind.LEFT, "n2")
        assert a.num_members() == 2


async def test_no_leave_on_exit_looks_like_a_crash(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=23)
    config = base_config()
    async with start_cluster(net, 2, config) as (a, b):
        async with open_memberlist(attrs.evolve(config, name="x"), transport=net.add_node(),
                                   leave_on_exit=False) as x:  # fmt: skip
            await x.join([a.local_member.address])
            await wait_for(lambda: converged([a, b, x]), convergence_bound(config, 3))
        await wait_for(lambda: sees(a, "x", NodeState.DEAD) and sees(b, "x", NodeState.DEAD),
                       detection_bound(config, 3))  # fmt: skip


async def test_exit_is_bounded_when_cut_off(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=24)
    config = base_config(leave_timeout=3.0)
    async with start_cluster(net, 2, config) as (a, _):
        async with open_memberlist(attrs.evolve(config, name="x"),
                                   transport=net.add_node()) as x:  # fmt: skip
            await x.join([a.local_member.address])
            net.kill(x.local_member.host)
            start = trio.current_time()
        assert trio.current_time() - start <= config.leave_timeout + 0.01


async def test_failing_task_ends_the_node_promptly(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=25)
    config = base_config()
    async with start_cluster(net, 1, config), trio.open_nursery() as nursery:
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        start = trio.current_time()
        with pytest.RaisesGroup(RuntimeError, flatten_subgroups=True):
            async with open_memberlist(attrs.evolve(config, name="x"), transport=net.add_node(),
                                       delegate=Exploding()) as x:  # fmt: skip
                events = x.events(replay=False)
                await raw.send(x.local_member.address, User(b"kaboom"))
                await trio.sleep_forever()
        # No graceful leave from a broken node: it stops at once.
        assert trio.current_time() - start < config.leave_timeout
        # Its event stream ended with it.
        assert [e async for e in events] == []
        nursery.cancel_scope.cancel()


async def test_closed_node_stops_receiving(autojump_clock: trio.testing.MockClock) -> None:
    net = MemoryNetwork(seed=26)
    config = base_config()
    async with start_cluster(net, 2, config) as (a, b), trio.open_nursery() as nursery:
        raw = RawPeer(net.add_node())
        await nursery.start(raw.serve)
        await wait_for(lambda: converged([a, b]), convergence_bound(config, 2))
        nursery.cancel_scope.cancel()
    before = (a.statistics(), b.statistics())
    # The nodes' nurseries are closed: nothing of theirs runs any more, nothing is received.
    await raw.send(b.local_member.address, User(b"anyone there?"))
    await trio.sleep(10 * config.probe_interval)
    assert (a.statistics(), b.statistics()) == before
