"""Helpers for the fidelity tests (tests/test_node_fidelity_*.py): scripted raw peers that
speak the wire format directly, so a test controls exactly what a node hears back."""

from __future__ import annotations

from collections.abc import Callable

import trio

from trio_gossip.core.config import Config
from trio_gossip.core.membership.member import ip_bytes
from trio_gossip.transport.base import Address, Transport
from trio_gossip.wire import StreamDecoder, decode_packet_lenient, encode_packet, encode_stream
from trio_gossip.wire.messages import Alive, Message, PacketMessage

Reply = list[tuple[Address, list[PacketMessage | bytes]]]
Script = Callable[[PacketMessage, Address], Reply]
StreamScript = Callable[[Message], Message | None]


class ScriptedPeer:
    """A bare transport that records every message it receives and answers as ``script``
    says (packets) or ``stream_script`` says (one reply per stream, None: close)."""

    def __init__(
        self,
        transport: Transport,
        script: Script | None = None,
        stream_script: StreamScript | None = None,
    ) -> None:
        self.transport = transport
        self.script = script
        self.stream_script = stream_script
        self.received: list[tuple[PacketMessage, Address]] = []
        self.streams: list[Message] = []
        self._out_send, self._out_recv = trio.open_memory_channel[tuple[Address, bytes]](4096)

    @property
    def address(self) -> Address:
        return self.transport.local_address

    def alive(self, name: str, incarnation: int = 1, meta: bytes | None = None) -> Alive:
        """An alive announcing this peer as ``name`` (default LAN versions)."""
        host, port = self.address
        return Alive(incarnation, name, ip_bytes(host), port, meta, Config(name=name).build_vsn())

    def _on_packet(self, data: bytes, addr: Address) -> None:
        for msg in decode_packet_lenient(data).messages:
            self.received.append((msg, addr))
            if self.script is not None:
                for to, msgs in self.script(msg, addr):
                    self._out_send.send_nowait((to, encode_packet(msgs)))

    async def _on_stream(self, stream: trio.abc.Stream, addr: Address) -> None:
        decoder = StreamDecoder(accept_label_header=True)
        msg = None
        while msg is None:
            data = await stream.receive_some(65536)
            if not data:
                return
            msg = decoder.feed(data)
        self.streams.append(msg)
        reply = self.stream_script(msg) if self.stream_script is not None else None
        if reply is not None:
            await stream.send_all(encode_stream(reply))

    async def _sender(self) -> None:
        async for to, data in self._out_recv:
            await self.transport.send_packet(to, data)

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                    ) -> None:  # fmt: skip
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._sender)
            await nursery.start(self.transport.serve, self._on_packet, self._on_stream)
            task_status.started()

    async def send(self, to: Address, *messages: PacketMessage | bytes) -> None:
        await self.transport.send_packet(to, encode_packet(list(messages)))

    async def send_raw(self, to: Address, data: bytes) -> None:
        await self.transport.send_packet(to, data)

    def got(self, kind: type[PacketMessage]) -> list[PacketMessage]:
        return [m for m, _ in self.received if isinstance(m, kind)]
