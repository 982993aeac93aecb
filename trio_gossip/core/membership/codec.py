"""The node's view of the wire: one place that applies config (keys, label, compression, CRC)
and the UDP budget to every packet and stream it sends or reads."""

from __future__ import annotations

from collections.abc import Sequence

from trio_gossip.core.config import Config
from trio_gossip.wire import (
    DecodedPacket,
    Keyring,
    StreamDecoder,
    decode_packet,
    decode_packet_lenient,
    encode_packet,
    encode_stream,
    make_compounds,
)
from trio_gossip.wire.messages import Message, PacketMessage

COMPOUND_HEADER_OVERHEAD = 2  # type byte + part count
COMPOUND_OVERHEAD = 2  # u16 length per part
USER_MSG_OVERHEAD = 1  # the 0x08 type byte in front of a user broadcast


class Codec:
    def __init__(self, config: Config) -> None:
        keys = config.secret_keys
        self.keyring = Keyring(keys, keys[0]) if keys else None
        self._keyring_out = self.keyring if config.gossip_verify_outgoing else None
        self._verify_incoming = config.gossip_verify_incoming
        self._label = config.label
        self._skip_label_check = config.skip_inbound_label_check
        self._compress = config.enable_compression
        self._crc = config.crc
        self._encryption_version = config.encryption_version
        label_overhead = 2 + len(config.label) if config.label else 0
        encrypt_overhead = 0
        if self._keyring_out is not None:
            encrypt_overhead = 29 if self._encryption_version == 1 else 45
        self._fixed_overhead = COMPOUND_HEADER_OVERHEAD + label_overhead + encrypt_overhead
        self.udp_buffer_size = config.udp_buffer_size

    def piggyback_budget(self, message_length: int) -> int:
        """Bytes left for broadcasts behind a message of this length (sizes before compression,
        without the CRC header, as Go counts them)."""
        return self.udp_buffer_size - message_length - self._fixed_overhead

    @property
    def gossip_budget(self) -> int:
        return self.udp_buffer_size - self._fixed_overhead

    def packets(self, parts: Sequence[bytes], *, peer_pmax: int = 0) -> list[bytes]:
        """Frame encoded messages into datagrams: one bare message, or compounds of <= 255.

        The CRC header goes only to peers we know speak protocol 5 (as Go adds it only when it
        knows the destination node).
        """
        crc = self._crc and peer_pmax >= 5
        framed = [parts[0]] if len(parts) == 1 else make_compounds(parts)
        return [
            encode_packet(
                [body],
                keyring=self._keyring_out,
                label=self._label,
                compress=self._compress,
                crc=crc,
                encryption_version=self._encryption_version,
            )
            for body in framed
        ]

    def decode_packet(self, data: bytes) -> list[PacketMessage]:
        return decode_packet(data, keyring=self.keyring, label=self._label,
                             verify_incoming=self._verify_incoming,
                             skip_label_check=self._skip_label_check)  # fmt: skip

    def decode_packet_lenient(self, data: bytes) -> DecodedPacket:
        """Every readable message of a datagram, as Go handles each compound part on its own
        (a bad or truncated part costs only itself); DecodeError if nothing is readable."""
        return decode_packet_lenient(data, keyring=self.keyring, label=self._label,
                                     verify_incoming=self._verify_incoming,
                                     skip_label_check=self._skip_label_check)  # fmt: skip

    def stream(self, msg: Message, *, dialer: bool) -> bytes:
        """One stream message; only the dialer writes the label header."""
        return encode_stream(
            msg,
            keyring=self._keyring_out,
            label=self._label,
            write_label=dialer and bool(self._label),
            compress=self._compress,
            encryption_version=self._encryption_version,
        )

    def stream_decoder(self, *, responder: bool) -> StreamDecoder:
        return StreamDecoder(
            keyring=self.keyring,
            label=self._label,
            accept_label_header=responder,
            verify_incoming=self._verify_incoming,
            skip_label_check=responder and self._skip_label_check,
        )
