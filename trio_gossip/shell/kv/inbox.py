"""The merge inbox: every change to a store is a command here, applied by one task.

Two lanes, one reader. Local commands (CAS commits, deletes, sweeps) go before network
changes; within a lane order is kept (so each key's messages apply in arrival order). The
local lane is what makes CAS cheap: a CAS reads its snapshot and queues its commit in one
synchronous step, and the merge task's very next command is that commit, so a change
from the network can never slip in between and force a retry. The network lane is
bounded (dskit's processed-messages queue): past it, received changes are dropped.
"""

from __future__ import annotations

import collections
import enum
from typing import Any

import attrs
import trio

from trio_gossip.shell.kv.reply import Reply


class Outcome(enum.Enum):
    APPLIED = "applied"
    UNCHANGED = "unchanged"  # the merge found nothing new: nothing stored or sent
    CONFLICT = "conflict"  # the key changed since the caller read it: read again


@attrs.frozen(eq=False)
class Commit:
    """A local CAS result: `value` is the whole desired state of `key`, read at `expected`."""

    key: str
    codec: str
    value: Any
    expected: int  # the entry version the caller read (0: the key did not exist)
    reply: Reply[Outcome]


@attrs.frozen(eq=False)
class DeleteKey:
    key: str
    reply: Reply[bool]


@attrs.frozen(eq=False)
class Remote:
    """A decoded change from the network: a gossiped delta or one key of a push/pull state."""

    key: str
    codec: str
    value: Any | None  # None: a pure deletion notice
    deleted: bool
    updated_at: float = 0.0  # the sender's stamp; forwarded with the change unchanged


@attrs.frozen
class Sweep:
    """Collect expired tombstones and obsolete deleted keys."""


Command = Commit | DeleteKey | Remote | Sweep


class MergeInbox:
    def __init__(self, network_limit: int) -> None:
        self.network_limit = network_limit
        self._local: collections.deque[Command] = collections.deque()
        self._network: collections.deque[Remote] = collections.deque()
        self._event = trio.Event()
        self.closed = False

    def __len__(self) -> int:
        return len(self._local) + len(self._network)

    @property
    def network_depth(self) -> int:
        return len(self._network)

    def put_local(self, command: Command) -> None:
        self._local.append(command)
        self._event.set()

    def put_network(self, command: Remote) -> bool:
        """Queue a network change; False (dropped) when the lane is full or closed."""
        if self.closed or len(self._network) >= self.network_limit:
            return False
        self._network.append(command)
        self._event.set()
        return True

    async def get(self) -> Command:
        while True:
            if self._local:
                return self._local.popleft()
            if self._network:
                return self._network.popleft()
            await self._event.wait()
            self._event = trio.Event()

    def close(self) -> list[Command]:
        """Refuse further network changes; hand back local commands nobody will apply."""
        self.closed = True
        left = list(self._local)
        self._local.clear()
        self._network.clear()
        return left
