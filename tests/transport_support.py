"""Helpers for the transport tests (tests/test_transport_*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import attrs
import trio

from trio_gossip.transport import Address, MemoryNetwork, MemoryTransport, StreamHandler


@attrs.define
class Arrival:
    at: float
    data: bytes
    src: Address


@attrs.define
class Inbox:
    """A packet handler that records what arrived and when (on the Trio clock)."""

    arrivals: list[Arrival] = attrs.field(factory=list)
    arrival: trio.Event = attrs.field(factory=trio.Event)
    """Set by the next arrival (then replaced), for tests on the real clock."""

    def __call__(self, data: bytes, src: Address) -> None:
        self.arrivals.append(Arrival(trio.current_time(), data, src))
        self.arrival.set()
        self.arrival = trio.Event()

    @property
    def payloads(self) -> list[bytes]:
        return [a.data for a in self.arrivals]


async def upper_echo(stream: trio.abc.Stream, peer: Address) -> None:
    """Echo every chunk upper-cased until EOF."""
    async for chunk in stream:
        await stream.send_all(chunk.upper())


async def read_all(stream: trio.abc.Stream) -> bytes:
    data = bytearray()
    async for chunk in stream:
        data += chunk
    return bytes(data)


@attrs.define
class Node:
    transport: MemoryTransport
    inbox: Inbox
    scope: trio.CancelScope

    @property
    def address(self) -> Address:
        return self.transport.local_address

    @property
    def host(self) -> str:
        return self.transport.host


async def start_node(
    nursery: trio.Nursery, transport: MemoryTransport, on_stream: StreamHandler = upper_echo
) -> Node:
    """Serve ``transport`` in ``nursery``; the Node's scope stops just this one."""
    inbox = Inbox()
    scope = trio.CancelScope()

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with scope:
            await transport.serve(inbox, on_stream, task_status=task_status)

    await nursery.start(run)
    return Node(transport, inbox, scope)


@asynccontextmanager
async def serving(
    net: MemoryNetwork, count: int, on_stream: StreamHandler = upper_echo
) -> AsyncIterator[Sequence[Node]]:
    """``count`` fresh nodes on ``net``, serving until the block ends."""
    async with trio.open_nursery() as nursery:
        nodes = [await start_node(nursery, net.add_node(), on_stream) for _ in range(count)]
        yield nodes
        nursery.cancel_scope.cancel()
