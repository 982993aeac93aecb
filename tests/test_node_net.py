"""Real UDP + TCP sockets on loopback (real time, short timers, bounded by fail_after)."""

from __future__ import annotations

import functools

import attrs
import trio
from node_support import detection_bound, sees, wait_for

from trio_gossip import Config, Memberlist, NodeState, open_memberlist

CONFIG = Config.local(
    name="template",
    bind_addr="127.0.0.1",
    bind_port=0,  # an ephemeral port; the node advertises what the socket got
    probe_interval=0.2,
    probe_timeout=0.1,
    gossip_interval=0.05,
    push_pull_interval=2.0,
    tcp_timeout=1.0,
    leave_timeout=2.0,
)


async def _run_node(
    config: Config,
    *,
    leave_on_exit: bool = True,
    task_status: trio.TaskStatus[tuple[Memberlist, trio.CancelScope]] = trio.TASK_STATUS_IGNORED,
) -> None:
    with trio.CancelScope() as scope:
        async with open_memberlist(config, leave_on_exit=leave_on_exit) as node:
            task_status.started((node, scope))
            await trio.sleep_forever()


async def test_loopback_join_detect_failure_and_leave() -> None:
    n = 5  # as the issue asks: five nodes on real loopback sockets
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            running = []
            for i in range(n):
                config = attrs.evolve(CONFIG, name=f"n{i}")
                start = functools.partial(_run_node, config, leave_on_exit=(i != 3))
                running.append(await nursery.start(start))
            nodes = [node for node, _ in running]
            assert all(node.local_member.port != 0 for node in nodes)
            seed = nodes[0].local_member.address
            for node in nodes[1:]:
                assert await node.join([f"{seed[0]}:{seed[1]}"]) == 1
            await wait_for(lambda: all(node.num_members() == n for node in nodes), 5.0)

            # n3 stops without leaving (its sockets close): the others declare it dead.
            running[3][1].cancel()
            live = [node for i, node in enumerate(nodes) if i != 3]
            await wait_for(lambda: all(sees(node, "n3", NodeState.DEAD) for node in live),
                           detection_bound(CONFIG, n) + 2.0)  # fmt: skip

            # n2 leaves gracefully on exit: the others record it as left.
            running[2][1].cancel()
            remaining = [nodes[0], nodes[1], nodes[4]]
            # The leave is a broadcast sent retransmit_limit times (2 here), so a peer can miss
            # every copy; the next push/pull then tells it n2 left (not failed).
            await wait_for(lambda: all(sees(node, "n2", NodeState.LEFT) for node in remaining),
                           CONFIG.push_pull_interval + 2.0)  # fmt: skip
            for node in remaining:
                assert sorted(m.name for m in node.members()) == ["n0", "n1", "n4"]
            nursery.cancel_scope.cancel()
