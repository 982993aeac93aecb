"""trio_gossip: hashicorp/memberlist's gossip protocol (SWIM + Lifeguard) for Trio.

Everything an application needs is importable from here; the floors below
(``wire``, ``core``, ``transport``, ``shell``, ``apps``) are described in docs/architecture.md.
The names load on first use (PEP 562), so ``import trio_gossip.wire`` or ``trio-gossip --help``
does not pay for Trio, the KV store and the ring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trio_gossip._exports import lazy_exports

if TYPE_CHECKING:
    from trio_gossip.core.config import Config
    from trio_gossip.core.kv import LWW_CODEC, LWWMap, Mergeable, MergeResult
    from trio_gossip.core.kv.replica import KeyDeletedError
    from trio_gossip.core.kv.settings import KVSettings
    from trio_gossip.core.membership.member import EventKind, Member, MemberEvent
    from trio_gossip.core.membership.version import ProtocolVersionError
    from trio_gossip.core.ring import (
        READ,
        RING_CODEC,
        WRITE,
        InstanceDesc,
        InstanceState,
        ReplicationSet,
        Ring,
    )
    from trio_gossip.shell.kv.client import KVClient
    from trio_gossip.shell.kv.store import KVStore, open_kv
    from trio_gossip.shell.memberlist import Memberlist, open_memberlist
    from trio_gossip.shell.node.delegate import BaseDelegate, Delegate, Delegates
    from trio_gossip.shell.node.events import EventStream
    from trio_gossip.shell.node.stats import Statistics
    from trio_gossip.shell.ring.client import RingClient
    from trio_gossip.shell.ring.lifecycler import Lifecycler, LifecyclerConfig, lifecycler
    from trio_gossip.transport.base import Transport, TransportError
    from trio_gossip.transport.memory import MemoryNetwork
    from trio_gossip.wire.crypto import Keyring
    from trio_gossip.wire.errors import (
        ConfigError,
        DecodeError,
        GossipError,
        JoinError,
        RemoteError,
    )
    from trio_gossip.wire.messages import NodeState

_EXPORTS = {
    "Config": "trio_gossip.core.config",
    "LWW_CODEC": "trio_gossip.core.kv",
    "LWWMap": "trio_gossip.core.kv",
    "Mergeable": "trio_gossip.core.kv",
    "MergeResult": "trio_gossip.core.kv",
    "KVSettings": "trio_gossip.core.kv.settings",
    "EventKind": "trio_gossip.core.membership.member",
    "Member": "trio_gossip.core.membership.member",
    "MemberEvent": "trio_gossip.core.membership.member",
    "ProtocolVersionError": "trio_gossip.core.membership.version",
    "READ": "trio_gossip.core.ring",
    "RING_CODEC": "trio_gossip.core.ring",
    "WRITE": "trio_gossip.core.ring",
    "InstanceDesc": "trio_gossip.core.ring",
    "InstanceState": "trio_gossip.core.ring",
    "ReplicationSet": "trio_gossip.core.ring",
    "Ring": "trio_gossip.core.ring",
    "KVClient": "trio_gossip.shell.kv.client",
    "KeyDeletedError": "trio_gossip.core.kv.replica",
    "KVStore": "trio_gossip.shell.kv.store",
    "open_kv": "trio_gossip.shell.kv.store",
    "Memberlist": "trio_gossip.shell.memberlist",
    "open_memberlist": "trio_gossip.shell.memberlist",
    "BaseDelegate": "trio_gossip.shell.node.delegate",
    "Delegate": "trio_gossip.shell.node.delegate",
    "Delegates": "trio_gossip.shell.node.delegate",
    "EventStream": "trio_gossip.shell.node.events",
    "Statistics": "trio_gossip.shell.node.stats",
    "RingClient": "trio_gossip.shell.ring.client",
    "Lifecycler": "trio_gossip.shell.ring.lifecycler",
    "LifecyclerConfig": "trio_gossip.shell.ring.lifecycler",
    "lifecycler": "trio_gossip.shell.ring.lifecycler",
    "Transport": "trio_gossip.transport.base",
    "TransportError": "trio_gossip.transport.base",
    "MemoryNetwork": "trio_gossip.transport.memory",
    "Keyring": "trio_gossip.wire.crypto",
    "ConfigError": "trio_gossip.wire.errors",
    "DecodeError": "trio_gossip.wire.errors",
    "GossipError": "trio_gossip.wire.errors",
    "JoinError": "trio_gossip.wire.errors",
    "RemoteError": "trio_gossip.wire.errors",
    "NodeState": "trio_gossip.wire.messages",
}

__all__ = [
    "LWW_CODEC",
    "READ",
    "RING_CODEC",
    "WRITE",
    "BaseDelegate",
    "Config",
    "ConfigError",
    "DecodeError",
    "Delegate",
    "Delegates",
    "EventKind",
    "EventStream",
    "GossipError",
    "InstanceDesc",
    "InstanceState",
    "JoinError",
    "KVClient",
    "KVSettings",
    "KVStore",
    "KeyDeletedError",
    "Keyring",
    "LWWMap",
    "Lifecycler",
    "LifecyclerConfig",
    "Member",
    "MemberEvent",
    "Memberlist",
    "MemoryNetwork",
    "MergeResult",
    "Mergeable",
    "NodeState",
    "ProtocolVersionError",
    "RemoteError",
    "ReplicationSet",
    "Ring",
    "RingClient",
    "Statistics",
    "Transport",
    "TransportError",
    "lifecycler",
    "open_kv",
    "open_memberlist",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
