"""The short stream conversations a node's engine asks for, each a task of the node's own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from trio_gossip.core.engine import effects as fx

TcpPingRunner = Callable[[fx.TcpPing], Awaitable[None]]
PushPullRunner = Callable[[fx.PushPullWith], Awaitable[None]]
StreamRunner = Callable[[fx.SendStream], Awaitable[None]]


class IOTasks:
    """Starts the short stream conversations the engine asks for (TCP pings, periodic
    push/pulls) in the node's nursery; their results come back as events."""

    def __init__(self, nursery: trio.Nursery, tcp_ping: TcpPingRunner,
                 push_pull: PushPullRunner, send_stream: StreamRunner) -> None:  # fmt: skip
        self._nursery = nursery
        self._tcp_ping = tcp_ping
        self._push_pull = push_pull
        self._send_stream = send_stream

    def start(self, effect: fx.TcpPing | fx.PushPullWith | fx.SendStream) -> None:
        if isinstance(effect, fx.TcpPing):
            self._nursery.start_soon(self._tcp_ping, effect)
        elif isinstance(effect, fx.PushPullWith):
            self._nursery.start_soon(self._push_pull, effect)
        else:
            self._nursery.start_soon(self._send_stream, effect)
