"""The replicated KV store's pure core: the value contract, version stamps, codecs, wire format.

Everything imported here is floor 2 (no trio, no clock, no randomness of its own); the
ring imports it. Keep the Trio store (kv/store.py) out of this file so importing
``trio_gossip.kv`` stays pure.
"""

from typing import TYPE_CHECKING, Any

from trio_gossip.kv.codec import Codec, CodecRegistry, MsgpackCodec
from trio_gossip.kv.hlc import Version
from trio_gossip.kv.lww import LWW_CODEC, LWWEntry, LWWMap
from trio_gossip.kv.mergeable import Mergeable, MergeResult
from trio_gossip.kv.message import (
    KeyValuePair,
    decode_pair,
    decode_state,
    encode_pair,
    encode_state,
)

__all__ = [
    "LWW_CODEC",
    "CASError",
    "Codec",
    "CodecRegistry",
    "KVClient",
    "KVSettings",
    "KVStore",
    "KeyDeletedError",
    "KeyValuePair",
    "LWWEntry",
    "LWWMap",
    "MergeResult",
    "Mergeable",
    "MsgpackCodec",
    "Version",
    "decode_pair",
    "decode_state",
    "encode_pair",
    "encode_state",
    "open_kv",
]

if TYPE_CHECKING:
    from trio_gossip.kv.client import KVClient
    from trio_gossip.kv.settings import KVSettings
    from trio_gossip.kv.store import CASError, KeyDeletedError, KVStore, open_kv

# The Trio shell (floor 4), imported only when first used so this package stays pure:
# ``trio_gossip.kv.open_kv``, ``trio_gossip.kv.KVStore``, ``trio_gossip.kv.KVSettings``.
_SHELL = {
    "KVStore": "trio_gossip.kv.store",
    "open_kv": "trio_gossip.kv.store",
    "CASError": "trio_gossip.kv.store",
    "KeyDeletedError": "trio_gossip.kv.store",
    "KVSettings": "trio_gossip.kv.settings",
    "KVClient": "trio_gossip.kv.client",
}


def __getattr__(name: str) -> Any:
    module = _SHELL.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_gossip.kv' has no attribute {name!r}")
    import importlib  # noqa: PLC0415

    return getattr(importlib.import_module(module), name)
