"""dskit's wire mode, floor 1: bytes <-> objects for a Grafana dskit memberlist cluster.

- ``frame``: the TCP transport's framing (type byte, sender's address, payload, MD5).
- ``kv``: the ``KeyValuePair`` protobuf of broadcasts and the push/pull state records.
- ``ring_desc``: the ``ring.Desc`` protobuf and its KV value form (codec ``ringDesc``).
- ``tokens``: an instance's tokens, kept as the packed varints they travel as.
- ``snappy`` and ``compression``: the snappy block format, for values and message compression.

Every decoder raises only ``DskitDecodeError`` on bad input.
"""

from trio_gossip.wire.dskit.compression import (
    SNAPPY_ALGO,
    compressed_payload,
    snappy_compress_message,
    snappy_decompress_buf,
)
from trio_gossip.wire.dskit.errors import DskitDecodeError
from trio_gossip.wire.dskit.frame import (
    STREAM_PREAMBLE,
    ConnectionType,
    DskitPacket,
    connection_type,
    decode_packet,
    decode_packet_body,
    encode_packet,
)
from trio_gossip.wire.dskit.kv import (
    KeyValuePair,
    PushPullState,
    decode_broadcast,
    decode_kv_pair,
    decode_push_pull_state,
    encode_kv_pair,
    encode_push_pull_state,
)
from trio_gossip.wire.dskit.ring_desc import (
    RING_CODEC_ID,
    Desc,
    InstanceDesc,
    InstanceState,
    decode_desc,
    decode_ring_value,
    encode_desc,
    encode_instance,
    encode_ring_value,
)
from trio_gossip.wire.dskit.snappy import snappy_decode, snappy_encode
from trio_gossip.wire.dskit.tokens import Tokens

__all__ = [
    "RING_CODEC_ID",
    "SNAPPY_ALGO",
    "STREAM_PREAMBLE",
    "ConnectionType",
    "Desc",
    "DskitDecodeError",
    "DskitPacket",
    "InstanceDesc",
    "InstanceState",
    "KeyValuePair",
    "PushPullState",
    "Tokens",
    "compressed_payload",
    "connection_type",
    "decode_broadcast",
    "decode_desc",
    "decode_kv_pair",
    "decode_packet",
    "decode_packet_body",
    "decode_push_pull_state",
    "decode_ring_value",
    "encode_desc",
    "encode_instance",
    "encode_kv_pair",
    "encode_packet",
    "encode_push_pull_state",
    "encode_ring_value",
    "snappy_compress_message",
    "snappy_decode",
    "snappy_decompress_buf",
    "snappy_encode",
]
