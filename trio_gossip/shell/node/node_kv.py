"""What a node needs of the KV store it runs: the store sits above the node and plugs in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from trio_gossip.core.config import Config
from trio_gossip.shell.node.events import EventHub

if TYPE_CHECKING:
    from trio_gossip.core.kv.replica import KVContext
    from trio_gossip.shell.node.writer import Writer


class NodeKV(Protocol):
    """What a node needs of the KV store it runs (``shell/kv/store.KVStore`` plays it): the
    store sits above the node and plugs in, so the node names only this."""

    def context(self, config: Config) -> KVContext:
        """What the engine needs to run the store."""
        ...

    def attach(self, writer: Writer, events: EventHub) -> None:
        """The node starts: the store reads ``writer.state`` and submits commands to it."""
        ...

    def detach(self) -> None:
        """The node stopped: end the watches."""
        ...

    async def drain(self) -> None:
        """Let the store's own last changes go out (bounded by its settings)."""
        ...

    async def notify(self) -> None:
        """The watch notifier, when watches are batched (returns at once when not)."""
        ...

    def now(self) -> float:
        """Wall-clock seconds for the store's stamps."""
        ...

    def stream_limit(self) -> int:
        """How many of its streams may be open at once."""
        ...

    def changed(self, key: str) -> None:
        """``key`` changed (a ``KeyChanged`` effect): tell its watchers."""
        ...

    def counted(self, *, stream_sent: bool | None = None, state_bytes: int = 0) -> None:
        """Count one stream sent (True) or failed (False), or a push/pull state produced."""
        ...

    def state_exchanged(self, payload: bytes, *, sent: bool, stream: bool = False) -> None:
        """A push/pull's user state (ours when ``sent``, or a peer's), or with ``stream`` a
        user message over a stream: the store may keep the KV state inside for its history."""
        ...
