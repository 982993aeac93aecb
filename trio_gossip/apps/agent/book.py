"""The members an agent remembers after they failed or left (``serf members`` lists them)."""

from __future__ import annotations

from trio_gossip.core.membership.member import EventKind, Member, MemberEvent


class MemberBook:
    """Members that failed or left, remembered from events until they come back.

    ``members()`` lists only live members; like ``serf members`` the endpoint also shows the
    departed ones, which the node forgets once it reaps them.
    """

    def __init__(self) -> None:
        self.departed: dict[str, Member] = {}

    def on_event(self, event: MemberEvent) -> None:
        if event.kind in (EventKind.FAILED, EventKind.LEFT):
            self.departed[event.member.name] = event.member
        else:
            self.departed.pop(event.member.name, None)
