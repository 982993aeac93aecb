"""The lifecycler on in-memory nodes: registration rules, tokens file, heartbeats, leaving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio
import trio.testing
from kv_support import kv_cluster, ring_store

from trio_gossip.core.ring import InstanceDesc, InstanceState, Ring
from trio_gossip.shell.kv.store import KVStore
from trio_gossip.shell.ring.lifecycler import LifecyclerConfig, lifecycler
from trio_gossip.wire.errors import ConfigError

S = InstanceState


def stored(kv: KVStore) -> Ring:
    return kv.replica.entries["ring"].value  # type: ignore[no-any-return]


async def put(kv: KVStore, desc: InstanceDesc) -> None:
    await kv.cas("ring", lambda r: (r or Ring()).put(desc, now=kv.now()), codec="ring")


async def test_registers_joins_and_heartbeats(autojump_clock: trio.testing.MockClock) -> None:
    async with kv_cluster(1) as (kv,):
        states = []
        async with lifecycler(kv, instance_id="i1", addr="10.0.0.1:9095", zone="z",
                              heartbeat_period=5.0) as lc:  # fmt: skip
            with kv.watch_key("ring") as watch:
                async for ring in watch:
                    states.append(ring.instances["i1"].state)
                    if states[-1] is S.ACTIVE:
                        break
            assert states[0] in (S.PENDING, S.JOINING)
            await lc.wait_state(S.ACTIVE)  # the ring may show it a moment before `lc` knows
            desc = lc.ring().instance("i1")
            assert desc is not None
            assert (desc.addr, desc.zone, len(desc.tokens)) == ("10.0.0.1:9095", "z", 128)
            assert lc.is_ready()
            first = lc.ring().heartbeat_at("i1")
            await trio.sleep(12.0)
            assert lc.heartbeats == 2
            assert lc.ring().heartbeat_at("i1") == pytest.approx(first + 10.0, abs=0.01)
        # Leaving: LEAVING, then a LEFT tombstone that readers never see.
        assert kv.get("ring").instance("i1") is None
        assert stored(kv).instances["i1"].state is S.LEFT
        assert lc.state is S.LEFT


async def test_tokens_file_survives_restarts(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    async with (
        kv_cluster(1) as (kv,),
        lifecycler(kv, instance_id="i1", num_tokens=16, tokens_file=path) as lc,
    ):
        await lc.wait_state(S.ACTIVE)
        tokens = lc.tokens
    assert json.loads(path.read_text()) == {"tokens": list(tokens)}
    async with (
        kv_cluster(1) as (kv,),  # a new process: the ring is empty
        lifecycler(kv, instance_id="i1", num_tokens=16, tokens_file=path) as lc,
    ):
        assert lc.state is S.ACTIVE  # straight in: the file had enough tokens
        assert lc.ring().instances["i1"].tokens == tokens


async def test_unreadable_tokens_file_is_ignored(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    path = tmp_path / "tokens.json"
    path.write_text("{not json")
    async with (
        kv_cluster(1) as (kv,),
        lifecycler(kv, instance_id="i1", num_tokens=8, tokens_file=path) as lc,
    ):
        await lc.wait_state(S.ACTIVE)
        assert len(lc.tokens) == 8
    assert len(json.loads(path.read_text())["tokens"]) == 8


@pytest.mark.parametrize(
    ("found", "registered_as"),
    [(S.LEAVING, S.ACTIVE), (S.JOINING, S.PENDING), (S.ACTIVE, S.ACTIVE)],
)
async def test_restart_adopts_what_the_ring_says(
    autojump_clock: trio.testing.MockClock, found: InstanceState, registered_as: InstanceState
) -> None:
    async with kv_cluster(1) as (kv,):
        await put(kv, InstanceDesc(id="i1", state=found, tokens=range(100, 110),
                                   registered_at=kv.now() - 100))  # fmt: skip
        async with lifecycler(kv, instance_id="i1", num_tokens=12) as lc:
            assert lc.state is registered_as
            desc = lc.ring().instances["i1"]
            assert desc.registered_at == pytest.approx(kv.now() - 100, abs=0.01)
            await lc.wait_state(S.ACTIVE)
            # A quick restart keeps its tokens, topped up to the configured number.
            assert set(range(100, 110)) <= set(lc.tokens)
            assert len(lc.tokens) == (12 if found is not S.ACTIVE else 10)


async def test_forgotten_instance_registers_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with (
        kv_cluster(1) as (kv,),
        lifecycler(kv, instance_id="i1", num_tokens=8, heartbeat_period=5.0) as lc,
    ):
        await lc.wait_state(S.ACTIVE)
        tokens = lc.tokens
        await kv.cas("ring", lambda r: r.remove("i1", now=kv.now(), writer="operator"))
        assert lc.ring().instance("i1") is None
        await trio.sleep(5.1)
        desc = lc.ring().instance("i1")
        assert desc is not None
        assert (desc.state, desc.tokens) == (S.ACTIVE, tokens)


async def test_auto_forget_removes_long_silent_instances(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with kv_cluster(1) as (kv,):
        await kv.cas("ring", lambda r: Ring().put(
            InstanceDesc(id="dead", state=S.ACTIVE, tokens=[1]), now=kv.now()
        ).heartbeat("dead", now=kv.now()), codec="ring")  # fmt: skip
        async with lifecycler(kv, instance_id="i1", num_tokens=4, heartbeat_period=5.0,
                              forget_after=30.0) as lc:  # fmt: skip
            await trio.sleep(27.0)  # heartbeats at 5, 10, ... 25: not silent long enough
            assert lc.ring().instance("dead") is not None
            await trio.sleep(10.0)  # the one at 35 finds it silent for over 30 s
            assert lc.ring().instance("dead") is None
            assert stored(kv).instances["dead"].version.writer == "i1"


async def test_final_sleep_heartbeats_while_leaving_and_keep_on_shutdown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with kv_cluster(1) as (kv,):
        async with lifecycler(kv, instance_id="i1", num_tokens=4, heartbeat_period=1.0,
                              final_sleep=3.0, unregister_on_shutdown=False) as lc:  # fmt: skip
            await lc.wait_state(S.ACTIVE)
            left_at = kv.now()
        ring = kv.get("ring")
        assert ring.instances["i1"].state is S.LEAVING
        assert ring.heartbeat_at("i1") >= left_at + 1.99  # beats at +1 and +2 s at least


async def test_token_conflicts_are_replaced_while_observing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Spread-minimizing tokens depend only on the ring, so two instances joining an empty
    # ring at the same moment pick the same ones. Conflict resolution gives each token to
    # one of them; observing, the loser notices and claims others.
    async with kv_cluster(2) as kvs:
        options = {"num_tokens": 8, "token_strategy": "spread-minimizing",
                   "observe_period": 2.0}  # fmt: skip
        async with (
            lifecycler(kvs[0], instance_id="a", **options) as a,  # type: ignore[arg-type]
            lifecycler(kvs[1], instance_id="b", **options) as b,  # type: ignore[arg-type]
        ):
            await a.wait_state(S.ACTIVE)
            await b.wait_state(S.ACTIVE)
            await trio.sleep(1.0)
            for kv in kvs:
                ring = kv.get("ring")
                assert not set(ring.instances["a"].tokens) & set(ring.instances["b"].tokens)
                assert len(ring.owned_tokens("a")) == len(ring.owned_tokens("b")) == 8


def test_config_is_validated() -> None:
    for bad in ({"instance_id": ""}, {"num_tokens": 0}, {"heartbeat_period": 0},
                {"observe_period": -1}, {"forget_after": 1.0}):  # fmt: skip
        with pytest.raises(ConfigError):
            LifecyclerConfig(**{"instance_id": "i", **bad})  # type: ignore[arg-type]


async def test_store_must_be_running() -> None:
    with pytest.raises(Exception, match="not running"):
        async with lifecycler(ring_store(), instance_id="i1"):
            pass
