"""Our member table as push/pull entries, one kept per member while it does not change.

Every push/pull sends the whole table, and during a burst of joins a node sends it every few
seconds; an unchanged ``Member`` (immutable, replaced on every change) maps to the same
``PushNodeState`` object each time, whose encoding the codec keeps too (wire/codec.py,
``encode_push_node_state``).
"""

from __future__ import annotations

from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire.messages import PushNodeState

# Entries are shared by value across the nodes of a process: in a simulation every node lists
# the same members, and one entry object per (member, incarnation, state) lets the codec find
# its bytes by identity (its value memo hashes through attrs' Python methods, and its
# identity memo holds 16,384 entries: fewer than the n^2 a 400-node simulation would make).
# The key is a tuple, hashed at C speed. Cleared when full, as the codec's memos are.
_SHARED_LIMIT = 16_384
_shared: dict[tuple[str, bytes, int, bytes | None, int, int, bytes], PushNodeState] = {}


class PushStates:
    def __init__(self) -> None:
        self._by_name: dict[str, tuple[Member, PushNodeState]] = {}

    def table(self, membership: MembershipState) -> tuple[PushNodeState, ...]:
        """Every member in probe order, as memberlist's sendLocalState lists them."""
        members = membership.members
        if len(self._by_name) > 2 * len(members) + 64:
            self._by_name = {}  # names reaped long ago: start over rather than grow without end
        # Inline for the unchanged member (nearly all of them): this runs once per member of
        # every push/pull we send.
        known_entry = self._by_name.get
        entries: list[PushNodeState] = []
        add = entries.append
        for name in membership.probe_order:
            m = members[name]
            known = known_entry(name)
            add(known[1] if known is not None and known[0] is m else self._entry(m))
        return tuple(entries)

    def _entry(self, m: Member) -> PushNodeState:
        known = self._by_name.get(m.name)
        if known is not None and known[0] is m:
            return known[1]
        key = (m.name, m.addr, m.port, m.meta or None, m.incarnation, int(m.state), m.vsn)
        entry = _shared.get(key)
        if entry is None:
            if len(_shared) >= _SHARED_LIMIT:
                _shared.clear()
            entry = _shared[key] = PushNodeState(*key)
        self._by_name[m.name] = (m, entry)
        return entry
