"""``trio-gossip demo --ring``: the ring story runs, converges and agrees on lookups."""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stdout

import pytest

from trio_gossip.apps.demo_command import configure_demo, run_demo_command
from trio_gossip.apps.sim.ring_demo import run_ring_demo


def test_ring_demo_tells_the_whole_story() -> None:
    out = io.StringIO()
    assert run_ring_demo(nodes=10, seed=3, out=out) == 0
    text = out.getvalue()
    assert "every node holds the same ring of 10 ACTIVE instances" in text
    assert "gone from every node's ring" in text
    assert "9 instances, digest" in text
    assert text.count("(same on all nodes)") == 4


def test_demo_command_takes_ring_flag() -> None:
    parser = argparse.ArgumentParser()
    configure_demo(parser)
    out = io.StringIO()
    with redirect_stdout(out):
        assert run_demo_command(parser.parse_args(["--ring", "--nodes", "5", "--seed", "2"])) == 0
    assert "Ring demo: 5 nodes" in out.getvalue()
    with pytest.raises(Exception, match="--ring"):
        run_demo_command(parser.parse_args(["--ring", "--real"]))
