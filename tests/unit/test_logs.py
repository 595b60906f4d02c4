from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

from callcenter.logs import JsonFormatter, MaskingFormatter


def test_json_line_carries_call_context_and_unicode() -> None:
    record = logging.LogRecord(
        "telephony", logging.WARNING, __file__, 1, "offer to %s", ("张三",), None
    )
    record.call_id = "1700000000.41"
    record.agent = "Agent 1001"
    line = JsonFormatter(instance="cc1").format(record)
    entry = json.loads(line)
    assert entry["msg"] == "offer to 张三"
    assert entry["call_id"] == "1700000000.41"
    assert entry["agent"] == "Agent 1001"
    assert entry["instance"] == "cc1"
    assert entry["level"] == "warning"
    assert "\n" not in line


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(
                "(asyncpg.exceptions.UniqueViolationError) duplicate key\n"
                "DETAIL:  Key (e164)=(+8613800138000) already exists.\n"
                "[SQL: INSERT INTO customers (name, notes) VALUES ($1, $2)]\n"
                "[parameters: ('张三', '住址 北京市海淀区')]"
            )
        except RuntimeError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("crm", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_personal_data_is_masked_in_both_formats() -> None:
    record = _record("callback for %s on call %s failed", "13800138000", "1790001064.12", exc=True)
    people = MaskingFormatter("%(message)s").format(record)
    entry = json.loads(JsonFormatter().format(record))
    for text in (people, entry["msg"] + entry["exc"]):
        assert "13800138000" not in text
        assert "*******8000" in text
        assert "1790001064.12" in text  # call ids stay readable
        assert "张三" not in text
        assert "北京市" not in text
        assert "[parameters: hidden]" in text


def test_a_newline_from_a_request_cannot_forge_a_log_line() -> None:
    record = _record("GET %s", "/api/x\n12:00:00 INFO    admin logged in")
    line = MaskingFormatter("%(message)s").format(record)
    assert "\n" not in line
    assert "\\n12:00:00" in line


def test_files_with_personal_data_are_private(tmp_path: Path) -> None:
    from crm_core.db.engine import create_engine
    from crm_core.outbox import Outbox

    outbox = Outbox(tmp_path / "var" / "outbox.db")
    outbox.close()
    create_engine(f"sqlite+aiosqlite:///{tmp_path / 'crm.db'}")
    for name in ("var/outbox.db", "crm.db"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
