"""memberlist's wire format, byte for byte (floor 1): messages and the layers around them.

What users need is here: the message types, encoding and decoding of single messages,
packets (compound, compression, CRC, label, encryption) and streams, the keyring, tracing, and
``DecodeError``, the one error bad input raises. The layers themselves (``wire.packet``,
``wire.lzw``, ``wire.crypto``, ``wire.limits``...) are importable for tools that need them.

The names load on first use (PEP 562): a node loads the codec, packets and streams it uses,
not the tracer ``trio-gossip dissect`` needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_gossip._exports import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "decode_message": "trio_gossip.wire.codec",
    "encode_message": "trio_gossip.wire.codec",
    "message_name": "trio_gossip.wire.codec",
    "Keyring": "trio_gossip.wire.crypto",
    "DecodeError": "trio_gossip.wire.errors",
    "GossipError": "trio_gossip.wire.errors",
    "Ack": "trio_gossip.wire.messages",
    "Alive": "trio_gossip.wire.messages",
    "Dead": "trio_gossip.wire.messages",
    "Err": "trio_gossip.wire.messages",
    "IndirectPing": "trio_gossip.wire.messages",
    "Message": "trio_gossip.wire.messages",
    "MessageType": "trio_gossip.wire.messages",
    "Nack": "trio_gossip.wire.messages",
    "NodeState": "trio_gossip.wire.messages",
    "PacketMessage": "trio_gossip.wire.messages",
    "Ping": "trio_gossip.wire.messages",
    "PushNodeState": "trio_gossip.wire.messages",
    "PushPull": "trio_gossip.wire.messages",
    "Suspect": "trio_gossip.wire.messages",
    "User": "trio_gossip.wire.messages",
    "DecodedPacket": "trio_gossip.wire.packet",
    "decode_packet": "trio_gossip.wire.packet",
    "decode_packet_lenient": "trio_gossip.wire.packet",
    "encode_packet": "trio_gossip.wire.packet",
    "make_compounds": "trio_gossip.wire.packet",
    "StreamDecoder": "trio_gossip.wire.stream",
    "decode_stream": "trio_gossip.wire.stream",
    "encode_stream": "trio_gossip.wire.stream",
    "TracedMessage": "trio_gossip.wire.trace",
    "trace_packet": "trio_gossip.wire.trace",
    "trace_stream": "trio_gossip.wire.trace",
}

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

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
