"""The one exception hierarchy callers see."""

from __future__ import annotations


class GossipError(Exception):
    """Base class of every error trio_gossip raises on purpose."""


class ConfigError(GossipError, ValueError):
    """A configuration value is impossible; the message names the field."""


class DecodeError(GossipError, ValueError):
    """Bytes from the network are not a valid memberlist message (says what is wrong)."""


class LabelError(DecodeError):
    """The packet or stream carries another cluster label than ours (``found``; empty when it
    has none); it is for another cluster, or the label is being rolled out."""

    def __init__(self, message: str, found: bytes) -> None:
        super().__init__(message)
        self.found = found


class JoinError(GossipError):
    """No join address could be reached, or the cluster refused us."""


class RemoteError(GossipError):
    """The peer answered a stream request with an errMsg."""
