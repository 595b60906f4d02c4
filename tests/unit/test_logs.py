from __future__ import annotations

import json
import logging

from callcenter.logs import JsonFormatter


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
