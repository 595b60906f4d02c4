"""The hot path in one line: AMI bytes → frames → domain events.

`Ingest.feed_bytes` is what the AMI client, `replay`, `watch` and the benchmark
call with each chunk read from the socket. Nothing here waits for anything.
"""

from __future__ import annotations

from datetime import datetime

from crm_core.domain.events import DomainEvent
from telephony.ami.framing import AmiFrameParser, AmiMessage
from telephony.tracker import CallTracker


class Ingest:
    def __init__(self, tracker: CallTracker, *, max_frame: int = 1 << 20) -> None:
        self.tracker = tracker
        self.parser = AmiFrameParser(max_frame=max_frame)
        self.max_frame = max_frame
        self.events = 0
        # CoreShowChannel items collected after a reconnect, until the list completes
        self._resync_items: list[AmiMessage] | None = None

    def new_connection(self, *, resync_from_stream: bool = False) -> None:
        """A fresh socket starts with a banner and no partial frame.

        With `resync_from_stream` (replay of a capture with reconnects) the
        CoreShowChannels list found in the new connection's stream resyncs the
        tracker, as the live client does with its own action (docs/adr/0006).
        """
        self.parser = AmiFrameParser(max_frame=self.max_frame)
        self._resync_items = [] if resync_from_stream else None

    def feed_bytes(self, data: bytes, at: datetime) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        handle = self.tracker.handle
        wanted = self.tracker.wanted_events
        parse = self.parser.parse
        for raw in self.parser.feed_frames(data):
            if not raw.startswith(b"Event: "):
                continue  # responses belong to whoever sent the action
            self.events += 1
            # most of the stream is dialplan noise (Newexten, VarSet): skip it unparsed
            eol = raw.find(b"\n", 7)
            name = raw[7:eol].rstrip(b"\r") if eol > 0 else raw[7:]
            if self._resync_items is not None and name.startswith(b"CoreShowChannel"):
                out.extend(self._resync_frame(name, raw, at))
                continue
            if name not in wanted:
                continue
            if name == b"VarSet" and b"Variable: CC_" not in raw and b"MIXMONITOR" not in raw:
                continue
            msg = parse(raw)
            if msg is not None:
                out.extend(handle(msg, at))
        return out

    def _resync_frame(self, name: bytes, raw: bytes, at: datetime) -> list[DomainEvent]:
        items = self._resync_items
        assert items is not None
        if name == b"CoreShowChannel":
            msg = self.parser.parse(raw)
            if msg is not None:
                items.append(msg)
            return []
        if name == b"CoreShowChannelsComplete":
            self._resync_items = None
            # a capture has no CDRs: calls gone in the gap end with what was seen
            return self.tracker.resync(items, at) + self.tracker.finish_gap({}, at)
        return []

    def feed_messages(self, messages: list[AmiMessage], at: datetime) -> list[DomainEvent]:
        out: list[DomainEvent] = []
        for msg in messages:
            if "Event" in msg.headers:
                self.events += 1
                out.extend(self.tracker.handle(msg, at))
        return out
