"""Values sent into a node's state task: the only way anything changes the member table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs
import trio

from trio_gossip.core.membership.member import Member
from trio_gossip.wire.messages import Alive, Dead, PushNodeState, Suspect

T = TypeVar("T")


class Reply(Generic[T]):
    """A one-shot answer from the state task to the task that asked."""

    def __init__(self) -> None:
        self._done = trio.Event()
        self._value: T | None = None
        self._error: BaseException | None = None

    def set(self, value: T) -> None:
        self._value = value
        self._done.set()

    def fail(self, error: BaseException) -> None:
        self._error = error
        self._done.set()

    async def wait(self) -> T:
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]


@attrs.frozen
class Gossip:
    """An alive, suspect or dead message of our own making (a probe verdict)."""

    message: Alive | Suspect | Dead


@attrs.frozen
class HandoffReady:
    """Network gossip waits in the runtime's hand-off queues (see ``Runtime.handoff``)."""


@attrs.frozen
class UserMessage:
    """A user message for the delegate (delivered by the state task, off the receive path)."""

    payload: bytes


@attrs.frozen
class SuspicionExpired:
    node: str


@attrs.frozen
class AwarenessDelta:
    delta: int


@attrs.frozen(eq=False)
class NextProbe:
    reply: Reply[Member | None]


@attrs.frozen(eq=False)
class Merge:
    states: tuple[PushNodeState, ...]
    user_state: bytes
    join: bool
    reply: Reply[None]


@attrs.frozen(eq=False)
class Leave:
    on_finish: Callable[[], None]
    reply: Reply[bool]  # True if we had not left before


@attrs.frozen(eq=False)
class UpdateMeta:
    meta: bytes
    on_finish: Callable[[], None]
    reply: Reply[None]


Command = (
    Gossip
    | HandoffReady
    | UserMessage
    | SuspicionExpired
    | AwarenessDelta
    | NextProbe
    | Merge
    | Leave
    | UpdateMeta
)
