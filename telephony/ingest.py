"""The hot path in one line: AMI bytes → frames → domain events.

`Ingest` owns the framing, the pre-filter, translation and the call tracker of one
PBX. `Ingest.feed_bytes` is the one method every reader calls with each chunk read
from the socket: the live AMI client (`serve`, `demo`, `watch`), `callcenter replay`
and `callcenter bench ami` (docs/adr/0066). Frames that answer an action are handed
to `answers` (the client's transport: responses, list items, originate results);
everything else goes to the tracker. The PBX's answers at a resync come in through
`resync`, and the records of calls that ended while nobody read through `finish_gap`
and `recover_unseen`: the transport asks, the ingest decides. Nothing here waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_core.domain.events import DomainEvent
from crm_core.domain.models import PbxLeg
from telephony.ami.framing import AmiFrameParser, AmiMessage
from telephony.tracker import CallTracker

log = logging.getLogger(__name__)

# takes a frame that answers an action (True: it was the transport's, the tracker
# does not see it)
Answers = Callable[[AmiMessage], bool]


def is_response(msg: AmiMessage) -> bool:
    """A Response frame (OriginateResponse events carry Response too, and are events)."""
    h = msg.headers
    return "Response" in h and "Event" not in h


@dataclass(slots=True)
class ChannelTimes:
    """Exact times of live legs by Uniqueid, read from their CDRs at a resync."""

    answers: dict[str, datetime] = field(default_factory=dict)
    starts: dict[str, datetime] = field(default_factory=dict)
    queued: dict[str, datetime] = field(default_factory=dict)


class Ingest:
    def __init__(
        self,
        tracker: CallTracker,
        *,
        max_frame: int = 1 << 20,
        answers: Answers = is_response,
    ) -> None:
        self.tracker = tracker
        self.parser = AmiFrameParser(max_frame=max_frame)
        self.max_frame = max_frame
        self.answers = answers
        # events read (dialplan noise included; not the frames that answer our actions)
        self.events = 0
        self.bad_frames = 0  # malformed or oversized frames skipped
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
        """One read from the socket → the domain events it completes."""
        out: list[DomainEvent] = []
        parser = self.parser
        parse = parser.parse
        handle = self.tracker.handle
        wanted = self.tracker.wanted_events
        errors = parser.errors
        for raw in parser.feed_frames(data):
            if raw.startswith(b"Event: ") and b"ActionID:" not in raw:
                # an unsolicited event: most of the stream is dialplan noise (Newexten,
                # VarSet) the tracker ignores, skipped unparsed
                eol = raw.find(b"\n", 7)
                name = raw[7:eol].rstrip(b"\r") if eol > 0 else raw[7:]
                if name not in wanted or (
                    name == b"VarSet" and b"Variable: CC_" not in raw and b"MIXMONITOR" not in raw
                ):
                    self.events += 1
                    continue
                msg = parse(raw)
                if msg is None:
                    continue
            else:
                # a response, or an event answering an action (list item, originate result)
                msg = parse(raw)
                if msg is None:
                    continue
                if self._resync_items is not None and msg.headers.get("Event", "").startswith(
                    "CoreShowChannel"
                ):
                    out.extend(self._resync_frame(msg, at))
                    continue
                if self.answers(msg):
                    continue
            self.events += 1
            try:
                out.extend(handle(msg, at))
            except Exception:  # a bad event must never stop the stream
                log.exception(
                    "AMI %s: handling %s failed; continuing",
                    self.tracker.pbx,
                    msg.headers.get("Event"),
                )
        if parser.errors != errors:
            self.bad_frames += parser.errors - errors
        return out

    # --- the PBX's answers at a resync ------------------------------------------------------
    def times_wanted(self, channels: Sequence[AmiMessage]) -> list[tuple[str, str, str]]:
        """(Uniqueid, channel, CDR variable) the resync needs to know exactly.

        CoreShowChannels tells who is bridged, not since when, and gives ages in whole
        seconds; each leg's CDR has the exact times (`CDR(answer,u)`, `CDR(start,u)`,
        epoch with microseconds; `CDR(cc_queued)` set by the dialplan on entering the
        queue). Asked for bridged legs of calls not known as answered (docs/adr/0043)
        and for every leg of calls we never saw (a takeover, docs/adr/0058).
        """
        asks: list[tuple[str, str, str]] = []
        calls = self.tracker.calls
        for item in channels:
            h = item.headers
            lid, uid, name = h.get("Linkedid"), h.get("Uniqueid"), h.get("Channel")
            if not uid or not name:
                continue
            call = calls.get(lid or "")
            if call is None:
                asks.append((uid, name, "CDR(start,u)"))
                if uid == lid:
                    asks.append((uid, name, "CDR(cc_queued)"))
            if h.get("BridgeId") and uid != lid and (call is None or call.answered_at is None):
                asks.append((uid, name, "CDR(answer,u)"))
        return asks

    def resync(
        self,
        channels: Sequence[AmiMessage],
        at: datetime,
        *,
        members: Sequence[AmiMessage] | None = None,
        times: ChannelTimes | None = None,
        asked_at: datetime | None = None,
    ) -> list[DomainEvent]:
        """Reconcile the tracker with CoreShowChannels (and QueueStatus) answers.

        Never raises: a reduction that fails is logged, and the stream goes on.
        """
        tracker = self.tracker
        out: list[DomainEvent] = []
        try:
            if members is not None:
                for item in members:  # members first: resync names agents by interface
                    out += tracker.handle(item, at)
                out += tracker.resync_queues(members, at)
            out += tracker.resync(
                channels,
                at,
                times.answers if times else None,
                asked_at,
                starts=times.starts if times else None,
                queued=times.queued if times else None,
            )
        except Exception:
            log.exception("AMI %s: the resync failed; continuing", tracker.pbx)
        return out

    def gap_calls(self) -> list[str]:
        """Linkedids of calls whose channels vanished while nobody read (docs/adr/0043)."""
        return list(self.tracker.gap_ended)

    def finish_gap(
        self, legs: Mapping[str, list[PbxLeg]], at: datetime, *, final: bool = True
    ) -> list[DomainEvent]:
        return self.tracker.finish_gap(legs, at, final=final)

    def recover_unseen(
        self, legs: Mapping[str, list[PbxLeg]], before: datetime | None = None
    ) -> list[DomainEvent]:
        return self.tracker.recover_unseen(legs, before=before)

    def _resync_frame(self, msg: AmiMessage, at: datetime) -> list[DomainEvent]:
        items = self._resync_items
        assert items is not None
        name = msg.headers.get("Event")
        if name == "CoreShowChannel":
            items.append(msg)
            return []
        if name == "CoreShowChannelsComplete":
            self._resync_items = None
            # a capture has no CDRs: calls gone in the gap end with what was seen
            return self.resync(items, at) + self.finish_gap({}, at)
        return []
