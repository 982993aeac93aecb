"""Every long flag of every ``trio-gossip`` subcommand is named in README.md, so a user reading
the README sees the whole command line (argparse's parsers are the source of truth)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from trio_gossip.apps.cli import build_parser

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _long_flags(parser: argparse.ArgumentParser, prog: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                flags.update(_long_flags(sub, f"{prog} {name}"))
        for option in action.option_strings:
            if option.startswith("--") and option not in ("--help", "--version"):
                flags.setdefault(option, prog)
    return flags


def test_parsers_have_flags() -> None:
    # Guards the walk below: an empty result would make the README test pass vacuously.
    flags = _long_flags(build_parser(), "trio-gossip")
    assert "--join" in flags
    assert "--http" in flags
    assert len(flags) > 20


def test_every_long_flag_is_in_the_readme() -> None:
    flags = _long_flags(build_parser(), "trio-gossip")
    missing = sorted(
        f"{prog} {flag}"
        for flag, prog in flags.items()
        if not re.search(re.escape(flag) + r"(?![\w-])", README)
    )
    assert not missing, f"flags not mentioned in README.md: {missing}"


def test_version_is_in_the_readme() -> None:
    assert "trio-gossip --version" in README
