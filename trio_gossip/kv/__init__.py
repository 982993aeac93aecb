"""The replicated KV store's pure core: the value contract, version stamps, codecs, wire format.

Everything imported here is floor 2 (no trio, no clock, no randomness of its own); the
ring imports it. Keep the Trio store (kv/store.py) out of this file so importing
``trio_gossip.kv`` stays pure.
"""

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
    "Codec",
    "CodecRegistry",
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
]
