"""Scenario 5: AES-GCM keyrings between trio_gossip and Go memberlist v0.7.0.

A shared key forms a cluster; a live rotation (install a new key everywhere, make it primary,
remove the old one) loses no member whichever side switches first; a wrong key, or no key
against a keyring, forms nothing, both ways.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
from interop.go_peer import GoPeer, Timing, go_peers
from interop.trio_side import Observers, eventually, run, trio_states

from trio_gossip import JoinError, Memberlist, open_memberlist

pytestmark = pytest.mark.interop

TIMING = Timing(profile="local", probe_interval=0.5, push_pull_interval=2.0)
CONVERGENCE = 2 * 2.0 + 5.0
# Between two rotation steps, let every node probe and gossip with the keys as they are.
EXERCISE = 1.5 * 0.5
BOUND = 5.0

K1, K2, K3, WRONG = (os.urandom(n) for n in (16, 32, 24, 32))


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def trio_config(name: str, keys: Sequence[bytes]) -> object:
    return TIMING.config(name=name, bind_addr="127.0.0.1", bind_port=0, secret_keys=tuple(keys))


class Watch:
    """Records every moment any view showed one of ``names`` as not alive."""

    def __init__(self, go: GoPeer, node: Memberlist, names: Sequence[str]) -> None:
        self.go, self.node, self.names = go, node, list(names)
        self.lost: list[tuple[str, str, str]] = []
        self.polls = 0

    async def run(self) -> None:
        while True:
            views = {"py-1": trio_states(self.node, self.names)}
            census = await run(self.go.census, self.names)
            views |= {observer: c["states"] for observer, c in census.items()}
            for observer, view in views.items():
                for name in self.names:
                    if view.get(name) != "alive":
                        self.lost.append((observer, name, str(view.get(name))))
            self.polls += 1
            await trio.sleep(0.1)


@asynccontextmanager
async def watching(go: GoPeer, node: Memberlist, names: Sequence[str]) -> AsyncIterator[Watch]:
    watch = Watch(go, node, names)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch.run)
        yield watch
        nursery.cancel_scope.cancel()
    assert watch.polls > 3
    assert not watch.lost, watch.lost[:10]


async def test_shared_keyring_and_live_rotation(tmp_path: Path) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(count=2, keys=[b64(K1)], timing=TIMING))
        async with open_memberlist(trio_config("py-1", [K1])) as node:  # type: ignore[arg-type]
            assert await node.join([go.address("go-0")]) == 1
            names = ["go-0", "go-1", "py-1"]
            every = Observers({go: None}, [node])
            for name in names:
                await every.wait(name, "alive", CONVERGENCE)
            keyring = node.keyring
            assert keyring is not None

            def go_all(op: str, key: bytes) -> None:
                for name in go.names:
                    go.keyring(name, op, b64(key))

            async with watching(go, node, names):
                # Go switches first: K2 installed everywhere, primary on Go, then on us.
                await run(go_all, "install", K2)
                keyring.add_key(K2)
                await trio.sleep(EXERCISE)
                await run(go_all, "use", K2)
                await trio.sleep(EXERCISE)
                keyring.use_key(K2)
                await trio.sleep(EXERCISE)
                await run(go_all, "remove", K1)
                await trio.sleep(EXERCISE)
                keyring.remove_key(K1)
                await trio.sleep(EXERCISE)

                # We switch first: K3 primary on us, then on Go; K2 removed here first.
                keyring.add_key(K3)
                await run(go_all, "install", K3)
                await trio.sleep(EXERCISE)
                keyring.use_key(K3)
                await trio.sleep(EXERCISE)
                await run(go_all, "use", K3)
                await trio.sleep(EXERCISE)
                keyring.remove_key(K2)
                await trio.sleep(EXERCISE)
                await run(go_all, "remove", K2)
                await trio.sleep(EXERCISE)

            assert keyring.keys == (K3,)
            for name in go.names:
                assert (await run(go.keyring, name, "list"))["keys"] == [b64(K3)]
            # Still one cluster, pushing and pulling under the new key.
            assert await node.join([go.address("go-1")]) == 1


@pytest.mark.parametrize(
    ("trio_keys", "go_keys"),
    [([K1], [WRONG]), ([], [K1]), ([K1], [])],
    ids=["wrong-key", "go-only", "trio-only"],
)
async def test_mismatched_keys_form_nothing(
    tmp_path: Path, trio_keys: list[bytes], go_keys: list[bytes]
) -> None:
    with go_peers(tmp_path) as peers:
        go = await run(lambda: peers.start(keys=[b64(k) for k in go_keys], timing=TIMING))
        async with open_memberlist(trio_config("py-1", trio_keys)) as node:  # type: ignore[arg-type]
            with pytest.raises(JoinError):
                await node.join([go.address("go-0")])
            before = node.statistics().bad_streams
            result = await run(go.join, "go-0", [f"127.0.0.1:{node.local_member.port}"])
            assert result["joined"] == 0, result

            async def counted() -> bool:
                return node.statistics().bad_streams > before

            await eventually(counted, BOUND, "py-1 to count Go's refused stream")
            assert [m.name for m in node.members()] == ["py-1"]
            assert set(await run(go.states, "go-0")) == {"go-0"}
            errors = await run(go.logs, "go-0")
            assert any("[ERR]" in line for line in errors), errors
