"""A package's names loaded on first use (PEP 562's module ``__getattr__``): importing one
floor, or ``trio-gossip --help``, loads only the modules it touches."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], names: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: ``exports`` maps each name to the
    module that defines it; a name is imported on its first use, then kept on the package."""
    listed = set(names)

    def __getattr__(name: str) -> Any:  # noqa: N807 (the name Python looks up)
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:  # noqa: N807
        return sorted(set(vars(sys.modules[package])) | listed)

    return __getattr__, __dir__
