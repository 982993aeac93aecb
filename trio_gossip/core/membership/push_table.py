"""Our member table as push/pull entries, one kept per member while it does not change.

Every push/pull sends the whole table, and during a burst of joins a node sends it every few
seconds; an unchanged ``Member`` (immutable, replaced on every change) maps to the same
``PushNodeState`` object each time, whose encoding the codec keeps too (wire/codec.py,
``encode_push_node_state``). The entries are interned by value across the nodes of a process
(wire/push_entries.py, ``shared_push_state``), as decoded ones are: in a simulation every
node lists the same members alike, and a peer's entry that equals ours is our very entry,
which lets the merge step over it by identity (``unchanged``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from trio_gossip.core.membership.member import Member
from trio_gossip.core.membership.state import MembershipState
from trio_gossip.wire.codec import encode_push_node_state
from trio_gossip.wire.messages import NodeState, PushNodeState
from trio_gossip.wire.push_entries import shared_push_state

_ALIVE = int(NodeState.ALIVE)


class PushTable:
    """One node's entries by member name. A cache beside the immutable state: it holds
    nothing the state does not, and a stale entry is recognised by its ``Member``."""

    def __init__(self) -> None:
        # name -> (the member, its entry, the entry's msgpack bytes)
        self._by_name: dict[str, tuple[Member, PushNodeState, bytes]] = {}
        # How many of those entries have each (Vsn, state): the version check's view of our
        # side (version.py), kept up to date entry by entry instead of read off every member.
        self._pairs: Counter[tuple[bytes, int]] = Counter()
        # The entries of the last table we built, by name, and the member map it was built
        # from: while that map is the current one, the entry there is the current entry.
        self._listed: dict[str, PushNodeState] = {}
        self._listed_from: object = None
        # That table itself, and the probe order it follows: asked again before either
        # changes (four in ten of a join's tables), it is the same table.
        self._table: tuple[PushNodeState, ...] = ()
        self._table_order: object = None
        self._table_bytes = b""  # its entries encoded, one after the other

    def table(self, membership: MembershipState) -> tuple[PushNodeState, ...]:
        """Every member in probe order, as memberlist's sendLocalState lists them."""
        members = membership.members
        if members is self._listed_from and membership.probe_order is self._table_order:
            return self._table
        # Inline for the unchanged member (nearly all of them): this runs once per member of
        # every push/pull we send.
        known_entry = self._by_name.get
        entries: list[PushNodeState] = []
        raws: list[bytes] = []
        add, add_raw = entries.append, raws.append
        for name in membership.probe_order:
            m = members[name]
            known = known_entry(name)
            if known is None or known[0] is not m:
                known = self._entry(m)
            add(known[1])
            add_raw(known[2])
        if len(self._by_name) != len(entries):  # names reaped: forget them
            self._by_name = {s.name: self._by_name[s.name] for s in entries}
            self._pairs = Counter((s.vsn, s.state) for s in entries)
        listed = dict(zip(membership.probe_order, entries, strict=True))
        listed.pop(membership.local_name, None)  # aliveNode looks at our own name: never skip it
        self._listed, self._listed_from = listed, members
        self._table, self._table_order = tuple(entries), membership.probe_order
        self._table_bytes = b"".join(raws)
        return self._table

    def encoded_table(self, membership: MembershipState
                      ) -> tuple[tuple[PushNodeState, ...], bytes]:  # fmt: skip
        """``table`` and its entries' msgpack bytes, one after the other, as a push/pull
        lists them (the bytes of an unchanged member are kept with its entry)."""
        table = self.table(membership)
        return table, self._table_bytes

    def unchanged(self, membership: MembershipState, states: Sequence[PushNodeState], *,
                  names: bool = False) -> tuple[list[PushNodeState], list[str]]:  # fmt: skip
        """Split a peer's entries into those that may change something and (with ``names``)
        the names of the alive ones we hold exactly so: the very entry our table lists for a
        member that has not changed since (interned, so identity is equality). An alive
        entry we hold alike changes nothing in aliveNode, and nine in ten entries of a
        join's push/pulls are such. Our own name always stays in the first list (aliveNode
        looks at it for a refutation), as do entries with port 0 (they take the bind port)."""
        self._refresh(membership)
        listed = self._listed.get
        # Entry state 0 is alive.
        news = [s for s in states if listed(s.name) is not s or s.state or not s.port]
        if not names or len(news) == len(states):
            return news, []
        return news, [s.name for s in states if listed(s.name) is s and not s.state and s.port]

    def local_pairs(self, membership: MembershipState) -> set[tuple[bytes, int]]:
        """The distinct (Vsn, state) pairs of our members, for verify_protocol."""
        self._refresh(membership)
        return {pair for pair, count in self._pairs.items() if count}

    def alive_count(self, membership: MembershipState) -> int:
        """How many of our members are alive, ourselves included."""
        self._refresh(membership)
        return sum(count for (_, state), count in self._pairs.items() if state == _ALIVE)

    def _refresh(self, membership: MembershipState) -> None:
        """Bring the entries, the listed names and the pairs up to ``membership`` when a
        member changed since our last table (rare: a push/pull is merged right after we sent
        ours, or answered one)."""
        if self._listed_from is not membership.members:
            self.table(membership)

    def _entry(self, m: Member) -> tuple[Member, PushNodeState, bytes]:
        known = self._by_name.get(m.name)
        if known is not None:
            if known[0] is m:
                return known
            self._pairs[known[1].vsn, known[1].state] -= 1
        entry = shared_push_state((m.name, m.addr, m.port, m.meta or None, m.incarnation,
                                   int(m.state), m.vsn))  # fmt: skip
        known = self._by_name[m.name] = (m, entry, encode_push_node_state(entry))
        self._pairs[entry.vsn, entry.state] += 1
        return known
