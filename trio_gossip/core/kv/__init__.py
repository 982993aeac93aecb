"""The replicated KV store's pure core: the value contract, version stamps, codecs, wire format."""

from trio_gossip.core.kv.codec import Codec, CodecRegistry, MsgpackCodec
from trio_gossip.core.kv.hlc import Version
from trio_gossip.core.kv.lww import LWW_CODEC, LWWEntry, LWWMap
from trio_gossip.core.kv.mergeable import Mergeable, MergeResult
from trio_gossip.core.kv.message import (
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
