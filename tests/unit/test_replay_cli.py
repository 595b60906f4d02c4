"""`callcenter replay`: reconnects inside a capture, bad files, contract output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.unit.ami_frames import CALLER, LID, channel_fields

AGENT = "Local/1001@agents-00000002;1"
BANNER = "Asterisk Call Manager/11.0.0\r\n"


def frame(event: str, **headers: str) -> str:
    lines = [f"Event: {event}"] + [f"{k}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines) + "\r\n\r\n"


def chan(event: str, channel: str, uid: str, **extra: str) -> str:
    return frame(event, **channel_fields(channel, uid, **extra))


def member(event: str, channel: str, uid: str, **extra: str) -> str:
    return chan(
        event,
        channel,
        uid,
        Queue="support",
        MemberName="Alice Agent",
        Interface="Local/1001@agents/n",
        DestChannel=AGENT,
        **extra,
    )


FIRST_CONN = [
    (0.0, BANNER),
    (0.1, chan("Newchannel", CALLER, LID)),
    (1.0, chan("QueueCallerJoin", CALLER, LID, Queue="support", Position="1")),
    (2.0, chan("Newchannel", AGENT, "1700000000.3", Context="agents")),
    (2.0, member("AgentCalled", CALLER, LID)),
    (5.0, member("AgentConnect", CALLER, LID, HoldTime="4", RingTime="3")),
]


def listed(channel: str, uid: str) -> str:
    return frame(
        "CoreShowChannel",
        ActionID="resync-1",
        Channel=channel,
        Uniqueid=uid,
        Linkedid=LID,
        CallerIDNum="15550001",
        CallerIDName="张三",
        Application="AppQueue",
        BridgeId="b-1",
        Duration="00:00:20",
    )


def write_capture(path: Path, second_conn: list[tuple[float, str]]) -> Path:
    rows = [{"t": t, "dir": "in", "conn": 1, "raw": raw} for t, raw in FIRST_CONN]
    rows.append({"t": 6.0, "dir": "meta", "conn": 0, "note": "tcp closed by peer (EOF)"})
    rows += [{"t": t, "dir": "in", "conn": 2, "raw": raw} for t, raw in second_conn]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    return path


def replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "callcenter.cli", "replay", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_call_across_reconnect_is_one_complete_record(tmp_path: Path) -> None:
    capture = write_capture(
        tmp_path / "reconnect.jsonl",
        [
            (20.0, BANNER),
            (20.1, "Response: Success\r\nActionID: resync-1\r\nEventList: start\r\n\r\n"),
            (20.1, listed(CALLER, LID)),
            (20.1, listed(AGENT, "1700000000.3")),
            (20.1, frame("CoreShowChannelsComplete", ActionID="resync-1", ListItems="2")),
            (35.0, chan("Hangup", AGENT, "1700000000.3", Cause="16")),
            (35.0, chan("Hangup", CALLER, LID, Cause="16")),
        ],
    )
    result = replay(str(capture))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["call_id"] == LID
    assert record["caller_name"] == "张三"
    assert record["outcome"] == "answered"
    assert record["agent"] == "Alice Agent"
    assert record["offers"] == [
        {
            "agent": "Alice Agent",
            "interface": "Local/1001@agents/n",
            "ring_seconds": 3.0,
            "result": "answered",
        }
    ]
    assert record["wait_seconds"] == 4.0
    assert record["talk_seconds"] == 30.0
    assert record["ended_at"] == "2026-01-01T00:00:35Z"


def test_call_gone_during_disconnect_ends_at_resync(tmp_path: Path) -> None:
    capture = write_capture(
        tmp_path / "gone.jsonl",
        [
            (20.0, BANNER),
            (20.1, frame("CoreShowChannelsComplete", ActionID="resync-1", ListItems="0")),
        ],
    )
    result = replay(str(capture))
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["outcome"] == "answered"
    assert record["ended_at"] == "2026-01-01T00:00:20.100000Z"
    assert record["talk_seconds"] == 15.1


def test_missing_file_is_a_clear_error() -> None:
    result = replay("/nonexistent/capture.jsonl")
    assert result.returncode == 2
    assert "no such file" in result.stderr
    assert result.stdout == ""


def test_not_a_capture_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not json\n", "utf-8")
    result = replay(str(bad))
    assert result.returncode == 2
    assert "not a capture file" in result.stderr
