"""Three nodes on loopback: join, watch events, send, leave. Run: python examples/embed.py"""

import trio

import trio_gossip
from trio_gossip import Config, open_memberlist


class Inbox(trio_gossip.BaseDelegate):
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def notify_msg(self, message: bytes) -> None:
        self.received.append(message)


async def main() -> None:
    # Config.local(): memberlist's preset for fast, reliable networks. Port 0 picks a free port.
    def config(name: str) -> Config:
        return Config.local(name=name, bind_addr="127.0.0.1", bind_port=0)

    inbox = Inbox()
    async with (
        open_memberlist(config("a")) as a,
        open_memberlist(config("b"), delegate=inbox) as b,
        open_memberlist(config("c")) as c,
    ):
        await b.join([a.local_member.address])  # a push/pull with a over TCP
        await c.join([f"{a.local_member.host}:{a.local_member.port}"])
        # Subscribed after the joins: the stream first replays every member c knows.
        async with c.events() as events:
            with trio.fail_after(5):
                seen = set()
                async for event in events:  # c learned a and b from its join push/pull
                    print("c saw", event.kind.name, event.member.name)
                    seen.add(event.member.name)
                    if {"a", "b"} <= seen:
                        break

        await a.send_reliable("b", b"hello over TCP")
        with trio.fail_after(5):
            while not inbox.received:
                await trio.sleep(0.01)
        print("b received:", inbox.received)
        with trio.fail_after(5):
            while a.statistics().probes < 2:  # a probes one peer per probe_interval
                await trio.sleep(0.05)
        stats = a.statistics()
        print(f"a: {stats.probes} probes, {stats.packets_sent} packets, health {a.health_score}")
    # Leaving the block: each node gossips that it left, then every task and socket is closed.


if __name__ == "__main__":
    trio.run(main)
