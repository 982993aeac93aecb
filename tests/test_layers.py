"""The floors of docs/architecture.md, enforced: imports only go down, and the pure floors
(wire, core) import no Trio, no sockets, no clock. The contracts live in pyproject.toml and
are checked by import-linter, a maintained import-contract tool."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _lint() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command;"
         " sys.exit(lint_imports_command())", "--no-cache"],
        check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_every_import_contract_is_kept() -> None:
    result = _lint()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout


def test_a_broken_floor_is_caught(tmp_path: pathlib.Path) -> None:
    """The contract can fail: a core module that imports the shell breaks it."""
    bad = ROOT / "trio_gossip" / "core" / "_layering_probe.py"
    bad.write_text("import trio_gossip.shell.memberlist\n")
    try:
        result = _lint()
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert "trio_gossip.core is not allowed to import trio_gossip.shell" in result.stdout


def test_the_testing_kit_is_the_top_floor() -> None:
    """trio_gossip.testing sits above apps: the simulator must not import the test kit."""
    bad = ROOT / "trio_gossip" / "apps" / "_layering_probe.py"
    bad.write_text("import trio_gossip.testing\n")
    try:
        result = _lint()
    finally:
        bad.unlink()
    assert result.returncode != 0
    assert "trio_gossip.apps is not allowed to import trio_gossip.testing" in result.stdout


@pytest.mark.parametrize("floor", ["wire", "core"])
def test_pure_floors_load_without_trio(floor: str) -> None:
    code = (f"import sys, trio_gossip.{floor}, pkgutil, importlib\n"
            f"pkg = trio_gossip.{floor}\n"
            "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
            "    importlib.import_module(m.name)\n"
            "assert 'trio' not in sys.modules, 'trio was imported'\n"
            "assert 'socket' not in sys.modules, 'socket was imported'\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
