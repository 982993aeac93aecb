"""Push/pull node states read from their bytes, remembered by those bytes.

A push/pull lists every member, and a node receives the same entries again and again (every
member of a simulation encodes a given member's entry alike; a real peer repeats an unchanged
one in each periodic push/pull). Unpacking an entry's seven-key map costs several times what
stepping over it does (``Unpacker.skip``), so the stream reader steps over each entry, takes
its bytes, and decodes only bytes it has not seen. Equal bytes decode to an equal, immutable
value: sharing it changes nothing.

Entries are also interned by value (``shared_push_state``), for decoded entries and the ones a
node makes of its own members alike (core/membership/push_table.py): an entry a peer lists
exactly as we hold it is then the very object of our own table, and the merge steps over it
by identity (core/engine/commands.py, ``on_merge``).
"""

from __future__ import annotations

import msgpack

from trio_gossip.wire.codec import decode_push_node_state, describe
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import PushNodeState

# Cleared when full, as the codec's memos are: a 10,000-node simulation lists 10,000 entries.
_LIMIT = 1 << 15
KNOWN_ENTRIES: dict[bytes, PushNodeState] = {}

PushStateKey = tuple[str, bytes, int, bytes | None, int, int, bytes]
# One entry per (name, addr, port, meta, incarnation, state, vsn), shared by every node of a
# process. The key is a tuple, hashed at C speed (an entry's own hash runs attrs' Python
# methods). Bounded as the memos are; an entry made after a clear is equal to the one before
# it but not the same object, which only costs the merge its shortcut.
_SHARED_LIMIT = 1 << 16
_shared: dict[PushStateKey, PushNodeState] = {}


def shared_push_state(key: PushStateKey) -> PushNodeState:
    """The one entry of this process with these fields, in PushNodeState's field order."""
    entry = _shared.get(key)
    if entry is None:
        if len(_shared) >= _SHARED_LIMIT:
            _shared.clear()
        entry = _shared[key] = PushNodeState(*key)
    return entry


def decode_push_entry(raw: bytes, index: int) -> PushNodeState:
    """Node state number ``index`` of a push/pull from its msgpack bytes (one complete object:
    the caller stepped over it). DecodeError names what is wrong, and which entry."""
    known = KNOWN_ENTRIES.get(raw)
    if known is not None:
        return known
    obj = msgpack.unpackb(raw, raw=True)
    if type(obj) is not dict:
        raise DecodeError(f"pushPull: node state is {describe(obj)}, not a map")
    try:
        state = decode_push_node_state(obj)
    except DecodeError as exc:
        raise DecodeError(f"pushPull node state {index}: {exc}") from None
    state = shared_push_state((state.name, state.addr, state.port, state.meta,
                               state.incarnation, state.state, state.vsn))  # fmt: skip
    if len(KNOWN_ENTRIES) >= _LIMIT:
        KNOWN_ENTRIES.clear()
    KNOWN_ENTRIES[raw] = state
    return state
