"""Serf queries and user events as a Serf member handles them.

A Serf member acknowledges every query whose filters select it when the query asks for acks
(serf/serf.go ``handleQuery``: ``if q.Flags&queryFlagAck != 0`` after ``shouldProcessQuery``),
so ``serf query`` counts it; it answers the internal queries it knows (serf/internal_query.go
``serfQueries.handleQuery``): ``_serf_ping`` (the ack is the answer), the key queries (see
``keyquery``) and ``_serf_conflict`` (``handleConflict``: the memberlist Node it knows under
the name in the payload, encoded as a conflict response). User events
(``messageUserEventType``) are deduplicated and handed to listeners, the agent's event hooks.
"""

from __future__ import annotations

import collections
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import msgpack

from trio_gossip.apps.agent.keyquery import (
    INTERNAL_PREFIX,
    KEY_OPERATIONS,
    PING,
    QUERY_ACK,
    REMEMBERED,
    KeyQueryAnswerer,
    Query,
    decode_query,
    query_response,
)
from trio_gossip.apps.agent.serf import (
    SerfMessageType,
    fields,
    int_field,
    pack_message,
    str_field,
)
from trio_gossip.core.membership.member import Member
from trio_gossip.wire.errors import DecodeError
from trio_gossip.wire.messages import NodeState

log = logging.getLogger("trio_gossip.apps.agent")

CONFLICT = "_serf_conflict"  # serf/internal_query.go conflictQuery
FILTER_NODE = 0  # serf/messages.go filterNodeType
FILTER_TAG = 1  # serf/messages.go filterTagType


@attrs.frozen
class UserEvent:
    """A Serf user event (serf/messages.go ``messageUserEvent``)."""

    ltime: int
    name: str
    payload: bytes
    coalesce: bool


def decode_user_event(message: bytes) -> UserEvent:
    if message[:1] != bytes((SerfMessageType.USER_EVENT,)):
        raise DecodeError("not a Serf user event")
    f = fields(message[1:])
    payload = f.get("Payload") or b""
    if not isinstance(payload, bytes):
        raise DecodeError("user event Payload is not bytes")
    return UserEvent(int_field(f, "LTime"), str_field(f, "Name"), payload, f.get("CC") is True)


def encode_node(member: Member | None) -> bytes:
    """A conflict response carrying ``member`` as serf/internal_query.go ``handleConflict``
    encodes a ``*memberlist.Node`` (nil, ``c0``, when it knows no member by that name)."""
    if member is None:
        return bytes((SerfMessageType.CONFLICT_RESPONSE,)) + b"\xc0"
    vsn = member.vsn
    body: dict[str, Any] = {
        "Name": member.name, "Addr": member.addr, "Port": member.port, "Meta": member.meta,
        "State": int(member.state), "PMin": vsn[0], "PMax": vsn[1], "PCur": vsn[2],
        "DMin": vsn[3], "DMax": vsn[4], "DCur": vsn[5],
    }  # fmt: skip
    return pack_message(SerfMessageType.CONFLICT_RESPONSE, body)


def _text(value: object) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else ""


def selects(filters: object, me: str, tags: Mapping[str, str]) -> bool:
    """serf/serf.go ``shouldProcessQuery``: every filter must select us. An undecodable
    filter selects nobody, as Serf drops the query then."""
    if not filters:
        return True
    if not isinstance(filters, list):
        return False
    for raw in filters:
        if not isinstance(raw, bytes) or not raw:
            return False
        try:
            body = msgpack.unpackb(raw[1:], raw=True)
        except (ValueError, TypeError, msgpack.UnpackException):
            return False
        if raw[0] == FILTER_NODE:
            if not isinstance(body, list) or me not in {_text(n) for n in body}:
                return False
        elif raw[0] == FILTER_TAG:
            if not isinstance(body, dict):
                return False
            tag, expr = _text(body.get(b"Tag")), _text(body.get(b"Expr"))
            if tag not in tags:
                return False
            try:
                if re.search(expr, tags[tag]) is None:  # Go's regexp.MatchString
                    return False
            except re.error:
                return False
        else:
            return False
    return True


def _querier(query: Query, body: Mapping[str, Any]) -> Member | str:
    addr, port = body.get("Addr"), body.get("Port")
    if isinstance(addr, bytes) and len(addr) in (4, 16) and isinstance(port, int) and port > 0:
        if len(addr) == 16 and addr[:12] == bytes(10) + b"\xff\xff":
            addr = addr[12:]  # Go's 16-byte form of an IPv4 address
        return Member(query.source_node, addr, port, b"", 0, NodeState.ALIVE, 0.0)
    return query.source_node


class QueryAnswerer:
    """Answers each query once: the Serf messages to send back to its source."""

    def __init__(
        self,
        me: str,
        keys: KeyQueryAnswerer,
        tags: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        self.me = me
        self.keys = keys
        self.tags = tags
        # name -> the member we know under it (set by the runner: the node's table), and the
        # other claimant of our own name once we have seen one.
        self.lookup: Callable[[str], Member | None] = lambda name: None
        self.own_conflict: Member | None = None
        self._answered: collections.OrderedDict[tuple[int, int], None] = collections.OrderedDict()
        self.acked = 0
        self.conflicts_answered = 0

    def answers(self, message: bytes) -> tuple[Member | str, list[bytes]]:
        """(where to send them, messages): serf/query.go ``respond`` sends to the query's
        ``Addr:Port``, which is not always the member we know by its ``SourceNode`` (a
        newcomer with a taken name asks about that name)."""
        query = decode_query(message)
        body = fields(message[1:])
        to = _querier(query, body)
        if (query.name in KEY_OPERATIONS or query.name == PING) and not query.filtered:
            return to, self.keys.answers(message)[1]  # acks and answers, deduplicated there
        key = (query.ltime, query.id)
        if key in self._answered:
            return to, []
        self._answered[key] = None
        if len(self._answered) > REMEMBERED:
            self._answered.popitem(last=False)
        if not selects(body.get("Filters"), self.me, self.tags()):
            return to, []
        out = []
        if query.flags & QUERY_ACK:
            out.append(query_response(query, self.me, None, ack=True))
            self.acked += 1
        if query.name == CONFLICT:
            answer = self._conflict(query)
            if answer is not None:
                out.append(query_response(query, self.me, answer))
                self.conflicts_answered += 1
        elif query.name.startswith(INTERNAL_PREFIX):
            log.debug("serf query %s: an internal query we do not answer", query.name)
        return to, out

    def _conflict(self, query: Query) -> bytes | None:
        name = query.payload.decode("utf-8", "surrogateescape")
        if name != self.me:
            return encode_node(self.lookup(name))
        # Serf's handleConflict stays silent about its own name. We are a guest: when someone
        # else claims our name we concede (see runner.watch_own_conflict), so vote for the
        # other claimant and never make the name's holder lose its vote because of us.
        return encode_node(self.own_conflict) if self.own_conflict is not None else None
