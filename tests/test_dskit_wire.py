"""dskit's KV protobufs against dskit itself: rings, KeyValuePairs and push/pull state made by the
Go peer (tests/peers/dskit, real grafana/dskit code) decode field by field and re-encode byte for
byte; what we encode, dskit's code reads back the same."""

from __future__ import annotations

import time

import pytest
from dskit_support import desc_from_json, desc_to_json, oracle

from trio_gossip.core.dskit.kv_entry import merge_value_for_key
from trio_gossip.wire.dskit import (
    RING_CODEC_ID,
    Desc,
    DskitDecodeError,
    InstanceDesc,
    InstanceState,
    KeyValuePair,
    decode_broadcast,
    decode_desc,
    decode_kv_pair,
    decode_push_pull_state,
    decode_ring_value,
    encode_desc,
    encode_kv_pair,
    encode_push_pull_state,
    encode_ring_value,
)

GEN_CASES = [
    ("1", "30", "128", "zone-a,zone-b,zone-c", False),
    ("2", "40", "16", "zone-a,zone-b,zone-c", True),
    ("3", "25", "64", "", True),
    ("4", "1", "512", "z", True),
    ("5", "0", "128", "", False),
]


@pytest.mark.parametrize(("seed", "n", "tokens", "zones", "mixed"), GEN_CASES)
def test_go_ring_decodes_field_by_field_and_reencodes_byte_for_byte(
    seed: str, n: str, tokens: str, zones: str, mixed: bool
) -> None:
    args = ["-seed", seed, "-instances", n, "-tokens", tokens, "-zones", zones]
    made = oracle("gen-ring", None, *args, *(["-mixed"] if mixed else []))
    raw = bytes.fromhex(made["desc_hex"])

    desc = decode_desc(raw)
    assert desc_to_json(desc) == made["instances"]
    assert encode_desc(desc) == raw  # map entries in Go's (random) order, kept by the decoder

    value = decode_ring_value(bytes.fromhex(made["value_hex"]))  # codec.Proto: snappy block
    assert desc_to_json(value) == made["instances"]


def test_go_reads_our_rings_and_values() -> None:
    rings = [
        Desc(),
        Desc({"": InstanceDesc()}),  # empty key, empty value: both written, as gogo does
        Desc(
            {
                "ingester-1": InstanceDesc(
                    addr="10.0.0.1:9095",
                    timestamp=1_700_000_000,
                    state=InstanceState.LEAVING,
                    tokens=(1, 2, 300, 0xFFFFFFFF),
                    zone="zone-a",
                    registered_timestamp=-5,
                    id="ingester-1",
                    read_only_updated_timestamp=1_700_000_001,
                    read_only=True,
                    versions=((0, 1), (7, 2**64 - 1)),
                ),
                "ingester-2": InstanceDesc(state=InstanceState.LEFT, timestamp=-1),
                "weird-state": InstanceDesc(state=17, tokens=(5,)),
            }
        ),
    ]
    answer = oracle(
        "decode-ring",
        {
            "descs_hex": [encode_desc(d).hex() for d in rings],
            "values_hex": [encode_ring_value(d).hex() for d in rings] + [""],
        },
    )
    for desc, got in zip(rings, answer["descs"], strict=True):
        assert got.get("instances", []) == desc_to_json(desc)
    for desc, got in zip(rings, answer["values"][:3], strict=True):
        assert got.get("instances", []) == desc_to_json(desc)
    assert "error" in answer["values"][3]  # Go's codec refuses an empty value (no snappy header)
    assert decode_ring_value(b"") == Desc()  # ...which dskit's KV replaces by an empty block


def test_kv_pair_and_push_pull_state_as_dskit_writes_them() -> None:
    """A real memberlist KV: the broadcast after a CAS and LocalState, byte for byte."""
    made = oracle("gen-ring", None, "-seed", "7", "-instances", "3", "-tokens", "8")
    pairs = [
        KeyValuePair("ring", bytes.fromhex(made["value_hex"]), RING_CODEC_ID),
        KeyValuePair("k", b"", "", deleted=True, update_time_millis=-1),
        KeyValuePair("ü-key", b"\x00\x01", "string", update_time_millis=1_790_000_000_123),
    ]
    answer = oracle(
        "kv",
        {
            "key": "collectors/ring",
            "desc_hex": made["desc_hex"],
            "pairs": [
                {
                    "key": p.key,
                    "value_hex": p.value.hex(),
                    "codec": p.codec,
                    "deleted": p.deleted,
                    "update_time_millis": p.update_time_millis,
                }
                for p in pairs
            ],
        },
    )
    assert [bytes.fromhex(h) for h in answer["pairs_hex"]] == [encode_kv_pair(p) for p in pairs]
    assert [decode_kv_pair(bytes.fromhex(h)) for h in answer["pairs_hex"]] == pairs

    # The CAS's change, as the KV queued it for gossip: one KeyValuePair holding the ring.
    (broadcast,) = answer["broadcasts_hex"]
    pair = decode_broadcast(bytes.fromhex(broadcast), {RING_CODEC_ID})
    assert pair.key == "collectors/ring"
    assert pair.codec == RING_CODEC_ID
    assert not pair.deleted
    assert encode_kv_pair(pair) == bytes.fromhex(broadcast)
    assert desc_to_json(decode_ring_value(pair.value)) == made["instances"]

    # LocalState: length-prefixed KeyValuePairs, one per key.
    state = decode_push_pull_state(bytes.fromhex(answer["state_before_hex"]))
    assert state.error is None
    (full,) = state.pairs
    assert full.key == "collectors/ring"
    assert desc_to_json(decode_ring_value(full.value)) == made["instances"]
    assert encode_push_pull_state(state.pairs) == bytes.fromhex(answer["state_before_hex"])


def test_dskit_merges_our_push_pull_state_and_broadcasts() -> None:
    """What we send, a real memberlist KV merges; what it rejects, it counts as invalid."""
    now = int(time.time())
    made = oracle("gen-ring", None, "-seed", "8", "-instances", "3", "-tokens", "8")
    ours = InstanceDesc(
        addr="127.0.0.1:9095",
        timestamp=now,
        state=InstanceState.ACTIVE,
        tokens=(11, 22, 33),
        zone="zone-a",
        registered_timestamp=now,
        id="python-1",
    )
    heartbeat = InstanceDesc(
        addr="127.0.0.1:9096",
        timestamp=now,
        tokens=(44, 55),
        zone="zone-b",
        id="python-2",
    )
    push_pull = encode_push_pull_state(
        [
            KeyValuePair("ring", encode_ring_value(Desc({"python-1": ours})), RING_CODEC_ID),
            KeyValuePair("other", b"x", "no-such-codec"),  # skipped by MergeRemoteState
        ]
    )
    broadcasts = [
        encode_kv_pair(
            KeyValuePair("ring", encode_ring_value(Desc({"python-2": heartbeat})), RING_CODEC_ID)
        ),
        encode_kv_pair(KeyValuePair("ring", b"x", "no-such-codec")),  # invalid: codec
        encode_kv_pair(KeyValuePair("", b"x", RING_CODEC_ID)),  # invalid: empty key
    ]
    answer = oracle(
        "kv",
        {
            "key": "ring",
            "desc_hex": made["desc_hex"],
            "push_pull_hex": push_pull.hex(),
            "broadcasts_hex": [b.hex() for b in broadcasts],
        },
    )
    assert answer["counters"]["memberlist_client_received_broadcasts_invalid_total"] == 2
    for bad in broadcasts[1:]:
        with pytest.raises(DskitDecodeError):
            decode_broadcast(bad, {RING_CODEC_ID})

    state = decode_push_pull_state(bytes.fromhex(answer["state_after_hex"]))
    (pair,) = state.pairs
    go_ring = decode_ring_value(pair.value)
    # The same steps through our pure copy of the KV's rules: the CAS of the first value, then
    # the push/pull record, then the valid broadcast.
    entry = merge_value_for_key(None, desc_from_json(made["instances"]), now=now).entry
    for update in (Desc({"python-1": ours}), Desc({"python-2": heartbeat})):
        step = merge_value_for_key(entry, update, now=now)
        assert step.changed
        entry = step.entry
    assert entry is not None
    assert entry.version == 3
    assert desc_to_json(go_ring) == desc_to_json(entry.value)
