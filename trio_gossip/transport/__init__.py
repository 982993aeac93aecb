"""transport: the only layer that touches sockets; a simulated network and real UDP + TCP."""

from .base import Address, PacketHandler, StreamHandler, Transport, TransportError
from .link import LinkConfig
from .memory import MemoryNetwork
from .memory_stream import MemoryStream
from .memory_transport import MemoryTransport
from .net import NetTransport, create_net_transport
from .stats import NetworkStatistics, TransportStatistics

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
