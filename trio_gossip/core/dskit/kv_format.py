"""dskit's KV message format behind the MessageFormat seam (core/kv/message.py).

A broadcast is one marshalled ``KeyValuePair`` (memberlist_client.go broadcastNewValue) and the
push/pull state is the length-prefixed records of LocalState; every user message is the KV's
(NotifyMsg treats them all so), and the push/pull state carries nothing else. As in dskit, a
state whose reading stops at a bad record still yields the records before it
(MergeRemoteState), and an update time travels in milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from trio_gossip.core.kv.message import KeyValuePair, MessageFormat
from trio_gossip.wire.dskit import kv as wire
from trio_gossip.wire.dskit.errors import DskitDecodeError

log = logging.getLogger("trio_gossip.kv")


def _to_wire(pair: KeyValuePair) -> wire.KeyValuePair:
    return wire.KeyValuePair(
        key=pair.key,
        value=pair.value,
        codec=pair.codec,
        deleted=pair.deleted,
        update_time_millis=round(pair.updated_at * 1000),
    )


def _from_wire(pair: wire.KeyValuePair) -> KeyValuePair:
    if not pair.key:
        raise DskitDecodeError("KeyValuePair: empty key")  # NotifyMsg drops it too
    if not pair.codec:
        raise DskitDecodeError("KeyValuePair: empty codec id")
    millis = max(0, pair.update_time_millis)  # Go's zero time (or before 1970): unknown
    return KeyValuePair(pair.key, pair.codec, pair.value, pair.deleted, millis / 1000.0)


def _check_size(data: bytes, max_size: int, error: type[Exception]) -> None:
    if len(data) > max_size:
        raise error(f"dskit KV message of {len(data)} bytes is over the {max_size} limit")


class DskitFormat:
    """grafana/dskit's memberlist KV format; see the module docstring."""

    def is_message(self, payload: bytes) -> bool:
        return True

    def encode_pair(self, pair: KeyValuePair, *, max_size: int) -> bytes:
        data = wire.encode_kv_pair(_to_wire(pair))
        _check_size(data, max_size, ValueError)
        return data

    def decode_pair(self, data: bytes, *, max_size: int) -> KeyValuePair:
        _check_size(data, max_size, DskitDecodeError)
        return _from_wire(wire.decode_kv_pair(data))

    def encode_state(self, pairs: Iterable[KeyValuePair], *, max_size: int) -> bytes:
        data = wire.encode_push_pull_state(_to_wire(p) for p in pairs)
        _check_size(data, max_size, ValueError)
        return data

    def decode_state(self, data: bytes, *, max_size: int) -> tuple[KeyValuePair, ...]:
        _check_size(data, max_size, DskitDecodeError)
        state = wire.decode_push_pull_state(data)
        if state.error is not None:
            if not state.pairs:
                raise state.error
            log.debug("kv: dskit push/pull state read up to a bad record: %s", state.error)
        pairs: list[KeyValuePair] = []
        for pair in state.pairs:
            try:
                pairs.append(_from_wire(pair))
            except DskitDecodeError as exc:  # MergeRemoteState skips such a record, keeps reading
                log.debug("kv: dskit push/pull record skipped: %s", exc)
        return tuple(pairs)

    def split(self, user_state: bytes) -> tuple[bytes, bytes]:
        return user_state, b""

    def combine(self, kv_state: bytes, app_state: bytes) -> bytes:
        # dskit peers read the whole user state as KV records: an application's own push/pull
        # state cannot ride beside it, so it is not sent in this mode.
        if app_state:
            log.debug("kv: dskit format: the application's push/pull state is not sent")
        return kv_state


DSKIT_FORMAT: MessageFormat = DskitFormat()
