"""Read-only dict views for immutable values, and the cheap way to copy them.

Values hold ``MappingProxyType`` over a dict nobody else references. Copying goes through
the proxy's ``copy()`` (the dict's own fast copy); ``{**proxy}`` or ``dict(proxy)`` would
iterate the proxy key by key, ten times slower on the merge hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def frozen(mapping: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only mapping equal to `mapping`: itself if it already is one, else a copy."""
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping))


def updated(mapping: Mapping[K, V], changes: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only copy of `mapping` with `changes` applied."""
    copy = mapping.copy() if isinstance(mapping, MappingProxyType) else dict(mapping)
    copy.update(changes)
    return MappingProxyType(copy)
