"""Fan-out of membership events to any number of ``events()`` readers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from types import TracebackType

import trio

from trio_gossip.core.membership.member import MemberEvent

EVENT_BUFFER = 4096


class EventStream(AsyncIterator[MemberEvent]):
    """Events from the moment ``events()`` was called until the node closes or you close it.

    A reader that falls more than EVENT_BUFFER events behind loses the newest ones (counted
    in ``statistics().events_dropped``) rather than stalling the node.
    """

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._send, self._receive = trio.open_memory_channel[MemberEvent](EVENT_BUFFER)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> MemberEvent:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        self._hub.unsubscribe(self)
        self._send.close()
        self._receive.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _offer(self, event: MemberEvent) -> bool:
        try:
            self._send.send_nowait(event)
        except trio.WouldBlock:
            return False
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._hub.unsubscribe(self)
        return True

    def _end(self) -> None:
        self._send.close()


class EventHub:
    def __init__(self) -> None:
        self._streams: list[EventStream] = []
        self.dropped = 0
        self.closed = False

    def subscribe(self, replay: Sequence[MemberEvent] = ()) -> EventStream:
        """A new reader; ``replay`` is what it sees first (capped at the buffer's size)."""
        stream = EventStream(self)
        for event in replay[:EVENT_BUFFER]:
            stream._offer(event)
        if self.closed:
            stream._end()
        else:
            self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def publish(self, event: MemberEvent) -> None:
        if not self._streams:
            return  # nobody listens (a join of n nodes publishes n^2 events)
        for stream in list(self._streams):
            if not stream._offer(event):
                self.dropped += 1

    def close(self) -> None:
        self.closed = True
        for stream in self._streams:
            stream._end()
        self._streams.clear()
