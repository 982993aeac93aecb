"""The agent's answers to Serf queries and its delivery of Serf user events (no network)."""

from __future__ import annotations

from typing import Any

import msgpack

from trio_gossip.apps.agent.delegate import AgentDelegate
from trio_gossip.apps.agent.queries import UserEvent, encode_node, selects
from trio_gossip.core.membership.member import Member
from trio_gossip.wire.messages import NodeState


def _pack(kind: int, body: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(dict(sorted(body.items())), use_bin_type=False)
    return bytes((kind,)) + packed


def _query(name: str, payload: bytes = b"", *, flags: int = 1, qid: int = 1,
           filters: list[bytes] | None = None) -> bytes:  # fmt: skip
    body = {"LTime": 7, "ID": qid, "Addr": bytes([127, 0, 0, 9]), "Port": 7946,
            "SourceNode": "serf-a", "Filters": filters, "Flags": flags, "RelayFactor": 0,
            "Timeout": 1, "Name": name, "Payload": payload}  # fmt: skip
    return _pack(4, body)


def _decode(message: bytes) -> dict[str, Any]:
    return {k.decode(): v for k, v in msgpack.unpackb(message[1:], raw=True).items()}


def _agent() -> tuple[AgentDelegate, list[tuple[object, bytes]]]:
    d = AgentDelegate("py-1", {"role": "web"})
    sent: list[tuple[object, bytes]] = []
    d.outbox = lambda to, message: sent.append((to, message))
    return d, sent


HOLDER = Member("x", bytes([127, 0, 0, 5]), 7946, b"\xff\x80", 3, NodeState.ALIVE, 0.0,
                bytes([1, 5, 5, 2, 5, 5]))  # fmt: skip


def test_user_queries_are_acked_to_the_querier_address_once() -> None:
    d, sent = _agent()
    d.notify_msg(_query("deploy-check", b"hi"))
    d.notify_msg(_query("deploy-check", b"hi"))  # relayed copy
    assert len(sent) == 1
    to, message = sent[0]
    assert isinstance(to, Member)
    assert (to.name, to.host, to.port) == ("serf-a", "127.0.0.9", 7946)
    ack = _decode(message)
    assert message[0] == 5
    assert (ack["Flags"], ack["From"], ack["ID"], ack["LTime"]) == (1, b"py-1", 1, 7)
    d.notify_msg(_query("no-ack", flags=0, qid=2))
    assert len(sent) == 1
    assert d.statistics()["serf_queries_acked"] == 1


def test_filters_select_as_serf_does() -> None:
    node_filter = b"\x00" + msgpack.packb([b"py-1", b"other"])
    tag_filter = b"\x01" + msgpack.packb({b"Tag": b"role", b"Expr": b"^we"})
    other_tag = b"\x01" + msgpack.packb({b"Tag": b"role", b"Expr": b"^db$"})
    tags = {"role": "web"}
    assert selects([node_filter, tag_filter], "py-1", tags)
    assert not selects([other_tag], "py-1", tags)
    assert not selects([b"\x00" + msgpack.packb([b"other"])], "py-1", tags)
    d, sent = _agent()
    d.notify_msg(_query("q", filters=[other_tag]))
    assert sent == []


def test_conflict_queries_are_answered_with_the_node_we_know() -> None:
    d, sent = _agent()
    d.queries.lookup = {"x": HOLDER}.get
    d.notify_msg(_query("_serf_conflict", b"x", flags=0))
    (_, message), = sent  # fmt: skip
    payload = _decode(message)["Payload"]
    assert payload[0] == 6  # messageConflictResponseType
    node = _decode(payload)
    assert node["Name"] == b"x"
    assert node["Addr"] == bytes([127, 0, 0, 5])
    assert node["Port"] == 7946
    assert [node[k] for k in ("PMin", "PMax", "PCur", "DMin", "DMax", "DCur")] == [1, 5, 5, 2, 5, 5]
    # A name we do not know: nil, as Serf answers.
    d.notify_msg(_query("_serf_conflict", b"nobody", flags=0, qid=2))
    assert _decode(sent[1][1])["Payload"] == encode_node(None) == b"\x06\xc0"
    # Our own name: silent (as Serf) until someone else claims it, then we concede.
    d.notify_msg(_query("_serf_conflict", b"py-1", flags=0, qid=3))
    assert len(sent) == 2
    conceded: list[Member] = []
    d.on_own_conflict = conceded.append
    me = Member("py-1", bytes([127, 0, 0, 2]), 1, b"", 1, NodeState.ALIVE, 0.0)
    d.notify_conflict(me, HOLDER)
    d.notify_conflict(me, HOLDER)
    assert conceded == [HOLDER]
    d.notify_msg(_query("_serf_conflict", b"py-1", flags=0, qid=4))
    assert _decode(_decode(sent[2][1])["Payload"])["Addr"] == HOLDER.addr


def test_user_events_reach_the_hooks_once() -> None:
    d, _ = _agent()
    got: list[UserEvent] = []
    d.user_event_listeners.append(got.append)
    event = _pack(3, {"LTime": 4, "Name": "deploy", "Payload": b"v1", "CC": False})
    d.notify_msg(event)
    d.notify_msg(event)
    assert got == [UserEvent(4, "deploy", b"v1", False)]
    assert d.statistics()["serf_user_events"] == 1
