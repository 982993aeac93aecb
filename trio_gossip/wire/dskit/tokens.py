"""An instance's tokens kept as they travel: one packed run of uint32 varints, not a tuple of ints.

ring.proto's ``repeated uint32 tokens = 6`` is packed on the wire (gogo's InstanceDesc.Marshal,
ring/ring.pb.go, writes one length-delimited record). A 1,000 x 128 ring is 128,000 tokens: as
Python ints in tuples that is about 40 bytes a token, as these varints about 5 (Go keeps 4), and
decoding or encoding a ring no longer touches each token. The ints are made on demand, in C, by
parsing the run as a message of its own (dskit_ring_packed.proto ``Tokens``), and never cached,
so that a stored ring stays small.

``Tokens`` compares equal to another ``Tokens`` or to a tuple holding the same ints, and hashes
like that tuple. A run that was decoded may use longer varints than needed (gogo writes the
shortest, others may not); such a run means the same ints, and ``normal`` is False for it, as for
a run that is not sorted or holds a token twice, so that the ring merge rewrites it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import lt
from typing import overload

from trio_gossip.wire.dskit.proto import dskit_ring_packed_pb2

_TokensMsg = dskit_ring_packed_pb2.Tokens
_VARINT_BOUNDS = (1 << 7, 1 << 14, 1 << 21, 1 << 28)  # a uint32 at or above takes one byte more
_CONTINUATION = bytes(range(0x80, 0x100))  # varint bytes that are not a varint's last byte
_HIGH = bytes(0 if b < 0x80 else 1 for b in range(256))  # 1 for a byte with more to come
_TEN_HIGH = b"\x01" * 10
_RUNS_AT_ONCE = 64  # 64 heartbeats of 128 tokens: 41 KB, well under malloc's mmap threshold
# Each byte of a run by its kind: "z" a last byte 0, "s" a last byte below 0x10 (all a fifth
# byte may be in a shortest uint32), "b" another last byte, "C" a byte with more to come.
_KINDS = bytes(
    ord("z") if b == 0 else ord("s") if b < 0x10 else ord("b") if b < 0x80 else ord("C")
    for b in range(256)
)


def _record(packed: bytes) -> bytes:
    # The run behind its tag and length: field 6 of a message, as it sits in InstanceDesc.
    n = len(packed)
    if n < 0x80:
        return bytes((0x32, n)) + packed
    if n < 0x4000:  # a heartbeat's 128 tokens: 640 bytes, a two-byte length
        return bytes((0x32, n & 0x7F | 0x80, n >> 7)) + packed
    head = bytearray(b"\x32")
    while n >= 0x80:
        head.append(n & 0x7F | 0x80)
        n >>= 7
    head.append(n)
    return bytes(head) + packed


def _shortest_size(ints: list[int]) -> int:
    # The bytes the shortest varints of sorted uint32s take: one, plus one for each 7 bits above.
    n = len(ints)
    return n + sum(n - bisect_left(ints, bound) for bound in _VARINT_BOUNDS)


def packed_ints(packed: bytes) -> list[int]:
    """The uint32s of one packed run, as gogo reads them (a longer varint is cut to 32 bits).

    Raises google.protobuf.message.DecodeError if the run does not parse.
    """
    if not packed:
        return []
    return _TokensMsg.FromString(_record(packed)).tokens[:]


def _pack(ints: Iterable[int]) -> bytes:
    data = _TokensMsg(tokens=ints).SerializeToString()  # ValueError if an int is no uint32
    if not data:
        return b""
    i = 1
    while data[i] & 0x80:  # skip the tag and the length in front of the varints
        i += 1
    return data[i + 1 :]


def _is_shortest(packed: bytes) -> bool:
    # A varint is longer than it needs to be when it ends in a 0 after other bytes, or when it
    # reaches a fifth byte holding more than the 4 bits left of a uint32 (it is then cut).
    kinds = packed.translate(_KINDS)
    if b"\x00" in packed and b"Cz" in kinds:
        return False
    return b"CCCCC" not in kinds and b"CCCCb" not in kinds


class Tokens(Sequence[int]):
    """An immutable list of uint32 tokens, held as the packed varints of ring.proto field 6."""

    __slots__ = ("_normal", "_packed")

    _packed: bytes
    _normal: bool | None  # sorted, unique and shortest varints; None until somebody asks

    def __init__(self, ints: Iterable[int] = ()) -> None:
        """Tokens holding ``ints`` in their order (ValueError if one is not a uint32)."""
        self._packed = _pack(ints)
        self._normal = None

    @classmethod
    def from_packed(cls, packed: bytes, normal: bool | None = None) -> Tokens:
        """Tokens over a packed run that is known to parse (the decoder checks the runs)."""
        out = cls.__new__(cls)
        out._packed = packed
        out._normal = normal
        return out

    @property
    def packed(self) -> bytes:
        """The varints as ring.proto field 6 carries them (without the tag and the length)."""
        return self._packed

    def shortest(self) -> bytes:
        """The varints as gogo's Marshal writes them: each in its shortest form."""
        packed = self._packed
        if self._normal or _is_shortest(packed):
            return packed
        return _pack(self.ints())

    def ints(self) -> list[int]:
        """The tokens as a new list of ints, in their order."""
        return packed_ints(self._packed)

    @property
    def normal(self) -> bool:
        """Sorted, without repeats and in shortest varints: what model.go normalizeIngestersMap
        leaves, byte for byte what gogo would write. Worked out once, then remembered."""
        normal = self._normal
        if normal is None:
            ints = self.ints()
            # Each varint takes at least the shortest size of the uint32 it is read as, so the
            # sizes add up to the run's length only if every one is the shortest.
            normal = all(map(lt, ints, ints[1:])) and _shortest_size(ints) == len(self._packed)
            self._normal = normal
        return normal

    def normalized(self, like: Tokens | None = None) -> Tokens:
        """These tokens sorted, without repeats, in shortest varints (self if they are).

        ``like`` is a list whose answer may already be known: the same bytes are as normal,
        which saves reading the ints of a record that comes back with its tokens unchanged.
        """
        if (
            self._normal is None
            and like is not None
            and like._normal is not None
            and like._packed == self._packed
        ):
            self._normal = like._normal
        if self.normal:
            return self
        return Tokens.from_packed(_pack(sorted(set(self.ints()))), True)

    def __len__(self) -> int:
        # One varint ends at each byte below 0x80.
        return len(self._packed.translate(None, _CONTINUATION))

    def __bool__(self) -> bool:
        return bool(self._packed)

    @overload
    def __getitem__(self, index: int) -> int: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[int, ...]: ...
    def __getitem__(self, index: int | slice) -> int | tuple[int, ...]:
        if isinstance(index, slice):
            return tuple(self.ints()[index])
        return self.ints()[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self.ints())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Tokens):
            if self._packed == other._packed:
                return True
            if self._normal and other._normal:
                return False  # one shortest encoding per list of ints
            return self.ints() == other.ints()
        if isinstance(other, tuple):
            return tuple(self.ints()) == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash(tuple(self.ints()))  # as the equal tuple hashes

    def __repr__(self) -> str:
        return f"Tokens({self.ints()!r})"


EMPTY_TOKENS = Tokens.from_packed(b"", True)
"""No tokens (a LEFT instance's, or a new one's)."""


def as_tokens(tokens: Sequence[int]) -> Tokens:
    """``tokens`` as Tokens: itself if it is one, else a packed copy."""
    if type(tokens) is Tokens:
        return tokens
    if not tokens:
        return EMPTY_TOKENS
    return Tokens(tokens)


# The decoder makes a Tokens per instance; these store its slots without a call to
# from_packed (a classmethod call and two attribute stores cost more than two setter calls).
SET_PACKED: Callable[[Tokens, bytes], None] = vars(Tokens)["_packed"].__set__
SET_NORMAL: Callable[[Tokens, bool | None], None] = vars(Tokens)["_normal"].__set__


def runs_parse(runs: Sequence[bytes]) -> bool:
    """Whether runs of packed uint32 varints, each ending on a varint's last byte, parse as
    protobuf (and gogo's Unmarshal, ring/ring.pb.go: ``shift >= 64`` is ErrIntOverflowRing)
    read them: True unless a varint runs past ten bytes, that is unless ten bytes in a row
    have their high bit. As each run ends on a last byte, no such row spans two runs.

    A bytes.translate and a search, over a few runs joined at a time, and no int made: about
    half of what protobuf takes to parse the runs (check_packed), which makes and stores every
    int. A bytearray, as bytearray.translate is twice as fast as bytes.translate (which also
    tracks whether anything changed, to hand back the same object). A few runs at a time, as
    two temporaries the size of a whole ring's tokens (640 KB for 1,000 x 128) are each mapped
    afresh and faulted in page by page on every decode, which costs more than the work itself.
    """
    if len(runs) == 1:  # a heartbeat's
        return _TEN_HIGH not in runs[0].translate(_HIGH)
    for start in range(0, len(runs), _RUNS_AT_ONCE):
        joined = bytearray().join(runs[start : start + _RUNS_AT_ONCE])
        if _TEN_HIGH in joined.translate(_HIGH):
            return False
    return True


def check_packed(packed: bytes) -> None:
    """Raise google.protobuf.message.DecodeError unless ``packed`` parses as packed uint32s
    (no varint cut short or longer than ten bytes), without making the ints."""
    if packed:
        _TokensMsg.FromString(_record(packed))
