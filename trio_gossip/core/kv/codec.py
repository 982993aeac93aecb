"""Codecs turn KV values into bytes and back; the registry finds one by the id on the wire.

Codec ids travel in every KV message, so they must never change once used. Decoding is
network input: every failure is a `DecodeError`, nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, Protocol, TypeVar

import attrs
import msgpack

from trio_gossip.core.kv.frozenmap import frozen, updated
from trio_gossip.wire.errors import ConfigError, DecodeError

V = TypeVar("V")

MAX_CODEC_ID_BYTES = 64

# Everything a hostile msgpack buffer or a schema check can raise; turned into DecodeError.
_DECODE_FAILURES = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    msgpack.UnpackException,
)


class Codec(Protocol[V]):
    """Encodes one value type; `decode` raises only `DecodeError`."""

    @property
    def id(self) -> str: ...

    def encode(self, value: V) -> bytes: ...

    def decode(self, data: bytes) -> V: ...


def unpack(data: bytes, *, what: str) -> Any:
    """One msgpack object filling all of `data` (str as UTF-8, arrays as tuples).

    msgpack's default limits are the buffer length, so a forged length cannot make it
    allocate more than the message is long.
    """
    try:
        return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True)
    except _DECODE_FAILURES as exc:
        raise DecodeError(f"{what}: bad msgpack: {exc}") from exc


def pack(obj: object) -> bytes:
    """msgpack with str as str and bytes as bin (the only form `unpack` accepts back)."""
    data: bytes = msgpack.packb(obj, use_bin_type=True)
    return data


@attrs.frozen
class MsgpackCodec(Generic[V]):
    """A codec from a pair of functions between the value and plain msgpack objects.

    `from_plain` should raise `DecodeError` on a schema violation; any other ValueError,
    TypeError, KeyError, IndexError or OverflowError it lets through becomes one too.
    """

    id: str
    to_plain: Callable[[V], object]
    from_plain: Callable[[Any], V]

    def encode(self, value: V) -> bytes:
        return pack(self.to_plain(value))

    def decode(self, data: bytes) -> V:
        plain = unpack(data, what=f"codec {self.id!r}")
        try:
            return self.from_plain(plain)
        except DecodeError:
            raise
        except _DECODE_FAILURES as exc:
            raise DecodeError(f"codec {self.id!r}: {exc}") from exc


def _frozen_codecs(codecs: Mapping[str, Codec[Any]]) -> Mapping[str, Codec[Any]]:
    return frozen(codecs)


@attrs.frozen
class CodecRegistry:
    """Codecs by id; immutable, `with_codec` returns a new registry."""

    codecs: Mapping[str, Codec[Any]] = attrs.field(factory=dict, converter=_frozen_codecs)

    @classmethod
    def of(cls, codecs: Iterable[Codec[Any]]) -> CodecRegistry:
        registry = cls()
        for codec in codecs:
            registry = registry.with_codec(codec)
        return registry

    def with_codec(self, codec: Codec[Any]) -> CodecRegistry:
        if not codec.id or len(codec.id.encode()) > MAX_CODEC_ID_BYTES:
            raise ConfigError(f"codec id must be 1..{MAX_CODEC_ID_BYTES} bytes: {codec.id!r}")
        if codec.id in self.codecs:
            raise ConfigError(f"codec id {codec.id!r} is already registered")
        return CodecRegistry(updated(self.codecs, {codec.id: codec}))

    def __getitem__(self, codec_id: str) -> Codec[Any]:
        """The codec for a local value (KeyError if unknown: a programming error)."""
        return self.codecs[codec_id]

    def __contains__(self, codec_id: object) -> bool:
        return codec_id in self.codecs

    def decode(self, codec_id: str, data: bytes) -> Any:
        """Decode bytes received from the network: an unknown id is a DecodeError too."""
        codec = self.codecs.get(codec_id)
        if codec is None:
            raise DecodeError(f"unknown codec id {codec_id!r}")
        return codec.decode(data)
