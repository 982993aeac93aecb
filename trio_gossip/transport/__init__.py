"""transport: the only layer that touches sockets; a simulated network and real UDP + TCP.

The names load on first use (PEP 562): a node on real sockets never loads the simulated
network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_gossip._exports import lazy_exports

if TYPE_CHECKING:
    from trio_gossip.transport.base import (
        Address,
        PacketHandler,
        StreamHandler,
        Transport,
        TransportError,
    )
    from trio_gossip.transport.link import LinkConfig
    from trio_gossip.transport.memory import MemoryNetwork
    from trio_gossip.transport.memory_stream import MemoryStream
    from trio_gossip.transport.memory_transport import MemoryTransport
    from trio_gossip.transport.net import NetTransport, create_net_transport
    from trio_gossip.transport.stats import NetworkStatistics, TransportStatistics

_EXPORTS = {
    "Address": "trio_gossip.transport.base",
    "PacketHandler": "trio_gossip.transport.base",
    "StreamHandler": "trio_gossip.transport.base",
    "Transport": "trio_gossip.transport.base",
    "TransportError": "trio_gossip.transport.base",
    "LinkConfig": "trio_gossip.transport.link",
    "MemoryNetwork": "trio_gossip.transport.memory",
    "MemoryStream": "trio_gossip.transport.memory_stream",
    "MemoryTransport": "trio_gossip.transport.memory_transport",
    "NetTransport": "trio_gossip.transport.net",
    "create_net_transport": "trio_gossip.transport.net",
    "NetworkStatistics": "trio_gossip.transport.stats",
    "TransportStatistics": "trio_gossip.transport.stats",
}

__all__ = [
    "Address",
    "LinkConfig",
    "MemoryNetwork",
    "MemoryStream",
    "MemoryTransport",
    "NetTransport",
    "NetworkStatistics",
    "PacketHandler",
    "StreamHandler",
    "Transport",
    "TransportError",
    "TransportStatistics",
    "create_net_transport",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
