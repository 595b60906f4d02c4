"""Logging set-up: readable lines for people, or one JSON object per line for
log collectors (`CALLCENTER_LOG_JSON=true`). Context such as `call_id`, `agent`
and `pbx` is passed with `extra={...}` and appears as its own JSON field."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("call_id", "agent", "pbx", "user", "queue", "instance")

# a phone number: 7-15 digits (an optional +), not part of a longer number or of a call
# id such as 1790001064.12; the last four digits stay, so people can still match a call
_PHONE = re.compile(r"(?<![\d.])(\+?)(\d{3,11})(\d{4})(?![\d]|\.\d)")
# SQLAlchemy appends the statement's bound values to its errors; PostgreSQL names a
# conflicting row's values in DETAIL: both carry customers' names and numbers
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.S)
_PG_DETAIL = re.compile(r"(Key \([^)]*\))=\([^)]*\)")


def mask_personal_data(text: str) -> str:
    """Phone numbers masked to their last four digits, SQL values removed."""
    text = _SQL_PARAMETERS.sub("[parameters: hidden]", text)
    text = _PG_DETAIL.sub(r"\1=(…)", text)
    return _PHONE.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def one_line(text: str) -> str:
    """A message is one log line: a newline from a request (`%0a`) cannot forge another."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


class MaskingFormatter(logging.Formatter):
    """Readable lines for people, with personal data masked."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return one_line(mask_personal_data(super().formatMessage(record)))

    def formatException(self, ei: Any) -> str:
        return mask_personal_data(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    def __init__(self, instance: str = "") -> None:
        super().__init__()
        self.instance = instance

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_personal_data(record.getMessage()),
        }
        if self.instance:
            entry["instance"] = self.instance
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = mask_personal_data(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(*, level: str = "INFO", json_lines: bool = False, instance: str = "") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter(instance))
    else:
        handler.setFormatter(
            MaskingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say what they do once
