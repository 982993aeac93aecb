"""A repeated network complaint is logged once, then as a count at most once per interval, on
Trio's clock (MockClock here), while the node's counters still count every packet."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from trio_gossip import Config, open_memberlist
from trio_gossip.shell.node.log_limit import LogLimiter
from trio_gossip.transport.memory import MemoryNetwork
from trio_gossip.wire.packet import add_label

LOGGER = "trio_gossip.test_log_limit"


def lines(caplog: pytest.LogCaptureFixture, name: str, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name and text in r.getMessage()]


async def test_first_line_then_one_summary_per_interval(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    limiter = LogLimiter(logging.getLogger(LOGGER), interval=10.0)
    for _ in range(5):
        limiter.log(logging.WARNING, "bad crc", "10.0.0.1", "bad crc from 10.0.0.1")
    limiter.log(logging.WARNING, "bad crc", "10.0.0.2", "bad crc from 10.0.0.2")  # other peer
    assert lines(caplog, LOGGER, "bad crc") == ["bad crc from 10.0.0.1", "bad crc from 10.0.0.2"]

    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run)
        await trio.sleep(9.0)
        assert len(lines(caplog, LOGGER, "more times")) == 0  # not before the interval
        await trio.sleep(2.0)
        assert lines(caplog, LOGGER, "more times") == [
            "bad crc from 10.0.0.1 ... 4 more times in the last 10 s"
        ]
        await trio.sleep(100.0)  # nothing more arrived: no further summary
        assert len(lines(caplog, LOGGER, "more times")) == 1
        nursery.cancel_scope.cancel()

    # Quiet for a whole interval: the next complaint is news again, logged in full.
    limiter.flush()
    limiter.log(logging.WARNING, "bad crc", "10.0.0.1", "bad crc from 10.0.0.1")
    assert lines(caplog, LOGGER, "bad crc from 10.0.0.1")[-1] == "bad crc from 10.0.0.1"
    assert len(lines(caplog, LOGGER, "bad crc from 10.0.0.1")) == 3


async def test_a_full_table_logs_new_keys_at_debug_only(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    limiter = LogLimiter(logging.getLogger(LOGGER), max_keys=2)
    for peer in ("a", "b", "c"):
        limiter.log(logging.WARNING, "r", peer, f"from {peer}")
    levels = [r.levelno for r in caplog.records if r.name == LOGGER]
    assert levels == [logging.WARNING, logging.WARNING, logging.DEBUG]


async def test_a_thousand_mislabelled_packets_give_one_line_and_one_summary(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_gossip")
    net = MemoryNetwork(seed=1)
    config = Config.local(name="n", label="ours", push_pull_interval=600.0)
    peer = net.add_node()
    async with open_memberlist(config, transport=net.add_node(), leave_on_exit=False) as node:
        for _ in range(1000):
            await peer.send_packet(node.local_member.address, add_label(b"\x00junk", b"theirs"))
        await trio.sleep(1.0)
        assert node.statistics().bad_packets == 1000  # every one counted
        refusals = lines(caplog, "trio_gossip", "labelled b'theirs'")
        assert len(refusals) == 1, refusals
        await trio.sleep(120.0)
        summaries = lines(caplog, "trio_gossip", "more times")
        assert len(summaries) == 1, summaries
        assert "999 more times in the last 60 s" in summaries[0]
        assert node.statistics().bad_packets == 1000


async def test_a_full_table_makes_room_by_forgetting_quiet_keys(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    limiter = LogLimiter(logging.getLogger(LOGGER), interval=10.0, max_keys=1)
    limiter.log(logging.WARNING, "r", "a", "from a")
    await trio.sleep(10.0)
    limiter.log(logging.WARNING, "r", "b", "from b")  # a was quiet for an interval
    levels = [r.levelno for r in caplog.records if r.name == LOGGER]
    assert levels == [logging.WARNING, logging.WARNING]
