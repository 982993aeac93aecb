"""The one error dskit's wire path raises for bytes that are not what dskit writes."""

from __future__ import annotations

from trio_gossip.wire.errors import DecodeError


class DskitDecodeError(DecodeError):
    """Bytes on the dskit path (TCP framing, KV protobufs, snappy, ring values) are malformed.

    The message says what is wrong. Nothing else escapes the decoders in this package.
    """
