"""``--log-format json``: one JSON object per line with time, level, logger, message and any
extra fields; the default stays human-readable text."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys

from trio_gossip.apps.agent.log_setup import TEXT_FORMAT, JsonFormatter
from trio_gossip.apps.cli import build_parser

TIMEOUT = 60.0


def record(**extra: object) -> logging.LogRecord:
    fields = {"name": "trio_gossip", "levelno": logging.WARNING, "levelname": "WARNING"}
    rec = logging.makeLogRecord(
        {**fields, "msg": "refused %d packets", "args": (3,), "created": 0.0}
    )
    rec.__dict__.update(extra)
    return rec


def test_a_record_is_one_json_line_with_its_extra_fields() -> None:
    line = JsonFormatter().format(record(peer="10.0.0.1", count=3))
    assert "\n" not in line
    assert json.loads(line) == {
        "time": "1970-01-01T00:00:00.000+00:00",
        "level": "warning",
        "logger": "trio_gossip",
        "message": "refused 3 packets",
        "peer": "10.0.0.1",
        "count": 3,
    }


def test_an_extra_field_of_any_type_still_gives_a_line() -> None:
    line = JsonFormatter().format(record(where=("10.0.0.1", 7946), blob=b"\x00"))
    assert json.loads(line)["blob"] == "b'\\x00'"


def test_an_exception_stays_inside_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    entry = json.loads(JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exception"]


def test_the_flag_defaults_to_text() -> None:
    parser = build_parser()
    assert parser.parse_args(["agent", "--name", "a"]).log_format == "text"
    assert parser.parse_args(["agent", "--name", "a", "--log-format", "json"]).log_format == "json"
    assert "%(name)s" in TEXT_FORMAT


def test_the_agent_logs_json_lines() -> None:
    argv = [sys.executable, "-m", "trio_gossip", "agent", "--name", "a", "--bind",
            "127.0.0.1:0", "--log-format", "json"]  # fmt: skip
    with subprocess.Popen(argv, stderr=subprocess.PIPE, text=True) as agent:
        try:
            assert agent.stderr is not None
            lines = [agent.stderr.readline() for _ in range(2)]  # member joined, running
        finally:
            agent.send_signal(signal.SIGINT)
            rest = agent.communicate(timeout=TIMEOUT)[1]
    entries = [json.loads(line) for line in lines + rest.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    assert any(e["message"].startswith("agent a running on 127.0.0.1:") for e in entries)
    assert entries[-1]["message"] == "agent stopped"
    assert agent.returncode == 0
