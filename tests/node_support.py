"""Helpers for the node tests (tests/test_node_*.py): start clusters on a MemoryNetwork."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import attrs
import trio

from trio_gossip import BaseDelegate, Config, Member, Memberlist, open_memberlist
from trio_gossip.core.membership.suspicion import suspicion_timeout
from trio_gossip.transport.base import Address, Transport
from trio_gossip.wire import decode_packet, encode_packet
from trio_gossip.wire.messages import NodeState, PacketMessage


class Recorder(BaseDelegate):
    """A delegate that records user messages."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def notify_msg(self, message: bytes) -> None:
        self.messages.append(message)


def base_config(**overrides: Any) -> Config:
    return Config.lan(**{"name": "template", **overrides})


@asynccontextmanager
async def start_cluster(
    net: object,
    n: int,
    config: Config | None = None,
    *,
    join: bool = True,
    delegates: Sequence[BaseDelegate | None] | None = None,
    seed: int = 0,
) -> AsyncIterator[list[Memberlist]]:
    """``n`` nodes named n0..n{n-1} on fresh transports; n1.. join n0 when ``join``."""
    config = config or base_config()
    async with AsyncExitStack() as stack:
        nodes = []
        for i in range(n):
            transport: Transport = net.add_node()  # type: ignore[attr-defined]
            delegate = delegates[i] if delegates else None
            node = await stack.enter_async_context(
                open_memberlist(attrs.evolve(config, name=f"n{i}"), transport=transport,
                                delegate=delegate, rng=random.Random(seed * 1000 + i))
            )  # fmt: skip
            nodes.append(node)
        if join:
            for node in nodes[1:]:
                assert await node.join([nodes[0].local_member.address]) == 1
        yield nodes


async def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.01) -> float:
    """Poll ``predicate`` on the (mock) clock; the time it took. Fails after ``timeout``."""
    start = trio.current_time()
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(step)
    return trio.current_time() - start


def sees(node: Memberlist, name: str, state: NodeState) -> bool:
    member = node.member(name)
    return member is not None and member.state == state


def converged(nodes: Sequence[Memberlist], count: int | None = None) -> bool:
    count = len(nodes) if count is None else count
    return all(node.num_members() == count for node in nodes)


def convergence_bound(config: Config, n: int) -> float:
    """Joins are push/pulls, so every joiner knows everyone it joined; the rest spreads by
    gossip: retransmit limit rounds of gossip_interval, plus one probe interval of slack."""
    return 10 * config.gossip_interval * (n + 1) + config.probe_interval


def detection_bound(config: Config, n: int) -> float:
    """Kill to "dead everywhere": the round-robin walk reaches the dead node within n probe
    intervals (plus the start-up stagger), one probe round (probe interval, unscaled at
    awareness 0), the longest suspicion timeout (no confirmations), then a gossip margin of
    ten gossip intervals for the dead message to reach everyone."""
    min_timeout = suspicion_timeout(config.suspicion_mult, n, config.probe_interval)
    max_timeout = config.suspicion_max_timeout_mult * min_timeout
    return (n + 1) * config.probe_interval + max_timeout + 10 * config.gossip_interval


class RawPeer:
    """A bare transport on the network that records what it receives and sends raw packets."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.received: list[tuple[list[PacketMessage], Address]] = []

    @property
    def address(self) -> Address:
        return self.transport.local_address

    def _on_packet(self, data: bytes, addr: Address) -> None:
        self.received.append((decode_packet(data), addr))

    async def _on_stream(self, stream: trio.abc.Stream, addr: Address) -> None:
        await stream.aclose()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:  # fmt: skip
        await self.transport.serve(self._on_packet, self._on_stream, task_status=task_status)

    async def send(self, to: Address, *messages: PacketMessage) -> None:
        await self.transport.send_packet(to, encode_packet(list(messages)))


def peek(node: Memberlist, name: str) -> Member:
    """The record ``node`` has for ``name``, or a placeholder nobody matches (for predicates)."""
    return node.member(name) or _NOBODY


_NOBODY = Member("", b"", 0, b"", -1, NodeState.DEAD, 0.0)


def member_list(node: Memberlist) -> list[tuple[str, NodeState]]:
    return sorted((m.name, m.state) for m in node.members())


def alive_member(m: Member | None) -> bool:
    return m is not None and m.state == NodeState.ALIVE
