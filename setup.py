"""Only the optional C extension; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and trio_gossip.wire.lzw
falls back to its pure-Python codec (same bytes, same errors, slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "trio_gossip.wire._lzw",
            ["trio_gossip/wire/_lzw.c"],
            optional=True,
        )
    ]
)
