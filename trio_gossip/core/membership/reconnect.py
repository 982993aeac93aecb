"""Serf's reconnect book (serf/serf.go: ``handleNodeLeave`` files a failed member,
``reconnect`` picks one to join again, ``handleReap`` forgets it after ``ReconnectTimeout``).

memberlist forgets a dead member after ``gossip_to_the_dead_time`` and never calls it again:
two sides of a partition that outlasts that stay apart for ever. Serf keeps its own list of
failed members for much longer and now and then joins one of them; after the partition heals
the first such join swaps full state, and the two sides merge. This is that list, as a value
the engine keeps in its state.
"""

from __future__ import annotations

import random

import attrs
import immutables

from trio_gossip.core.membership.member import EventKind, Member, MemberEvent


@attrs.frozen(slots=True)
class Failed:
    """A member as it was when it failed, and when that was (the node's clock)."""

    member: Member
    since: float


_NONE: immutables.Map[str, Failed] = immutables.Map()


@attrs.frozen(slots=True)
class FailedMembers:
    """The members a node saw fail and has not seen alive or leaving since."""

    entries: immutables.Map[str, Failed] = _NONE

    def __len__(self) -> int:
        return len(self.entries)

    def note(self, event: MemberEvent, now: float) -> FailedMembers:
        """A failure files the member; a join or a graceful leave takes it out (a member that
        left asked not to be called again)."""
        name = event.member.name
        if event.kind is EventKind.FAILED:
            return FailedMembers(self.entries.set(name, Failed(event.member, now)))
        if event.kind in (EventKind.JOINED, EventKind.LEFT) and name in self.entries:
            return FailedMembers(self.entries.delete(name))
        return self

    def reap(self, now: float, timeout: float) -> FailedMembers:
        """Forget members that failed more than ``timeout`` ago (Serf's reconnect_timeout)."""
        expired = [name for name, f in self.entries.items() if now - f.since > timeout]
        if not expired:
            return self
        entries = self.entries.mutate()
        for name in expired:
            del entries[name]
        return FailedMembers(entries.finish())

    def pick(self, num_alive: int, rng: random.Random) -> Member | None:
        """The member to join this round, or None. Serf tries with probability failed / alive
        (``num_alive`` counts this node too), so that across the cluster about one node per
        interval calls a lone failed member, and after a split into halves every node does."""
        n = len(self.entries)
        if not n:
            return None
        if rng.random() > n / max(num_alive, 1):
            return None
        # Sorted, not the map's order: that one follows str hashes, which vary per process,
        # and a simulation must replay from its seed.
        name = sorted(self.entries)[rng.randrange(n)]
        return self.entries[name].member
