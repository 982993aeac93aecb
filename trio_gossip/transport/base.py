"""The narrow interface between a node and the network: packets and one-shot streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

import trio

from trio_gossip.transport.stats import TransportStatistics

# (host, port): host is an IP address string ("127.0.0.1", "::1"), never a DNS name.
Address = tuple[str, int]

PacketHandler = Callable[[bytes, Address], None]
"""Called for every datagram received, with the sender's address; must not block (it hands the
bytes to a channel). An exception it raises is logged and counted, never propagated."""

StreamHandler = Callable[[trio.abc.Stream, Address], Awaitable[None]]
"""Runs once per accepted stream in the transport's nursery, with the dialer's address (its
ephemeral port, as TCP reports it); the transport closes the stream after it returns, and logs
(never propagates) an exception it raises."""


class TransportError(OSError):
    """A local send or dial failed (unreachable, refused, closed, timed out); ``errno`` says
    which (ECONNREFUSED, ETIMEDOUT, EBADF for a closed transport, ...)."""


class Transport(Protocol):
    """What a node needs from a network. Real UDP+TCP and the simulated network implement it.

    Streams are ``trio.abc.Stream``s: once open, their send_all/receive_some raise
    ``trio.BrokenResourceError`` on a reset and ``trio.ClosedResourceError`` after aclose.
    """

    @property
    def local_address(self) -> Address:
        """The address peers should use to reach us (the advertise address)."""
        ...

    async def send_packet(self, addr: Address, data: bytes) -> None:
        """Send one datagram. Raises TransportError when the local send fails; a datagram
        lost on the way is not an error (UDP)."""
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
        """Receive packets and accept streams until cancelled or aclose()d, then return after
        the running stream handlers finish. Never raises for bad input."""
        ...

    async def aclose(self) -> None:
        """Release every socket. Idempotent."""
        ...


@runtime_checkable
class SendsWithoutWaiting(Protocol):
    """A transport that can also send a datagram from synchronous code, such as a packet
    handler answering a ping on the receive path (memberlist answers pings there too: net.go
    handlePing). Optional: a node without it answers through its writer task."""

    def send_packet_nowait(self, addr: Address, data: bytes) -> bool:
        """Send one datagram now if that needs no waiting: True when it left (or was lost, as
        UDP loses), False when the caller must use ``send_packet``. Raises TransportError as
        ``send_packet`` does."""
        ...


class Alarm(Protocol):
    """What a ``KeepsTime`` transport calls back when an alarm comes due."""

    def fire(self, now: float) -> None:
        """Called with the current time, from the task that keeps the network's time: must
        not block, and should not raise (the caller cannot tell whose fault it is)."""
        ...


@runtime_checkable
class KeepsTime(Protocol):
    """A transport whose network keeps simulated time for its hosts (the in-memory network:
    one task delivers every packet when it is due). Optional: a node whose transport keeps time
    hands it its timers, and its writer then needs no timed wake-up of its own."""

    def call_at(self, when: float, alarm: Alarm) -> None:
        """Call ``alarm.fire(t)`` once, at ``when`` in the network's time, in order with the
        packets due then (``t`` may be a rounding error past ``when``: what is due by ``t``
        is due)."""
        ...

    def now(self) -> float:
        """The network's time, which an alarm's work reads instead of Trio's clock: the
        network may fire alarms in batches, each at its own time."""
        ...


@runtime_checkable
class KeepsStatistics(Protocol):
    """A transport that counts its own traffic (streams opened and accepted, packets and
    bytes). Optional: the metrics read it when it is there."""

    def statistics(self) -> TransportStatistics: ...
