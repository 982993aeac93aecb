"""The narrow interface between a node and the network: packets and one-shot streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

# (host, port): host is an IP address string ("127.0.0.1", "::1"), never a DNS name.
Address = tuple[str, int]

PacketHandler = Callable[[bytes, Address], None]
"""Called for every datagram received; must not block (it hands the bytes to a channel)."""

StreamHandler = Callable[[trio.abc.Stream, Address], Awaitable[None]]
"""Runs once per accepted stream, in the transport's nursery; the transport closes the stream after."""


class TransportError(OSError):
    """A local send or dial failed (unreachable, refused, closed, timed out)."""


class Transport(Protocol):
    """What a node needs from a network. Real UDP+TCP and the simulated network implement it."""

    @property
    def local_address(self) -> Address:
        """The address peers should use to reach us (the advertise address)."""
        ...

    async def send_packet(self, addr: Address, data: bytes) -> None:
        """Send one datagram. Raises TransportError when the local send fails."""
        ...

    async def open_stream(self, addr: Address) -> trio.abc.Stream:
        """Dial a stream to ``addr``. Raises TransportError; the caller applies its own timeout."""
        ...

    async def serve(
        self,
        on_packet: PacketHandler,
        on_stream: StreamHandler,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Receive packets and accept streams until cancelled. Never raises for bad input."""
        ...

    async def aclose(self) -> None:
        """Release every socket. Idempotent."""
        ...
