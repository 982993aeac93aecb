"""The agent delegate: what Serf agents get from a trio_gossip node, without any network."""

from __future__ import annotations

import msgpack
import pytest

from trio_gossip.apps.agent.delegate import AgentDelegate
from trio_gossip.apps.agent.serf import Intent, decode_intent, encode_intent
from trio_gossip.apps.agent.tags import decode_tags
from trio_gossip.wire.errors import DecodeError


def _state(ltime: int, event_ltime: int = 1, query_ltime: int = 1, extra: bytes = b"") -> bytes:
    body = {
        "EventLTime": event_ltime,
        "Events": [None] * 4,
        "LTime": ltime,
        "LeftMembers": [],
        "QueryLTime": query_ltime,
        "StatusLTimes": {"a": 1},
    }
    packed: bytes = msgpack.packb(body, use_bin_type=False)
    return b"\x02" + packed + extra


def _intents(d: AgentDelegate, node: str = "t1") -> list[Intent]:
    intents = [decode_intent(b) for b in d.get_broadcasts(2, 1400) if b[0] in (0, 1)]
    return [i for i in intents if i.node == node]


def _serf(kind: int, **fields: object) -> bytes:
    packed: bytes = msgpack.packb(dict(sorted(fields.items())), use_bin_type=False)
    return bytes((kind,)) + packed


def _drain(d: AgentDelegate) -> list[bytes]:
    out = []
    while batch := d.get_broadcasts(2, 1400):
        out += batch
    return out


def test_metadata_is_serf_tags() -> None:
    d = AgentDelegate("t1", {"role": "py", "dc": "lo"})
    assert decode_tags(d.node_meta(512)) == {"role": "py", "dc": "lo"}


def test_join_then_leave_intents_carry_increasing_lamport_times() -> None:
    d = AgentDelegate("t1", num_nodes=lambda: 4)
    d.announce_join()
    (join,) = _intents(d)
    assert join == Intent("t1", 1, leave=False)  # Serf's clock starts at 1, so does ours
    finished: list[bool] = []
    d.announce_leave(lambda: finished.append(True))
    leaves = []
    while not finished:
        leaves += _intents(d)
    # The leave is newer than our join, so Serf agents accept it and mark us leaving.
    assert {(i.ltime, i.leave) for i in leaves} == {(2, True)}
    assert len(leaves) == 4  # retransmit_mult 4 * ceil(log10(4 + 1))
    assert d.get_broadcasts(2, 1400) == []


def test_clock_witnesses_serf_intents_and_push_pull_state() -> None:
    d = AgentDelegate("t1")
    d.notify_msg(encode_intent(Intent("serf-a", 7, leave=False)))
    assert d.clock.time == 8
    d.merge_remote_state(_state(20), join=True)
    assert d.clock.time == 20  # Serf witnesses LTime - 1: nothing was sent at LTime yet
    d.announce_join()
    assert _intents(d) == [Intent("t1", 20, leave=False)]
    assert d.received["join"] == 1


def test_serf_gossip_is_relayed_once_like_a_serf_member_would() -> None:
    d = AgentDelegate("t1", num_nodes=lambda: 9)  # retransmit limit 4 * ceil(log10(10)) = 4
    join = encode_intent(Intent("serf-a", 3, leave=False))
    d.notify_msg(join)
    d.notify_msg(join)  # seen already: not queued twice
    assert _drain(d) == [join] * 4
    d.notify_msg(join)  # old news by now
    assert _drain(d) == []
    leave = encode_intent(Intent("serf-a", 4, leave=True))
    d.notify_msg(join)
    d.notify_msg(leave)  # newer: relayed
    assert set(_drain(d)) == {leave}

    event = _serf(3, CC=False, LTime=1, Name="deploy", Payload=b"v1")
    query = _serf(4, Flags=1, ID=7, LTime=1, Name="q")
    quiet = _serf(4, Flags=3, ID=8, LTime=1, Name="q")  # flag 2: do not rebroadcast
    response = _serf(5, Flags=0, From="serf-a", ID=7, LTime=1, Payload=b"")
    for message in (event, query, quiet, response, event, query):
        d.notify_msg(message)
    assert sorted(_drain(d)) == sorted([event] * 4 + [query] * 4)
    assert d.statistics()["serf_messages_relayed"] == 4


def test_intents_about_ourselves_are_not_relayed() -> None:
    d = AgentDelegate("t1")
    d.notify_msg(encode_intent(Intent("t1", 1, leave=False)))
    assert _drain(d) == []


def test_an_old_leave_about_us_is_refuted_while_alive() -> None:
    d = AgentDelegate("t1")
    d.announce_join()
    d.get_broadcasts(2, 1400)
    d.notify_msg(encode_intent(Intent("t1", 5, leave=True)))
    (refute,) = _intents(d)
    assert not refute.leave
    assert refute.ltime > 5
    while d.get_broadcasts(2, 1400):  # send the refutation out completely
        pass
    d.notify_msg(encode_intent(Intent("t1", 5, leave=True)))  # already superseded: no reply
    assert d.get_broadcasts(2, 1400) == []


def test_serf_state_is_handed_on_byte_for_byte_newest_first() -> None:
    d = AgentDelegate("t1")
    assert d.local_state(join=True) == b""  # nothing to hand on yet
    newer, older = _state(9, extra=b""), _state(3)
    d.merge_remote_state(newer, join=True)
    d.merge_remote_state(older, join=False)
    assert d.last_state_received == older
    assert d.local_state(join=True) == newer
    assert d.last_state_sent == newer
    stats = d.statistics()
    assert stats["serf_state_bytes"] == len(newer)


def test_bad_remote_bytes_raise_decode_error_only() -> None:
    d = AgentDelegate("t1")
    with pytest.raises(DecodeError):
        d.merge_remote_state(b"\x07junk", join=False)
    with pytest.raises(DecodeError):
        d.notify_msg(b"\x00\xc1")
    d.notify_msg(b"\x63whatever")  # an unknown Serf type is counted, not an error
    assert d.received["unknown"] == 1
    assert d.local_state(join=False) == b""


def test_user_messages_reach_listeners_as_bytes() -> None:
    d = AgentDelegate("t1")
    seen: list[bytes] = []
    d.listeners.append(seen.append)
    event = b"\x03" + msgpack.packb(
        {"CC": False, "LTime": 1, "Name": "deploy", "Payload": b"v1"}, use_bin_type=False
    )
    d.notify_msg(event)
    assert seen == [event]
    assert d.received["user_event"] == 1
    assert list(d.recent) == [event]
