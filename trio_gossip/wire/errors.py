"""The one exception hierarchy callers see."""

from __future__ import annotations


class GossipError(Exception):
    """Base class of every error trio_gossip raises on purpose."""


class ConfigError(GossipError, ValueError):
    """A configuration value is impossible; the message names the field."""


class DecodeError(GossipError, ValueError):
    """Bytes from the network are not a valid memberlist message (says what is wrong)."""


class JoinError(GossipError):
    """No join address could be reached, or the cluster refused us."""


class RemoteError(GossipError):
    """The peer answered a stream request with an errMsg."""
