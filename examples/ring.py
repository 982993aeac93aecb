"""Three ingesters share a hash ring over gossip. Run: python examples/ring.py"""

import zlib

import trio

from trio_gossip import READ, RING_CODEC, Config, InstanceState, RingClient, lifecycler, open_kv


async def ingester(name: str, zone: str, seed: str, ready: trio.Event,
                   everyone: list[trio.Event]) -> None:
    config = Config.local(name=name, bind_addr="127.0.0.1", bind_port=0)
    async with open_kv(config, codecs=[RING_CODEC]) as kv:
        await kv.node.join([seed])
        async with lifecycler(kv, instance_id=name, addr=f"{name}:9095", zone=zone,
                              num_tokens=64, join_after=0.0, observe_period=0.0) as lc:
            await lc.wait_state(InstanceState.ACTIVE)
            ring = RingClient(kv)
            with trio.fail_after(10):  # the other instances arrive by gossip
                while [i.state for i in ring.ring().live()] != [InstanceState.ACTIVE] * 3:
                    await trio.sleep(0.05)
            replicas = ring.get(zlib.crc32(b"tenant-42/series-7"), READ)
            print(name, "sees replicas", sorted(i.id for i in replicas.instances))
            ready.set()
            for event in everyone:  # stay in the ring (heartbeating) until all have looked
                await event.wait()


async def main() -> None:
    ready = [trio.Event() for _ in range(3)]
    config = Config.local(name="seed", bind_addr="127.0.0.1", bind_port=0)
    async with open_kv(config, codecs=[RING_CODEC]) as seed, trio.open_nursery() as nursery:
        address = f"127.0.0.1:{seed.node.local_member.port}"
        for i, zone in enumerate(("a", "b", "c")):
            nursery.start_soon(ingester, f"ingester-{i}", zone, address, ready[i], ready)
        for event in ready:
            await event.wait()


if __name__ == "__main__":
    trio.run(main)
