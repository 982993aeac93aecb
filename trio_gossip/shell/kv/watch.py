"""Watching keys without ever slowing the node's writer down.

The writer (carrying out the engine's ``KeyChanged`` effects) only marks a watch dirty (a
flag or a set entry) and sets an event: O(1), never blocking. The watcher reads the
*latest* value when it gets round to it, so a burst of changes while it was busy collapses
into one wake-up (dskit's buffer-of-one WatchKey, without WatchPrefix's dropping channel: a
prefix watch keeps a set of dirty keys, which cannot overflow). With ``notify_interval > 0``
changes are batched per interval first, which rolling restarts of big rings need
(dskit#592).
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import trio

Reader = Callable[[str], Any]


class _Watch:
    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self._event = trio.Event()
        self._closed = False

    def _wake(self) -> None:
        self._event.set()

    async def _wait(self) -> None:
        await self._event.wait()
        self._event = trio.Event()

    def close(self) -> None:
        """Stop watching; a pending or later ``__anext__`` ends the iteration."""
        if not self._closed:
            self._closed = True
            self._hub.remove(self)
            self._event.set()

    def __aiter__(self) -> Self:
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class KeyWatch(_Watch):
    """``async for value in kv.watch_key(key)``: the key's latest value after each change
    (None while it is missing or deleted), starting with the current one."""

    def __init__(self, hub: WatchHub, key: str, read: Reader) -> None:
        super().__init__(hub)
        self.key = key
        self._read = read
        self._dirty = True

    def mark(self, key: str) -> None:
        self._dirty = True
        self._wake()

    async def __anext__(self) -> Any:
        while not self._dirty:
            if self._closed:
                raise StopAsyncIteration
            await self._wait()
        if self._closed:
            raise StopAsyncIteration
        self._dirty = False
        return self._read(self.key)


class PrefixWatch(_Watch):
    """``async for key, value in kv.watch_prefix(prefix)``: each changed key under the prefix
    once per wake-up, with its latest value (None once deleted), starting with every key."""

    def __init__(self, hub: WatchHub, prefix: str, read: Reader, keys: list[str]) -> None:
        super().__init__(hub)
        self.prefix = prefix
        self._read = read
        self._dirty: dict[str, None] = dict.fromkeys(keys)  # an ordered set

    def mark(self, key: str) -> None:
        self._dirty[key] = None
        self._wake()

    async def __anext__(self) -> tuple[str, Any]:
        while not self._dirty:
            if self._closed:
                raise StopAsyncIteration
            await self._wait()
        if self._closed:
            raise StopAsyncIteration
        key = next(iter(self._dirty))
        del self._dirty[key]
        return key, self._read(key)


class WatchHub:
    """Every watch of one store; the node's writer calls `changed` for each changed key."""

    def __init__(self, notify_interval: float = 0.0) -> None:
        self.notify_interval = notify_interval
        self._keys: dict[str, set[KeyWatch]] = {}
        self._prefixes: set[PrefixWatch] = set()
        self._pending: dict[str, None] = {}
        self.closed = False

    def add_key(self, key: str, read: Reader) -> KeyWatch:
        watch = KeyWatch(self, key, read)
        self._keys.setdefault(key, set()).add(watch)
        if self.closed:
            watch.close()
        return watch

    def add_prefix(self, prefix: str, read: Reader, keys: list[str]) -> PrefixWatch:
        watch = PrefixWatch(self, prefix, read, keys)
        self._prefixes.add(watch)
        if self.closed:
            watch.close()
        return watch

    def remove(self, watch: _Watch) -> None:
        if isinstance(watch, KeyWatch):
            watches = self._keys.get(watch.key)
            if watches is not None:
                watches.discard(watch)
                if not watches:
                    del self._keys[watch.key]
        elif isinstance(watch, PrefixWatch):
            self._prefixes.discard(watch)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def changed(self, key: str) -> None:
        if self.notify_interval > 0:
            self._pending[key] = None
        else:
            self._notify(key)

    def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for key in pending:
            self._notify(key)

    def _notify(self, key: str) -> None:
        for watch in self._keys.get(key, ()):
            watch.mark(key)
        for prefix_watch in self._prefixes:
            if key.startswith(prefix_watch.prefix):
                prefix_watch.mark(key)

    async def run_flusher(self) -> None:
        """Batch notifications: started by the store only when ``notify_interval > 0``."""
        while True:
            await trio.sleep(self.notify_interval)
            self.flush()

    def close(self) -> None:
        """End every watch (the store stopped)."""
        self.closed = True
        for watch in [w for ws in self._keys.values() for w in ws] + list(self._prefixes):
            watch.close()
