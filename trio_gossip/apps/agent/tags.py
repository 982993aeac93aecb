"""Node tags encoded as Serf encodes them in memberlist metadata.

Serf writes ``0xff`` (its "tag magic byte") followed by a msgpack ``map[string]string`` in the
old raw-string format, and reads metadata without that byte as a single legacy ``role`` tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgpack

from trio_gossip.core.config import META_MAX_SIZE
from trio_gossip.wire.errors import ConfigError, DecodeError

TAG_MAGIC_BYTE = 0xFF


def encode_tags(tags: Mapping[str, str]) -> bytes:
    """Metadata for ``tags``; keys sorted so the same tags always give the same bytes.

    Serf iterates a Go map (random order); readers must not depend on the order anyway.
    """
    body: bytes = msgpack.packb(
        {
            k.encode("utf-8", "surrogateescape"): v.encode("utf-8", "surrogateescape")
            for k, v in sorted(tags.items())
        },
        use_bin_type=False,
    )
    meta = bytes((TAG_MAGIC_BYTE,)) + body
    if len(meta) > META_MAX_SIZE:
        # A Go node panics on metadata past this limit, so refuse it before anything starts.
        raise ConfigError(f"tags: {len(meta)} bytes encoded, more than {META_MAX_SIZE}")
    return meta


def _text(value: object, what: str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    raise DecodeError(f"tag {what} is {type(value).__name__}, not a string")


def decode_tags(meta: bytes) -> dict[str, str]:
    """Tags from a member's metadata (Serf's decodeTags); DecodeError if they are malformed."""
    if not meta:
        return {}
    if meta[0] != TAG_MAGIC_BYTE:
        return {"role": meta.decode("utf-8", "surrogateescape")}
    try:
        decoded = msgpack.unpackb(meta[1:], raw=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DecodeError(f"tag metadata is not msgpack: {exc}") from None
    if not isinstance(decoded, dict):
        raise DecodeError(f"tag metadata is a msgpack {type(decoded).__name__}, not a map")
    return {_text(k, "name"): _text(v, "value") for k, v in decoded.items()}


def parse_tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` as given to ``--tag`` (the value may itself contain ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"tag {text!r} is not KEY=VALUE")
    return key, value


def parse_tags(items: Iterable[str]) -> dict[str, str]:
    """Several ``KEY=VALUE`` tags; a repeated key keeps its last value, as Serf does."""
    return dict(parse_tag(item) for item in items)
