"""AMI framing over bytes: any split, any line ending, hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telephony.ami.framing import AmiFrameParser, parse_frame, serialize_action

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-captures"

NAME_FRAME = (
    "Event: NewCallerid\r\nChannel: PJSIP/trunk-00000001\r\nCallerIDNum: 13800138000\r\n"
    "CallerIDName: 张三丰\r\nUniqueid: 1700000000.1\r\nLinkedid: 1700000000.1\r\n\r\n"
).encode()
STREAM = b"Asterisk Call Manager/11.0.0\r\n" + NAME_FRAME + b"Event: Hangup\r\nCause: 16\r\n\r\n"


def _heads(msgs: list) -> list[dict[str, str]]:  # type: ignore[type-arg]
    return [m.headers for m in msgs]


def test_banner_and_frames() -> None:
    p = AmiFrameParser()
    msgs = p.feed(STREAM)
    assert p.banner == "Asterisk Call Manager/11.0.0"
    assert [m.event for m in msgs] == ["NewCallerid", "Hangup"]
    assert msgs[0]["CallerIDName"] == "张三丰"


def test_chinese_name_survives_every_split_offset() -> None:
    whole = _heads(AmiFrameParser().feed(STREAM))
    for cut in range(1, len(STREAM)):
        p = AmiFrameParser()
        got = p.feed(STREAM[:cut]) + p.feed(STREAM[cut:])
        assert _heads(got) == whole, cut
        assert p.errors == 0


def test_byte_at_a_time_and_bare_newlines() -> None:
    stream = STREAM.replace(b"\r\n", b"\n")
    p = AmiFrameParser()
    got = []
    for i in range(len(stream)):
        got += p.feed(stream[i : i + 1])
    assert _heads(got) == _heads(AmiFrameParser().feed(STREAM))


def test_garbage_and_truncated_frames_are_skipped() -> None:
    p = AmiFrameParser(expect_banner=False)
    noise = bytes(range(256)).replace(b"\n", b"").replace(b":", b"") * 4
    got = p.feed(noise + b"\r\n\r\n" + b"no colon here\r\n\r\n" + NAME_FRAME)
    assert [m.event for m in got] == ["NewCallerid"]
    assert p.errors == 2


def test_one_megabyte_frame_is_discarded_and_stream_resyncs() -> None:
    p = AmiFrameParser(expect_banner=False, max_frame=1 << 20)
    huge = b"Event: Flood\r\nData: " + b"x" * (1 << 20) + b"\r\n"
    got = p.feed(huge[: len(huge) // 2])
    got += p.feed(huge[len(huge) // 2 :] + b"\r\n" + NAME_FRAME)
    assert [m.event for m in got] == ["NewCallerid"]
    assert p.errors >= 1


def test_header_line_without_colon_inside_a_frame() -> None:
    msg = parse_frame("Event: Odd\r\nthis line has no colon\r\nQueue: support")
    assert msg is not None
    assert msg.headers == {"Event": "Odd", "Queue": "support"}


def test_repeated_headers_kept() -> None:
    msg = parse_frame("Event: Status\r\nVariable: A=1\r\nVariable: B=2")
    assert msg is not None
    assert msg.getall("Variable") == ["A=1", "B=2"]
    assert msg.get("variable") == "A=1"


def test_serialize_refuses_header_injection() -> None:
    assert serialize_action({"Action": "Ping"}) == b"Action: Ping\r\n\r\n"
    with pytest.raises(ValueError, match="line break"):
        serialize_action({"Action": "Originate", "CallerID": "x\r\nAction: Hangup"})


@pytest.mark.parametrize("name", ["inbound_with_ivr_agi.jsonl", "transfer_redirect.jsonl"])
def test_capture_stream_split_everywhere_gives_same_frames(name: str) -> None:
    stream = b"".join(
        json.loads(line)["raw"].encode()
        for line in (CAPTURES / name).read_text(encoding="utf-8").splitlines()
        if json.loads(line)["dir"] == "in" and json.loads(line)["conn"] == 1
    )
    whole = _heads(AmiFrameParser().feed(stream))
    assert len(whole) > 100
    # ~150 cut points over a long recording (every offset is covered by the replay tests)
    step = max(1, len(stream) // 151)
    for cut in range(1, len(stream), step):
        p = AmiFrameParser()
        assert _heads(p.feed(stream[:cut]) + p.feed(stream[cut:])) == whole


def test_hostile_frames_in_a_live_stream_lose_no_call_record() -> None:
    from datetime import UTC, datetime

    from crm_core.domain.events import CallEnded
    from telephony.ingest import Ingest
    from telephony.tracker import CallTracker

    rows = [
        json.loads(line)
        for line in (CAPTURES / "inbound_answered_fast.jsonl").read_text("utf-8").splitlines()
    ]
    frames = [r["raw"].encode() for r in rows if r["dir"] == "in" and r["conn"] == 1]
    hostile = [
        b"Event: Flood\r\nData: " + b"x" * (1 << 20) + b"\r\n\r\n",  # 1 MiB: dropped
        bytes(range(1, 256)).replace(b"\n", b"").replace(b":", b"") + b"\r\n\r\n",  # noise
        b"Event: Newchannel\r\nno colon on this line\r\nChannel: X/1\r\n\r\n",
        b"Event: BrandNewEvent2030\r\nFoo: bar\r\n\r\n",
        b"Response: Success\r\nActionID: nobody-asked-this\r\nMessage: hi\r\n\r\n",
    ]
    at = datetime(2026, 1, 1, tzinfo=UTC)

    def records(stream: list[bytes]) -> list[dict[str, object]]:
        ingest = Ingest(CallTracker(15.0))
        out = []
        for chunk in stream:
            out += [
                e.record.to_contract()
                for e in ingest.feed_bytes(chunk, at)
                if isinstance(e, CallEnded)
            ]
        return out

    clean = records(frames)
    assert len(clean) == 1
    # banner first, then hostile frames between every few real ones
    mixed = [frames[0]]
    for i, f in enumerate(frames[1:]):
        if i % 7 == 0:
            mixed.append(hostile[(i // 7) % len(hostile)])
        mixed.append(f)
    assert records(mixed) == clean
