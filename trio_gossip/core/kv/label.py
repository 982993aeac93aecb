"""The cluster label on every KV message: ``b"KL" | length (1) | label | message``.

Two products once merged into one memberlist cluster through reused IPs and wrote into
each other's rings (mimir#6187, tempo#2766, loki#10172). memberlist's own label guards
packets and streams only when both sides set it; this one travels inside every KV message
and every push/pull state, so a store refuses foreign data even when the membership layer
let the peer in. An unlabelled message (plain ``b"kv..."``) is what a store without a label
sends; it is refused by a store that has one, unless verification is disabled.
"""

from __future__ import annotations

from trio_gossip.wire.errors import DecodeError

MAGIC = b"KL"
_HEADER = len(MAGIC) + 1


def add_label(message: bytes, label: bytes) -> bytes:
    """`message` with the label header in front (unchanged when the label is empty)."""
    if not label:
        return message
    if len(label) > 255:
        raise ValueError("cluster label longer than 255 bytes")
    return MAGIC + bytes((len(label),)) + label + message


def strip_label(data: bytes, label: bytes, *, verify: bool = True) -> bytes:
    """The message inside `data`; DecodeError when its label is not ours (if `verify`)."""
    if data[: len(MAGIC)] == MAGIC:
        if len(data) < _HEADER or len(data) < _HEADER + data[len(MAGIC)]:
            raise DecodeError("kv label header is truncated")
        end = _HEADER + data[len(MAGIC)]
        theirs = data[_HEADER:end]
        data = data[end:]
    else:
        theirs = b""
    if verify and theirs != label:
        raise DecodeError(f"kv message for cluster {theirs!r}, we are {label!r}")
    return data
