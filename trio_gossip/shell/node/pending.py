"""Where a caller waits for the engine's answer to its command (and, for a leave or a
metadata update, for its broadcast to be fully gossiped)."""

from __future__ import annotations

import trio


class Pending:
    __slots__ = ("_answered", "_error", "_value", "finished", "token")

    def __init__(self, token: int) -> None:
        self.token = token
        self._answered = trio.Event()
        self._value: object = None
        self._error: Exception | None = None
        self.finished = trio.Event()

    def set_answer(self, value: object, error: Exception | None) -> None:
        self._value, self._error = value, error
        self._answered.set()

    async def answer(self) -> object:
        await self._answered.wait()
        if self._error is not None:
            raise self._error
        return self._value
