"""Handing a block's own exception back out of a nursery that wrapped it in a group.

A context manager that runs tasks in a nursery around its ``yield`` turns any exception
of the caller's block into an ExceptionGroup; callers (and `open_memberlist` around us)
expect their own exception back.
"""

from __future__ import annotations


def only(group: BaseExceptionGroup, error: BaseException) -> bool:
    """True if `group` (nested groups included) holds nothing but `error`."""
    for exc in group.exceptions:
        if exc is error:
            continue
        if not (isinstance(exc, BaseExceptionGroup) and only(exc, error)):
            return False
    return True
