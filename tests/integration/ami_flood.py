"""A raw AMI server that floods its client: recorded call shapes at thousands of
events per second, with malformed and hostile frames interleaved.

The calls are the recordings of a real Asterisk in tests/fixtures/ami-captures/,
byte for byte, except that every copy gets its own ids: Linkedid/Uniqueid, Local
channel counters, bridge ids, caller numbers and names (a Chinese name, so
multi-byte characters cross TCP read boundaries), and per lane its own agents (an
agent talks on one call at a time, as in life). `lanes` calls run at once, their
frames interleaved one by one.

Run as a process of its own, so the reader under test does not share its event
loop (or its GIL) with the generator:

    python -m tests.integration.ami_flood --rate 5000 --seconds 60 --summary out.json

It prints `{"port": N}` when it listens, starts the flood once the client has
logged in and resynced (after its QueueStatus, and once a line on stdin says the
client is ready: its driver sees that, the server cannot), paces frames by the monotonic
clock, and writes a JSON summary when every started call has been sent: what it
sent (events, garbage frames by the class the client must put them in), the
monotonic time each call's last Hangup left, and the achieved rate. It exits when its
stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-captures"
CALLS = Path(__file__).resolve().parents[1] / "fixtures" / "ami-flood-calls.txt"

# recordings with complete calls (queue_status_snapshot starts mid-call, and
# queue_member_management has none)
TEMPLATES = (
    "inbound_answered_fast",
    "inbound_ring_no_answer_then_next",
    "inbound_abandoned",
    "inbound_with_ivr_agi",
    "inbound_ivr_agi_unreachable",
    "mixmonitor_record",
    "transfer_redirect",
    "supervisor_spy",
    "outbound_success",
    "outbound_busy",
    "outbound_no_answer",
    "outbound_congestion_and_invalid",
)

_ID = re.compile(r"\b(\d{10})\.(\d+)\b")
_LOCAL_COUNTER = re.compile(r"-([0-9a-f]{8});")
_UUID = re.compile(r"\b[0-9a-f]{8}(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")
_AGENT_NUMBER = re.compile(r"(?<![\d.])10(0[1-9])(?!\d)")
_AGENT_NAME = re.compile(r"\b(Alice|Bob|Carol|Dave|Erin|Frank|Gus) (Agent|Sales|Temp)\b")
_CALLER = re.compile(r"\b1555(123|777)(\d{4})\b")
_CUSTOMER_NAME = re.compile(r"\b([A-Z][a-z]+) Customer\b")
_SPLIT_ME = " 客".encode()  # in every copied caller's name: "Bruno 客户12号"
_LINKEDID = re.compile(rb"\r\nLinkedid: ([^\r\n]*)")


# call id, direction, caller number, caller name, dialed number, queue, agent,
# outcome, answered, offers ((agent, result), ...)
Recorded = tuple[
    str, str, str, str, str | None, str | None, str | None, str, bool, tuple[tuple[str, str], ...]
]


def recorded_calls() -> dict[str, list[Recorded]]:
    """The calls of each template recording (tests/fixtures/ami-flood-calls.txt)."""
    calls: dict[str, list[Recorded]] = {}
    for line in CALLS.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, call_id, direction, number, caller, dialed, queue, agent, outcome, offers = (
            cell.strip() for cell in line.split(" | ")
        )

        def opt(cell: str) -> str | None:
            return None if cell == "-" else cell

        calls.setdefault(name, []).append(
            (
                call_id,
                direction,
                number if number != "-" else "",
                caller if caller != "-" else "",
                opt(dialed),
                opt(queue),
                opt(agent),
                outcome,
                outcome == "answered",
                tuple(
                    (who, result)
                    for who, _, result in (o.partition("=") for o in offers.split("; "))
                    if offers != "-"
                ),
            )
        )
    return calls


# what depends on the copy and the lane is rendered first as these markers (never
# in AMI text), then filled in for each copy
_MARKERS = (
    "\x01i\x01",
    "\x01h\x01",
    "\x01u\x01",
    "\x01d\x01",
    "\x01n\x01",
    "\x01a\x01",
    "\x01l\x01",
)
_COPY_ID, _COPY_HEX5, _COPY_HEX8, _COPY_DIGITS, _COPY_NUMBER, _LANE_AGENT, _LANE = _MARKERS


def _render(text: str) -> str:
    text = _ID.sub(lambda m: f"{_COPY_ID}.{m.group(2)}", text)
    text = _LOCAL_COUNTER.sub(lambda m: f"-{_COPY_HEX5}{m.group(1)[5:]};", text)
    text = _UUID.sub(lambda m: f"{_COPY_HEX8}{m.group(1)}", text)
    text = _AGENT_NUMBER.sub(lambda m: f"{_LANE_AGENT}{m.group(1)}", text)
    text = _AGENT_NAME.sub(lambda m: f"{m.group(1)} {m.group(2)} {_LANE}", text)
    text = _CALLER.sub(
        lambda m: f"{1 if m.group(1) == '123' else 2}{_COPY_DIGITS}{m.group(2)}", text
    )
    return _CUSTOMER_NAME.sub(lambda m: f"{m.group(1)} 客户{_COPY_NUMBER}号", text)


def _fill(text: bytes, copy: int, lane: int) -> bytes:
    values = (
        f"{1_900_000_000 + copy}",
        f"{copy:05x}",
        f"{copy:08x}",
        f"{copy:06d}",
        f"{copy}",
        f"{20 + lane:02d}",
        f"{lane}",
    )
    for marker, value in zip(_MARKERS, values, strict=True):
        text = text.replace(marker.encode(), value.encode())
    return text


def rewrite(text: str, copy: int, lane: int) -> str:
    """The same text for call copy `copy` on lane `lane`: its own Linkedids and
    Uniqueids, Local channel counters, bridge ids, caller numbers, a Chinese caller
    name, and the lane's own agents (numbers and member names)."""
    return _fill(_render(text).encode(), copy, lane).decode()


@cache
def _rendered(name: str) -> tuple[bytes, tuple[int, ...]]:
    """A template's frames with markers, joined, and which of them are Hangups."""
    frames = template_frames(name)
    hangups = tuple(n for n, f in enumerate(frames) if f.startswith("Event: Hangup\r\n"))
    return "".join(_render(f) for f in frames).encode(), hangups


@cache
def template_frames(name: str) -> tuple[str, ...]:
    """The events a listening AMI client got in the recording (no responses to the
    recording harness's own actions, no list replies, no login chatter)."""
    frames: list[str] = []
    with (CAPTURES / f"{name}.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            raw = rec.get("raw", "")
            if rec.get("dir") != "in" or rec.get("conn") != 1 or not raw.startswith("Event: "):
                continue
            head = raw[7 : raw.index("\r\n")]
            if head in ("FullyBooted", "SuccessfulAuth"):
                continue
            if "\r\nActionID: " in raw and head != "OriginateResponse":
                continue  # a list reply to the harness's action, not broadcast
            frames.append(raw)
    return tuple(frames)


@dataclass(frozen=True, slots=True)
class Garbage:
    kind: str
    data: bytes
    counts_as: str  # "bad" (a malformed frame), "event" (read as an event), "response"


def garbage_frames() -> list[Garbage]:
    """What a broken PBX, a proxy or line noise may put on the wire, each a whole frame."""
    big_name = ("数据" * 40_000).encode()  # 240 kB of 3-byte characters, under 1 MiB
    return [
        Garbage("binary", b"\x00\xff\xfe\x00\x9c garbage without structure\r\n\r\n", "bad"),
        Garbage("prose", b"this is not ami\r\nneither is this line\r\n\r\n", "bad"),
        Garbage("no-keys", b": no key\r\nkey with space: x\r\n\r\n", "bad"),
        Garbage(
            "stray-response",
            b"Response: Success\r\nActionID: nobody-asked\r\nMessage: stray\r\n\r\n",
            "response",
        ),
        Garbage("unknown-event", b"Event: SomethingNew\r\nFoo: \xff\xfe\xfd\r\n\r\n", "event"),
        Garbage(
            "hangup-of-nothing",
            b"Event: Hangup\r\nPrivilege: call,all\r\nChannel: \xe5\xbc\xa0\xff\x00\r\n"
            b"Uniqueid: junk\r\nLinkedid: \xff\xfe\r\nCause: 16\r\n\r\n",
            "event",
        ),
        Garbage("empty-agentconnect", b"Event: AgentConnect\r\n\r\n", "event"),
        Garbage(
            "bare-lf",
            b"Event: VarSet\nPrivilege: dialplan,all\nChannel: none\nVariable: X\nValue: y\n\n",
            "event",
        ),
        Garbage(
            "stale-list-item",
            b"Event: CoreShowChannel\r\nActionID: stale-1\r\nChannel: SIP/gone-0001\r\n\r\n",
            "event",
        ),
        Garbage(
            "huge-value",
            b"Event: UserEvent\r\nUserEvent: big\r\nData: " + big_name + b"\r\n\r\n",
            "event",
        ),
    ]


# larger than the client's 1 MiB frame limit, but under 2 MiB (one overflow each)
OVERSIZED = Garbage("oversized", b"X-Junk: " + b"A" * (1_300_000) + b"\r\n\r\n", "bad")


@dataclass(slots=True)
class CallCopy:
    copy: int
    lane: int
    template: str
    frames: list[tuple[bytes, bytes | None]]  # (frame, Linkedid when it is a Hangup)
    pos: int = 0


@dataclass
class Flood:
    rate: float
    seconds: float
    lanes: int
    garbage_every: int
    tick: float = 0.002
    sent_events: int = 0
    sent_by_kind: dict[str, int] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=lambda: {"bad": 0, "event": 0, "response": 0})
    calls: list[dict[str, object]] = field(default_factory=list)
    hangup_sent: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    stopped_new_calls: float = 0.0
    events_until_stop: int = 0
    other_events: int = 0  # FullyBooted after each login
    split_reads: int = 0  # writes that end inside a multi-byte character
    flooding: bool = False
    replies: list[bytes] = field(default_factory=list)  # answers wait for a frame boundary
    max_write_buffer: int = 0
    _copies: int = 0
    _garbage: list[Garbage] = field(default_factory=garbage_frames)

    def _new_copy(self, lane: int, nth: int) -> CallCopy:
        template = TEMPLATES[(lane + nth) % len(TEMPLATES)]
        self._copies += 1
        copy = self._copies
        joined, hangups = _rendered(template)
        frames: list[tuple[bytes, bytes | None]] = [
            (frame + b"\r\n\r\n", None)
            for frame in _fill(joined, copy, lane).split(b"\r\n\r\n")[:-1]
        ]
        for n in hangups:
            found = _LINKEDID.search(frames[n][0])
            frames[n] = (frames[n][0], found.group(1) if found else None)
        self.calls.append({"copy": copy, "lane": lane, "template": template})
        return CallCopy(copy, lane, template, frames)

    async def run(self, writer: asyncio.StreamWriter) -> None:
        """Send the calls' events at `rate` per second, garbage on top, until `seconds`
        have passed; then finish the calls in progress at the same pace."""
        lanes: list[CallCopy | None] = [self._new_copy(n, 0) for n in range(self.lanes)]
        per_lane = [1] * self.lanes
        oversized_at = {int(self.rate * self.seconds * f) for f in (0.3, 0.7)}
        transport = writer.transport
        self.started = t0 = time.monotonic()
        self.flooding = True
        lane = 0
        carry = b""
        active = self.lanes
        while active or carry:
            now = time.monotonic()
            if not self.stopped_new_calls and now - t0 >= self.seconds:
                self.stopped_new_calls = now
                self.events_until_stop = self.sent_events
            due = int(self.rate * (now - t0)) - self.sent_events
            chunk: list[bytes] = []
            hangups: list[bytes] = []
            while due > 0 and active:
                call = lanes[lane]
                if call is not None:
                    data, hangup = call.frames[call.pos]
                    call.pos += 1
                    chunk.append(data)
                    if hangup is not None:
                        hangups.append(hangup)
                    self.sent_events += 1
                    due -= 1
                    if call.pos == len(call.frames):
                        more = not self.stopped_new_calls
                        lanes[lane] = self._new_copy(lane, per_lane[lane]) if more else None
                        active -= lanes[lane] is None
                        per_lane[lane] += 1
                    if self.sent_events % self.garbage_every == 0:
                        n = self.sent_events // self.garbage_every
                        chunk.append(self._count(self._garbage[n % len(self._garbage)]))
                    if self.sent_events in oversized_at:
                        chunk.append(self._count(OVERSIZED))
                lane = (lane + 1) % self.lanes
            if chunk or carry or self.replies:
                data = carry + b"".join(self.replies) + b"".join(chunk)
                self.replies.clear()
                # cut inside a caller's name (a 3-byte character), preferably the one the
                # queue reports, and send the rest with the next tick: the reader gets the
                # character in two reads
                join = data.rfind(b"Event: QueueCallerJoin\r\n")
                cut = data.find(_SPLIT_ME, join, data.find(b"\r\n\r\n", join)) if join >= 0 else -1
                cut = len(data) if cut < 0 or not chunk else cut + 2
                carry = data[cut:]
                self.split_reads += cut < len(data)
                writer.write(data[:cut])
                stamp = time.monotonic()
                for linkedid in hangups:
                    self.hangup_sent[linkedid.decode()] = stamp
                queued = transport.get_write_buffer_size()
                self.max_write_buffer = max(self.max_write_buffer, queued)
                if queued > 64 << 20:
                    raise ConnectionError("the client stopped reading (64 MiB queued)")
            await asyncio.sleep(self.tick)
        self.flooding = False
        writer.write(b"".join(self.replies))
        self.replies.clear()
        await writer.drain()
        self.finished = time.monotonic()

    def send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        """An answer to the client's action, between two frames of the flood."""
        if self.flooding:
            self.replies.append(data)
        else:
            writer.write(data)

    def _count(self, junk: Garbage) -> bytes:
        self.sent_by_kind[junk.kind] = self.sent_by_kind.get(junk.kind, 0) + 1
        self.expected[junk.counts_as] += 1
        return junk.data

    def summary(self) -> dict[str, object]:
        steady = (self.stopped_new_calls or self.finished) - self.started
        return {
            "rate": self.rate,
            "lanes": self.lanes,
            "sent_events": self.sent_events,
            "other_events": self.other_events,
            "garbage_by_kind": self.sent_by_kind,
            "garbage_expected": self.expected,
            "calls": self.calls,
            "hangup_sent": self.hangup_sent,
            "started": self.started,
            "finished": self.finished,
            "duration": self.finished - self.started,
            "steady_seconds": steady,
            "steady_events_per_s": (self.events_until_stop or self.sent_events) / steady,
            "max_write_buffer": self.max_write_buffer,
            "split_characters": self.split_reads,
        }


def _frames(buf: bytearray) -> list[dict[str, str]]:
    out = []
    while (end := buf.find(b"\r\n\r\n")) >= 0:
        text = bytes(buf[:end]).decode("utf-8", "replace")
        del buf[: end + 4]
        headers = {}
        for line in text.split("\r\n"):
            key, _, value = line.partition(": ")
            headers.setdefault(key, value)
        out.append(headers)
    return out


class FloodServer:
    """One AMI client at a time: login, Ping, the resync lists (empty), then the flood."""

    def __init__(self, flood: Flood, secret: str) -> None:
        self.flood = flood
        self.secret = secret
        self.done = asyncio.Event()
        self.go = asyncio.Event()  # set when the client's driver says it has resynced
        self.error = ""
        self._flooding: asyncio.Task[None] | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        buf = bytearray()
        try:
            while data := await reader.read(65536):
                buf += data
                for action in _frames(buf):
                    self._answer(action, writer)
        except ConnectionError as exc:
            self.error = f"client connection: {exc}"
        finally:
            if self._flooding is not None and not self._flooding.done():
                self.error = self.error or "the client disconnected during the flood"
                self._flooding.cancel()
            self.done.set()

    def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> None:
        name = action.get("Action", "").lower()
        aid = action.get("ActionID", "")
        if name == "login":
            if action.get("Secret") != self.secret:
                self.flood.send(
                    writer,
                    f"Response: Error\r\nActionID: {aid}\r\n"
                    "Message: Authentication failed\r\n\r\n".encode(),
                )
                return
            self.flood.send(
                writer,
                f"Response: Success\r\nActionID: {aid}\r\nMessage: Authentication accepted\r\n\r\n"
                "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 3\r\nLastReload: 3\r\n"
                "Status: Fully Booted\r\n\r\n".encode(),
            )
            self.flood.other_events += 1
        elif name == "ping":
            self.flood.send(
                writer,
                f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n"
                f"Timestamp: {time.time():.6f}\r\n\r\n".encode(),
            )
        elif name in ("coreshowchannels", "queuestatus"):
            complete = (
                "CoreShowChannelsComplete" if name == "coreshowchannels" else "QueueStatusComplete"
            )
            self.flood.send(
                writer,
                f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                f"Message: will follow\r\n\r\nEvent: {complete}\r\nActionID: {aid}\r\n"
                "EventList: Complete\r\nListItems: 0\r\n\r\n".encode(),
            )
            if name == "queuestatus" and self._flooding is None:
                self._flooding = asyncio.create_task(self._flood(writer))
        else:
            self.flood.send(
                writer, f"Response: Success\r\nActionID: {aid}\r\nMessage: ok\r\n\r\n".encode()
            )

    async def _flood(self, writer: asyncio.StreamWriter) -> None:
        await self.go.wait()  # the client has finished its resync
        try:
            await self.flood.run(writer)
        except ConnectionError as exc:
            self.error = str(exc)
            writer.transport.abort()
        self.done.set()


async def _main(args: argparse.Namespace) -> int:
    flood = Flood(args.rate, args.seconds, args.lanes, args.garbage_every)
    server = FloodServer(flood, args.secret)
    for name in TEMPLATES:
        _rendered(name)  # the regular expressions run once per recording, not per copy
    listener = await asyncio.start_server(server.handle, "127.0.0.1", args.port)
    port = listener.sockets[0].getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    loop = asyncio.get_running_loop()

    async def go() -> None:
        await loop.run_in_executor(None, sys.stdin.readline)  # the client is ready
        server.go.set()

    starter = asyncio.create_task(go())
    await server.done.wait()
    await starter
    # the flood writes everything, then waits a moment so the client reads the tail
    with contextlib.suppress(asyncio.CancelledError):
        if server._flooding is not None:
            await server._flooding
    summary = flood.summary()
    summary["error"] = server.error
    Path(args.summary).write_text(json.dumps(summary), encoding="utf-8")
    print(json.dumps({"done": True, "error": server.error}), flush=True)
    # keep the socket open until told to stop: closing it would look like a PBX restart
    await loop.run_in_executor(None, sys.stdin.read)
    listener.close()
    for writer in server._handlers.values():
        writer.close()  # the client sees the PBX go away; our reader sees the end
    await asyncio.gather(*server._handlers, return_exceptions=True)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, default=5000.0, help="frames per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="new calls start this long")
    parser.add_argument("--lanes", type=int, default=40, help="calls in progress at once")
    parser.add_argument("--garbage-every", type=int, default=97, help="one bad frame per N events")
    parser.add_argument("--secret", default="flood-secret")
    parser.add_argument("--summary", required=True)
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
