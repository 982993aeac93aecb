"""Serf's internal key queries, answered by an agent so ``serf keys`` reaches it too.

``serf keys -install/-use/-remove/-list`` sends the queries ``_serf_install-key`` and friends
to every member and counts the answers; a member that stays silent makes the command report a
partial failure. An agent applies the change to its own keyring and answers as a Serf agent
does: a query response (``05``) whose payload is a key response (``08``), sent straight back to
the querier. ``_serf_ping`` is acknowledged. Other queries are acknowledged and answered by
``queries.QueryAnswerer``, which hands these ones here.
"""

from __future__ import annotations

import base64
import collections

import attrs

from trio_gossip.apps.agent.serf import (
    SerfMessageType,
    fields,
    int_field,
    pack_message,
    str_field,
)
from trio_gossip.wire import Keyring
from trio_gossip.wire.errors import DecodeError

INTERNAL_PREFIX = "_serf_"
KEY_OPERATIONS = {
    "_serf_install-key": "add_key",
    "_serf_use-key": "use_key",
    "_serf_remove-key": "remove_key",
    "_serf_list-keys": "",
}
PING = "_serf_ping"
QUERY_ACK = 1  # Serf's queryFlagAck
REMEMBERED = 1024  # (LTime, ID) pairs already answered: a query arrives once per relay


@attrs.frozen
class Query:
    ltime: int
    id: int
    name: str
    source_node: str
    flags: int
    payload: bytes
    filtered: bool  # carries node or tag filters (which we do not evaluate)


def decode_query(message: bytes) -> Query:
    if message[:1] != bytes((SerfMessageType.QUERY,)):
        raise DecodeError("not a Serf query")
    f = fields(message[1:])
    payload = f.get("Payload") or b""
    if not isinstance(payload, bytes):
        raise DecodeError("query Payload is not bytes")
    return Query(int_field(f, "LTime"), int_field(f, "ID"), str_field(f, "Name"),
                 str_field(f, "SourceNode"), int_field(f, "Flags"), payload,
                 bool(f.get("Filters")))  # fmt: skip


def query_response(query: Query, me: str, payload: bytes | None, *, ack: bool = False) -> bytes:
    """A Serf query response (an ack when ``ack``), as Serf encodes it."""
    body = {"Flags": QUERY_ACK if ack else 0, "From": me, "ID": query.id,
            "LTime": query.ltime, "Payload": payload}  # fmt: skip
    return pack_message(SerfMessageType.QUERY_RESPONSE, body)


def key_response(query: Query, keyring: Keyring | None) -> bytes:
    """Apply a key query to ``keyring`` and describe the outcome as Serf's nodeKeyResponse."""
    op = KEY_OPERATIONS[query.name]
    result, message = False, ""
    keys: list[str] | None = None
    primary = ""
    if keyring is None:
        message = ("Keyring is empty" if not op else "No keyring to modify") + (
            " (encryption not enabled)"
        )
    elif not op:
        keys = [base64.b64encode(k).decode() for k in keyring.keys]
        primary = base64.b64encode(keyring.primary_key).decode()
        result = True
    else:
        try:
            key = fields(query.payload[1:]).get("Key")
            if not isinstance(key, bytes) or query.payload[:1] != bytes(
                (SerfMessageType.KEY_REQUEST,)
            ):
                raise DecodeError("not a key request")
            getattr(keyring, op)(key)
            result = True
        except ValueError as exc:  # DecodeError, ConfigError, or the keyring refusing
            message = str(exc)
    body = {"Keys": keys, "Message": message, "PrimaryKey": primary, "Result": result}
    return pack_message(SerfMessageType.KEY_RESPONSE, body)


class KeyQueryAnswerer:
    """Answers each internal query once; returns the Serf messages to send to its source."""

    def __init__(self, me: str) -> None:
        self.me = me
        self.keyring: Keyring | None = None  # set once the node runs
        self._answered: collections.OrderedDict[tuple[int, int], None] = collections.OrderedDict()
        self.answered = 0
        self.acked = 0

    def answers(self, message: bytes) -> tuple[str, list[bytes]]:
        """(querier, messages): nothing for queries that are not ours to answer."""
        query = decode_query(message)
        if not query.name.startswith(INTERNAL_PREFIX) or query.filtered:
            return query.source_node, []
        key = (query.ltime, query.id)
        if key in self._answered:
            return query.source_node, []
        self._answered[key] = None
        if len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        out = []
        if query.flags & QUERY_ACK:
            out.append(query_response(query, self.me, None, ack=True))
            self.acked += 1
        if query.name in KEY_OPERATIONS:
            out.append(query_response(query, self.me, key_response(query, self.keyring)))
            self.answered += 1
        return query.source_node, out
