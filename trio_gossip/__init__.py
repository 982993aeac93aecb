"""trio_gossip: hashicorp/memberlist's gossip protocol (SWIM + Lifeguard) for Trio.

The public names below are imported lazily, so importing a lower floor (``trio_gossip.wire``,
``trio_gossip.membership``) does not pull in Trio and the node.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trio_gossip.config import Config
    from trio_gossip.errors import ConfigError, DecodeError, GossipError, JoinError, RemoteError
    from trio_gossip.memberlist import Memberlist, open_memberlist
    from trio_gossip.membership.member import EventKind, Member, MemberEvent
    from trio_gossip.membership.version import ProtocolVersionError
    from trio_gossip.node.delegate import BaseDelegate, Delegate
    from trio_gossip.node.events import EventStream
    from trio_gossip.node.stats import Statistics
    from trio_gossip.wire.messages import NodeState

_EXPORTS = {
    "Config": "trio_gossip.config",
    "ConfigError": "trio_gossip.errors",
    "DecodeError": "trio_gossip.errors",
    "GossipError": "trio_gossip.errors",
    "JoinError": "trio_gossip.errors",
    "RemoteError": "trio_gossip.errors",
    "EventKind": "trio_gossip.membership.member",
    "Member": "trio_gossip.membership.member",
    "MemberEvent": "trio_gossip.membership.member",
    "ProtocolVersionError": "trio_gossip.membership.version",
    "Memberlist": "trio_gossip.memberlist",
    "open_memberlist": "trio_gossip.memberlist",
    "BaseDelegate": "trio_gossip.node.delegate",
    "Delegate": "trio_gossip.node.delegate",
    "EventStream": "trio_gossip.node.events",
    "Statistics": "trio_gossip.node.stats",
    "NodeState": "trio_gossip.wire.messages",
}

__all__ = [
    "BaseDelegate",
    "Config",
    "ConfigError",
    "DecodeError",
    "Delegate",
    "EventKind",
    "EventStream",
    "GossipError",
    "JoinError",
    "Member",
    "MemberEvent",
    "Memberlist",
    "NodeState",
    "ProtocolVersionError",
    "RemoteError",
    "Statistics",
    "open_memberlist",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'trio_gossip' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
