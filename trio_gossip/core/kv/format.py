"""Our own KV message format (core/kv/message.py, msgpack) behind the MessageFormat seam, and
the lookup the engine uses: a KVContext without a format speaks this one."""

from __future__ import annotations

from collections.abc import Iterable

from trio_gossip.core.kv import message
from trio_gossip.core.kv.message import KeyValuePair, MessageFormat
from trio_gossip.core.kv.replica import KVContext, combine, is_kv_payload, split


class MsgpackFormat:
    """trio_gossip's format: magic-tagged msgpack, beside the application's own messages."""

    def is_message(self, payload: bytes) -> bool:
        return is_kv_payload(payload)

    def encode_pair(self, pair: KeyValuePair, *, max_size: int) -> bytes:
        return message.encode_pair(pair, max_size=max_size)

    def decode_pair(self, data: bytes, *, max_size: int) -> KeyValuePair:
        return message.decode_pair(data, max_size=max_size)

    def encode_state(self, pairs: Iterable[KeyValuePair], *, max_size: int) -> bytes:
        return message.encode_state(pairs, max_size=max_size)

    def decode_state(self, data: bytes, *, max_size: int) -> tuple[KeyValuePair, ...]:
        return message.decode_state(data, max_size=max_size)

    def split(self, user_state: bytes) -> tuple[bytes, bytes]:
        return split(user_state)

    def combine(self, kv_state: bytes, app_state: bytes) -> bytes:
        return combine(kv_state, app_state)


MSGPACK_FORMAT: MessageFormat = MsgpackFormat()


def message_format(ctx: KVContext) -> MessageFormat:
    return ctx.message_format or MSGPACK_FORMAT
