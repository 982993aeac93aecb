"""Is a name taken at an address? One bare memberlist ping under that name, from a socket of
its own, before the node has claimed the name anywhere.

memberlist acks a ping only when its ``Node`` is its own name (memberlist/net.go
``handlePing``: "Got ping for unexpected node" otherwise) and sends the ack to the ping's
``SourceAddr:SourcePort``. The node's own pings cannot serve: they carry piggybacked gossip,
our own alive among it, which is the very claim a Serf agent would start a conflict vote on
(serf/serf.go ``handleNodeConflict``).
"""

from __future__ import annotations

import ipaddress
import random

import trio

from trio_gossip.core.config import Config
from trio_gossip.core.membership.codec import Codec
from trio_gossip.wire.codec import encode_message
from trio_gossip.wire.errors import DecodeError, GossipError
from trio_gossip.wire.messages import Ack, Ping

RECEIVE_SIZE = 65536


class NameConflictError(GossipError):
    """Another node holds this agent's name: the agent did not join, or stopped."""


async def answers_to(config: Config, name: str, local_host: str, target: tuple[str, int]) -> bool:
    """Whether the node at ``target`` acks a ping for ``name`` within ``probe_timeout``."""
    host, port = target
    ip = ipaddress.ip_address(host)
    family = trio.socket.AF_INET6 if ip.version == 6 else trio.socket.AF_INET
    codec = Codec(config)
    seq = random.getrandbits(31)
    with trio.socket.socket(family, trio.socket.SOCK_DGRAM) as sock:
        local = ipaddress.ip_address(local_host) if local_host else None
        bind_host = str(local) if local is not None and local.version == ip.version else ""
        await sock.bind((bind_host, 0))
        source_host, source_port = sock.getsockname()[:2]
        source = ipaddress.ip_address(source_host if bind_host else host).packed
        if not bind_host:
            source = b""  # unbound: let the ack go to the datagram's source address
        ping = Ping(seq, name, source, source_port if source else 0, name)
        for packet in codec.packets([encode_message(ping)]):
            await sock.sendto(packet, (host, port))
        with trio.move_on_after(config.probe_timeout):
            while True:
                data, _ = await sock.recvfrom(RECEIVE_SIZE)
                try:
                    messages = codec.decode_packet(data)
                except DecodeError:
                    continue
                if any(isinstance(m, Ack) and m.seq_no == seq for m in messages):
                    return True
    return False
