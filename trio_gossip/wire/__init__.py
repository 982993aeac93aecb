"""memberlist's wire format, byte for byte (floor 1): messages and the layers around them.

What users need is here: the message types, encoding and decoding of single messages,
packets (compound, compression, CRC, label, encryption) and streams, the keyring, tracing, and
``DecodeError``, the one error bad input raises. The layers themselves (``wire.packet``,
``wire.lzw``, ``wire.crypto``, ``wire.limits``...) are importable for tools that need them.
"""

from trio_gossip.wire.codec import decode_message, encode_message, message_name
from trio_gossip.wire.crypto import Keyring
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import (
    Ack,
    Alive,
    Dead,
    Err,
    IndirectPing,
    Message,
    MessageType,
    Nack,
    NodeState,
    PacketMessage,
    Ping,
    PushNodeState,
    PushPull,
    Suspect,
    User,
)
from trio_gossip.wire.packet import (
    DecodedPacket,
    decode_packet,
    decode_packet_lenient,
    encode_packet,
    make_compounds,
)
from trio_gossip.wire.stream import StreamDecoder, decode_stream, encode_stream
from trio_gossip.wire.trace import TracedMessage, trace_packet, trace_stream

__all__ = [
    "Ack",
    "Alive",
    "Dead",
    "DecodeError",
    "DecodedPacket",
    "Err",
    "GossipError",
    "IndirectPing",
    "Keyring",
    "Message",
    "MessageType",
    "Nack",
    "NodeState",
    "PacketMessage",
    "Ping",
    "PushNodeState",
    "PushPull",
    "StreamDecoder",
    "Suspect",
    "TracedMessage",
    "User",
    "decode_message",
    "decode_packet",
    "decode_packet_lenient",
    "decode_stream",
    "encode_message",
    "encode_packet",
    "encode_stream",
    "make_compounds",
    "message_name",
    "trace_packet",
    "trace_stream",
]
