"""Frozen counters that transports and the simulated network hand out through statistics()."""

from __future__ import annotations

import attrs


@attrs.frozen
class TransportStatistics:
    """One transport's traffic as seen by its own sockets (sends the network lost still count)."""

    packets_sent: int = 0
    packets_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    send_errors: int = 0
    receive_errors: int = 0
    streams_opened: int = 0
    streams_accepted: int = 0
    handler_errors: int = 0


@attrs.frozen
class NetworkStatistics:
    """The whole simulated network.

    Invariant: ``packets_sent + packets_duplicated == packets_delivered + packets_dropped
    + packets_in_flight + packets_held``.
    """

    packets_sent: int = 0
    packets_delivered: int = 0
    packets_duplicated: int = 0
    packets_corrupted: int = 0  # copies sent on with one bit flipped (then fare like any other)
    dropped_loss: int = 0
    dropped_partition: int = 0
    dropped_blocked: int = 0
    dropped_killed: int = 0
    dropped_no_listener: int = 0
    dropped_overflow: int = 0
    packets_in_flight: int = 0
    packets_held: int = 0
    handler_errors: int = 0
    streams_opened: int = 0
    streams_refused: int = 0
    streams_reset: int = 0
    stream_bytes: int = 0

    @property
    def packets_dropped(self) -> int:
        return (
            self.dropped_loss
            + self.dropped_partition
            + self.dropped_blocked
            + self.dropped_killed
            + self.dropped_no_listener
            + self.dropped_overflow
        )
