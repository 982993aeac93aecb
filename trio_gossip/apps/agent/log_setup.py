"""The agent's stderr log: ``--log-level`` and ``--log-format text|json``.

JSON is one object per line (time, level, logger, message, and any ``extra=`` fields a caller
passed), what log shippers such as Promtail, Fluent Bit and Vector read without a parser rule.
A stdlib ``Formatter`` rather than python-json-logger: the record-to-dict step is a dozen
lines, and the agent's container image then needs no dependency beyond its extras.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s [%(levelname)s] %(name)s: %(message)s"

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        # Imported here: an agent logging text never loads them (memory it would hold).
        import json  # noqa: PLC0415
        from datetime import UTC, datetime  # noqa: PLC0415

        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # default=str: an extra field of any type still yields a line, never a logging error.
        return json.dumps(entry, default=str, ensure_ascii=False)


def setup_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` (debug, info, warning, error) as text or JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logging.basicConfig(level=getattr(logging, level.upper()), handlers=[handler])
