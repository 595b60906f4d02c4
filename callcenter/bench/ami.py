"""`callcenter bench ami`: our ingest path against panoramisk's parser, same bytes.

(a) bare panoramisk 1.4 parsing of a large recorded-shape AMI stream;
(b) our full ingest (bytes framing + pre-filter + translate + call tracker, no
database): `Ingest.feed_bytes`, the class and method the live `AmiClient` calls with
every socket read (docs/adr/0066), so this is the path production runs.
Both get the same bytes in the same 4 KiB reads. Also: peak memory of the tracker
holding 10,000 live calls.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

from callcenter.settings import Settings
from telephony.ami.framing import AmiFrameParser
from telephony.ami.panoramisk_baseline import PanoramiskParser
from telephony.ingest import Ingest
from telephony.replay import capture_chunks
from telephony.tracker import CallTracker

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "ami-captures"
READ = 4096


def _stream(copies: int) -> bytes:
    frames: list[bytes] = []
    for path in sorted(CAPTURES.glob("*.jsonl")):
        if "fastagi" in path.name:
            continue
        for conn, _t, data in capture_chunks(path):
            if conn == 1 and not data.startswith(b"Asterisk Call Manager"):
                frames.append(data)
    one = b"".join(frames)
    return b"Asterisk Call Manager/11.0.0\r\n" + one * copies


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + READ] for i in range(0, len(data), READ)]


def _time_panoramisk(chunks: list[bytes]) -> tuple[float, int]:
    parser = PanoramiskParser()
    start = time.perf_counter()
    for chunk in chunks:
        parser.feed(chunk)
    return time.perf_counter() - start, parser.messages


def _time_ours(chunks: list[bytes]) -> tuple[float, int]:
    ingest = Ingest(CallTracker(15.0))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    start = time.perf_counter()
    for chunk in chunks:
        ingest.feed_bytes(chunk, at)
    return time.perf_counter() - start, ingest.events


def _tracker_memory(calls: int) -> float:
    parser = AmiFrameParser(expect_banner=False)
    frames = []
    for n in range(calls):
        lid = f"1700000000.{n}"
        frames.append(
            f"Event: Newchannel\r\nChannel: PJSIP/trunk-{n:08x}\r\nChannelState: 4\r\n"
            f"CallerIDNum: 138{n:08d}\r\nCallerIDName: 客户{n}\r\nContext: inbound\r\n"
            f"Exten: 4008001234\r\nUniqueid: {lid}\r\nLinkedid: {lid}\r\n\r\n"
            f"Event: QueueCallerJoin\r\nChannel: PJSIP/trunk-{n:08x}\r\nUniqueid: {lid}\r\n"
            f"Linkedid: {lid}\r\nQueue: support\r\nPosition: 1\r\nContext: inbound\r\n"
            f"Exten: 4008001234\r\n\r\n"
            f"Event: AgentCalled\r\nChannel: PJSIP/trunk-{n:08x}\r\nUniqueid: {lid}\r\n"
            f"Linkedid: {lid}\r\nQueue: support\r\nMemberName: Agent {n % 500}\r\n"
            f"Interface: PJSIP/{n % 500}\r\nDestChannel: PJSIP/{n % 500}-{n:08x}\r\n\r\n"
        )
    messages = parser.feed("".join(frames).encode())
    gc.collect()
    tracemalloc.start()
    tracker = CallTracker(15.0)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for i, msg in enumerate(messages):
        tracker.handle(msg, at + timedelta(microseconds=i))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(tracker.calls) == calls
    return peak / 1e6


def run(args: argparse.Namespace, settings: Settings) -> int:
    copies = 20 if args.quick else 200
    data = _stream(copies)
    chunks = _chunks(data)
    # warm both paths once, then take the best of three runs each
    _time_panoramisk(chunks[:200])
    _time_ours(chunks[:200])
    pano = min(_time_panoramisk(chunks) for _ in range(3))
    ours = min(_time_ours(chunks) for _ in range(3))
    events = ours[1]
    pano_rate = events / pano[0]
    ours_rate = events / ours[0]
    # the memory figure is always for 10,000 live calls: it takes a second either way
    mem = _tracker_memory(10_000)
    print(f"stream: {len(data) / 1e6:.1f} MB, {events} events, {len(chunks)} reads of {READ} B")
    print(f"(a) panoramisk 1.4 parsing only : {pano_rate:12,.0f} events/s ({pano[1]} messages)")
    print(f"(b) ours: framing+translate+tracker: {ours_rate:12,.0f} events/s")
    print(f"ratio b/a: {ours_rate / pano_rate:.2f}")
    print(f"tracker peak memory with 10,000 live calls: {mem:.1f} MB")
    print(
        json.dumps(
            {
                "bench": "ami",
                "events": events,
                "ours_events_per_s": round(ours_rate),
                "panoramisk_events_per_s": round(pano_rate),
                "ratio": round(ours_rate / pano_rate, 3),
                "tracker_10k_calls_peak_mb": round(mem, 2),
            }
        )
    )
    return 0
