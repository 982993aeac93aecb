"""Typed access to the keys of one codec, like dskit's ``kv.Client`` (one codec per client).

The store itself is untyped (one store holds rings, maps, anything mergeable); a client
pins the value type, so ``ring = await rings.cas("ring", fn)`` type-checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from trio_gossip.shell.kv.watch import KeyWatch, PrefixWatch

V = TypeVar("V")


class Store(Protocol):
    """What a client needs of its store (``KVStore`` plays it)."""

    def get(self, key: str) -> Any: ...
    def list(self, prefix: str = "") -> list[str]: ...
    async def cas(self, key: str, fn: Callable[[Any], Any], *, codec: str | None = None
                  ) -> Any: ...  # fmt: skip
    async def delete(self, key: str) -> bool: ...
    def watch_key(self, key: str) -> KeyWatch: ...
    def watch_prefix(self, prefix: str) -> PrefixWatch: ...


class KVClient(Generic[V]):
    """`KVStore` operations for values of one codec (made by ``store.client(codec)``)."""

    def __init__(self, store: Store, codec_id: str) -> None:
        self.store = store
        self.codec_id = codec_id

    def get(self, key: str) -> V | None:
        value: V | None = self.store.get(key)
        return value

    def list(self, prefix: str = "") -> list[str]:
        return self.store.list(prefix)

    async def cas(self, key: str, fn: Callable[[V | None], V | None]) -> V | None:
        value: V | None = await self.store.cas(key, fn, codec=self.codec_id)
        return value

    async def delete(self, key: str) -> bool:
        return await self.store.delete(key)

    def watch_key(self, key: str) -> KeyWatch:
        return self.store.watch_key(key)

    def watch_prefix(self, prefix: str) -> PrefixWatch:
        return self.store.watch_prefix(prefix)
