"""The call tracker: a pure reducer from AMI messages to domain events and call records.

Calls are keyed by Asterisk's Linkedid; a call ends when its last channel hangs up.
Correlation rules learned from the recordings (ami-captures/README.md):
- Local channel pairs (`;1`/`;2`) share the Linkedid: we count calls by Linkedid and
  offers by `AgentCalled` (which names only the `;1` half), so nothing is counted twice.
- `AgentConnect` RingTime is in seconds, `AgentRingNoAnswer` RingTime in milliseconds;
  we measure ring time from our own timestamps and use RingTime only as a floor.
- `AgentComplete` may come after both hang-ups and without caller fields: it is not
  needed to finish a record (talk ends at hang-up), so a late one is ignored.
- A caller who hangs up while an agent rings gives no `AgentRingNoAnswer`: the open
  offer ends as `caller_hung_up`.
- After a reconnect, `resync()` takes the live channels (CoreShowChannels) so a call
  that was in progress across the gap still ends as one record (docs/adr/0006).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from crm_core.domain.events import (
    AgentMissedCall,
    AgentRingEnded,
    AgentRingStarted,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallerIdentified,
    CallHeld,
    CallOffered,
    CallResumed,
    CallStarted,
    CallTransferred,
    DomainEvent,
    IvrStepTaken,
    RecordingStarted,
)
from crm_core.domain.models import (
    CallOutcome,
    CallRecord,
    Direction,
    IvrStep,
    Offer,
    OfferResult,
    pbx_call_id,
)
from telephony import translate
from telephony.ami.framing import AmiMessage

_UNKNOWN = ("", "<unknown>", "unknown")
# Asterisk's stand-in channel when an Originate with a context fails (busy, no answer):
# it runs the context's `failed` exten and hangs up. Not a call: the dialer's own leg
# already carries the attempt (its OriginateResponse and DialEnd say why).
SPOOL_FAILED = "OutgoingSpoolFailed"
_REJECTING = frozenset({"BUSY", "CHANUNAVAIL", "CONGESTION"})


class _Offer:
    __slots__ = ("agent", "channel", "ended", "interface", "queue", "result", "ring", "started")

    def __init__(
        self, agent: str | None, interface: str, queue: str | None, channel: str, at: datetime
    ) -> None:
        self.agent = agent
        self.interface = interface
        self.queue = queue
        self.channel = channel
        self.started = at
        self.ended: datetime | None = None
        self.ring = 0.0
        self.result = OfferResult.NO_ANSWER

    def close(self, at: datetime, result: OfferResult, floor: float = 0.0) -> None:
        self.ended = at
        self.ring = max((at - self.started).total_seconds(), floor)
        self.result = result

    def domain(self) -> Offer:
        return Offer(
            agent=self.agent,
            interface=self.interface,
            queue=self.queue,
            ring_started_at=self.started,
            ring_ended_at=self.ended,
            ring_seconds=round(self.ring, 3),
            result=self.result,
        )


class _Call:
    __slots__ = (
        "abandoned",
        "agent",
        "agent_interface",
        "answered_at",
        "call_id",
        "caller_channel",
        "caller_name",
        "caller_number",
        "campaign_id",
        "channels",
        "customer_id",
        "dialed_number",
        "dialer_abandoned",
        "hold_seconds",
        "hold_started",
        "inbound_ctx",
        "internal",
        "ivr_path",
        "legs",
        "linkedid",
        "offers",
        "originate_failure",
        "originated",
        "queue",
        "queue_joined",
        "queued",
        "recording",
        "started_at",
        "transferred_to",
        "up",
        "wait_seconds",
    )

    def __init__(self, linkedid: str, at: datetime, call_id: str) -> None:
        self.linkedid = linkedid
        self.call_id = call_id  # the record's id (pbx_call_id)
        self.started_at = at
        self.channels: dict[str, str] = {}  # uniqueid -> channel name
        self.caller_channel: str | None = None
        self.caller_number = ""
        self.caller_name = ""
        self.dialed_number: str | None = None
        self.queue: str | None = None
        self.queue_joined: datetime | None = None
        self.queued = False
        self.offers: list[_Offer] = []
        self.answered_at: datetime | None = None
        self.agent: str | None = None
        self.agent_interface: str | None = None
        self.wait_seconds = 0.0
        self.abandoned = False
        self.hold_started: datetime | None = None
        self.hold_seconds = 0.0
        self.transferred_to: str | None = None
        self.recording: str | None = None
        self.customer_id: int | None = None
        self.campaign_id: int | None = None
        self.dialer_abandoned = False  # a campaign call answered with no agent to take it
        self.ivr_path: list[IvrStep] = []
        self.originated = False
        self.originate_failure: int | None = None
        # every channel dialled (not queue offers): channel -> [exten, status, answered at]
        self.legs: dict[str, list[object]] = {}
        self.up = False  # the first channel was answered (by IVR, queue or far end)
        self.inbound_ctx = False
        self.internal = False  # a supervisor's spy call: not a customer call

    def open_offer(self, channel: str | None = None, interface: str | None = None) -> _Offer | None:
        for offer in reversed(self.offers):
            if offer.ended is None and (
                (channel and offer.channel == channel)
                or (interface and offer.interface == interface)
            ):
                return offer
        return None


class CallTracker:
    def __init__(
        self,
        ring_limit_seconds: float = 15.0,
        *,
        pbx: str = "default",
        abandon_threshold_seconds: float = 5.0,
        callback_window: timedelta = timedelta(minutes=30),
        inbound_contexts: Iterable[str] = ("inbound", "from-trunk", "from-pstn", "from-external"),
    ) -> None:
        self.ring_limit = ring_limit_seconds
        self.pbx = pbx
        self.abandon_threshold = abandon_threshold_seconds
        self.callback_window = callback_window
        self.inbound_contexts = frozenset(inbound_contexts)
        self.calls: dict[str, _Call] = {}
        self._channel_call: dict[str, str] = {}  # uniqueid -> linkedid
        self.members: dict[str, str] = {}  # interface base -> MemberName
        self.agents: dict[str, AgentStateSnapshot] = {}
        self._dispatch: dict[str, Callable[[AmiMessage, datetime, list[DomainEvent]], None]] = {
            "Newchannel": self._newchannel,
            "NewCallerid": self._newcallerid,
            "Newstate": self._newstate,
            "Hangup": self._hangup,
            "QueueCallerJoin": self._queue_join,
            "AgentCalled": self._agent_called,
            "AgentConnect": self._agent_connect,
            "AgentRingNoAnswer": self._agent_rna,
            "QueueCallerAbandon": self._abandon,
            "DialBegin": self._dial_begin,
            "DialEnd": self._dial_end,
            "VarSet": self._varset,
            "MusicOnHoldStart": self._hold_start,
            "Hold": self._hold_start,
            "MusicOnHoldStop": self._hold_stop,
            "Unhold": self._hold_stop,
            "BlindTransfer": self._blind_transfer,
            "AttendedTransfer": self._attended_transfer,
            "OriginateResponse": self._originate_response,
            "ChanSpyStart": self._spy,
            "ChanSpyStop": self._spy,
        }
        for name in translate.MEMBER_EVENTS:
            self._dispatch[name] = self._member
        # the event names (as bytes) worth parsing at all: the ingest skips the rest unparsed
        self.wanted_events = frozenset(name.encode() for name in self._dispatch)

    # --- public ---------------------------------------------------------------------------
    def handle(self, msg: AmiMessage, at: datetime) -> list[DomainEvent]:
        name = msg.headers.get("Event")
        if name is None:
            return []
        handler = self._dispatch.get(name)
        if handler is None:
            return []
        out: list[DomainEvent] = []
        handler(msg, at, out)
        return out

    def knows_channel(self, channel: str) -> bool:
        """Is `channel` (a name) part of a call this tracker follows? (PBX routing)"""
        return any(
            channel == call.caller_channel
            or channel in call.legs
            or channel in call.channels.values()
            or any(o.channel == channel for o in call.offers)
            for call in self.calls.values()
        )

    def live_calls(self) -> list[dict[str, object]]:
        result: list[dict[str, object]] = []
        for call in self.calls.values():
            ringing = [o.agent for o in call.offers if o.ended is None]
            result.append(
                {
                    "call_id": call.call_id,
                    "caller_number": call.caller_number,
                    "caller_name": call.caller_name,
                    "queue": call.queue,
                    "agent": call.agent,
                    "started_at": call.started_at.isoformat(),
                    "queue_joined_at": call.queue_joined.isoformat() if call.queue_joined else None,
                    "answered_at": call.answered_at.isoformat() if call.answered_at else None,
                    "ringing": ringing,
                    "state": "talking"
                    if call.answered_at
                    else "ringing"
                    if ringing
                    else "waiting"
                    if call.queued
                    else "starting",
                }
            )
        return result

    def snapshot(self) -> dict[str, list[dict[str, object]]]:
        """Live calls and the last known state of every queue member (console, wallboard)."""
        agents: list[dict[str, object]] = []
        for snap in self.agents.values():
            event = snap.event
            if isinstance(event, AgentStateChanged):
                agents.append(
                    {
                        "agent": event.agent,
                        "interface": event.interface,
                        "queue": event.queue,
                        "status": event.status.value,
                        "paused": event.paused,
                        "pause_reason": event.pause_reason,
                        "in_call": event.in_call,
                        "at": event.at.isoformat(),
                    }
                )
        return {"calls": self.live_calls(), "agents": agents}

    # --- resync after a reconnect -------------------------------------------------------------
    def resync(self, channels: Iterable[AmiMessage], at: datetime) -> list[DomainEvent]:
        """Reconcile with the PBX's live channels (CoreShowChannel list items).

        Calls we tracked whose channels are all gone ended while we were away: they are
        finished now with what we know. Channels we did not know are adopted.
        """
        out: list[DomainEvent] = []
        live: dict[str, dict[str, str]] = {}
        adopted: set[str] = set()
        # the caller's channel is the one whose Uniqueid is the Linkedid: take it first
        items = sorted(
            channels, key=lambda m: m.headers.get("Uniqueid") != m.headers.get("Linkedid")
        )
        for item in items:
            h = item.headers
            linkedid = h.get("Linkedid") or h.get("Uniqueid")
            uniqueid = h.get("Uniqueid")
            if not linkedid or not uniqueid or h.get("Channel") == SPOOL_FAILED:
                continue
            live.setdefault(linkedid, {})[uniqueid] = h.get("Channel", "")
            if linkedid in adopted and self._is_agent_channel(h.get("Channel", "")):
                call = self.calls[linkedid]
                if call.agent is None:  # the member channel bridged to the caller
                    call.agent = self.members.get(translate.channel_base(h.get("Channel", "")))
                    call.agent_interface = _interface_of(h.get("Channel", ""))
                    call.queued = call.queued or call.queue is not None
            if linkedid not in self.calls:
                adopted.add(linkedid)
                try:
                    age = float(h.get("Duration", "0").split(":")[-1] or 0)
                except ValueError:
                    age = 0.0
                hms = h.get("Duration", "")
                if hms.count(":") == 2:
                    hh, mm, ss = hms.split(":")
                    age = int(hh) * 3600 + int(mm) * 60 + int(ss)
                call = _Call(linkedid, at - timedelta(seconds=age), pbx_call_id(self.pbx, linkedid))
                self.calls[linkedid] = call
                number = h.get("CallerIDNum", "")
                if number not in _UNKNOWN:
                    call.caller_number = number
                    call.caller_name = _clean(h.get("CallerIDName", ""))
                call.caller_channel = h.get("Channel")
                if h.get("Application") == "Queue":
                    call.queued = True
                    call.queue = h.get("ApplicationData", "").split(",")[0] or None
                    call.queue_joined = call.started_at
                if h.get("BridgeId"):  # bridged: talking (a queue caller stays in Queue())
                    call.answered_at = at
        for linkedid, call in list(self.calls.items()):
            still = live.get(linkedid, {})
            for uniqueid in list(call.channels):
                if uniqueid not in still:
                    self._channel_call.pop(uniqueid, None)
            call.channels = dict(still)
            for uniqueid in still:
                self._channel_call[uniqueid] = linkedid
            if not still:
                self._finish(call, at, out)
        return out

    # --- handlers -------------------------------------------------------------------------------
    def _call_of(self, msg: AmiMessage) -> _Call | None:
        h = msg.headers
        linkedid = h.get("Linkedid")
        if linkedid:
            return self.calls.get(linkedid)
        uniqueid = h.get("Uniqueid")
        if uniqueid:
            lid = self._channel_call.get(uniqueid)
            if lid:
                return self.calls.get(lid)
        return None

    def _newchannel(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        linkedid = h.get("Linkedid") or h.get("Uniqueid", "")
        uniqueid = h.get("Uniqueid", "")
        if not linkedid or h.get("Channel") == SPOOL_FAILED:
            return
        call = self.calls.get(linkedid)
        if call is None:
            call = _Call(linkedid, at, pbx_call_id(self.pbx, linkedid))
            self.calls[linkedid] = call
            call.caller_channel = h.get("Channel")
        call.channels[uniqueid] = h.get("Channel", "")
        self._channel_call[uniqueid] = linkedid
        if call.caller_channel == h.get("Channel"):
            self._set_caller(call, h.get("CallerIDNum", ""), h.get("CallerIDName", ""))
            if h.get("Context") in self.inbound_contexts:
                call.inbound_ctx = True
                call.dialed_number = h.get("Exten") or None
        if len(call.channels) == 1:
            out.append(
                CallStarted(
                    at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    direction=Direction.INBOUND,
                    caller_number=call.caller_number,
                    caller_name=call.caller_name,
                    dialed_number=call.dialed_number,
                )
            )

    def _set_caller(self, call: _Call, number: str, name: str) -> None:
        if number not in _UNKNOWN:
            call.caller_number = number
        if name not in _UNKNOWN:
            call.caller_name = _clean(name)

    def _newcallerid(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is not None and msg.headers.get("Channel") == call.caller_channel:
            self._set_caller(call, msg.get("CallerIDNum"), msg.get("CallerIDName"))

    def _hangup(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        uniqueid = h.get("Uniqueid", "")
        linkedid = self._channel_call.pop(uniqueid, None) or h.get("Linkedid")
        call = self.calls.get(linkedid) if linkedid else None
        if call is None:
            return
        call.channels.pop(uniqueid, None)
        if not call.channels:
            self._finish(call, at, out)

    def _queue_join(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        queue = msg.get("Queue")
        if call.answered_at is not None:  # redirected into another queue: a transfer
            call.transferred_to = queue
            out.append(
                CallTransferred(
                    at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    from_agent=call.agent,
                    target=queue,
                    kind="redirect",
                )
            )
        else:
            if not call.queued:
                call.queue = queue
                call.queue_joined = at
                # the number the caller dialled: the exten running the inbound context
                inbound = msg.get("Context") in self.inbound_contexts
                call.dialed_number = msg.get("Exten") or None if inbound else None
            call.queued = True
        self._set_caller(call, msg.get("CallerIDNum"), msg.get("CallerIDName"))
        try:
            position = int(msg.get("Position", "0"))
        except ValueError:
            position = 0
        out.append(
            CallOffered(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=queue,
                position=position,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
            )
        )

    def _agent_called(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        interface = h.get("Interface", "")
        member = h.get("MemberName")
        if member:
            self.members[translate.interface_base(interface)] = member
        offer = _Offer(member, interface, h.get("Queue"), h.get("DestChannel", ""), at)
        call.offers.append(offer)
        out.append(
            AgentRingStarted(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=h.get("Queue"),
                agent=member,
                interface=interface,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                customer_id=call.customer_id,
                campaign_id=call.campaign_id,
                caller_channel=call.caller_channel,
                agent_channel=h.get("DestChannel") or None,
            )
        )

    def _agent_connect(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        offer = call.open_offer(h.get("DestChannel"), h.get("Interface"))
        floor = _float(h.get("RingTime"))
        if offer is not None:
            offer.close(at, OfferResult.ANSWERED, floor)
            self._ring_ended(call, offer, out)
        for other in call.offers:  # ringall: the others stop ringing
            if other.ended is None:
                other.close(at, OfferResult.NO_ANSWER)
                self._ring_ended(call, other, out)
        if call.answered_at is None:
            call.answered_at = at
            call.agent = h.get("MemberName")
            call.agent_interface = h.get("Interface")
            if call.queue_joined is not None:
                call.wait_seconds = (at - call.queue_joined).total_seconds()
            out.append(
                CallAnswered(
                    at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    queue=h.get("Queue"),
                    agent=call.agent,
                    interface=call.agent_interface,
                    wait_seconds=round(call.wait_seconds, 3),
                    ring_seconds=round(offer.ring, 3) if offer else floor,
                    caller_channel=call.caller_channel,
                    agent_channel=h.get("DestChannel") or None,
                )
            )

    def _agent_rna(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        offer = call.open_offer(h.get("DestChannel"), h.get("Interface"))
        if offer is None:
            return
        ring_ms = _float(h.get("RingTime"))
        ring = ring_ms / 1000.0 if ring_ms else (at - offer.started).total_seconds()
        offer.ended = at
        offer.ring = ring
        offer.result = OfferResult.NO_ANSWER
        self._ring_ended(call, offer, out)
        out.append(
            AgentMissedCall(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=offer.queue,
                agent=offer.agent,
                interface=offer.interface,
                ring_seconds=round(ring, 3),
            )
        )

    def _ring_ended(self, call: _Call, offer: _Offer, out: list[DomainEvent]) -> None:
        assert offer.ended is not None
        out.append(
            AgentRingEnded(
                at=offer.ended,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=offer.queue,
                agent=offer.agent,
                interface=offer.interface,
                ring_seconds=round(offer.ring, 3),
                result=offer.result,
            )
        )

    def _abandon(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or call.answered_at is not None:
            return
        call.abandoned = True
        if call.queue_joined is not None:
            call.wait_seconds = (at - call.queue_joined).total_seconds()
        self._caller_gone(call, at, out)
        try:
            position: int | None = int(msg.get("Position", ""))
        except ValueError:
            position = None
        out.append(
            CallAbandoned(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=msg.get("Queue") or call.queue,
                caller_number=call.caller_number,
                wait_seconds=round(call.wait_seconds, 3),
                position=position,
            )
        )

    def _caller_gone(self, call: _Call, at: datetime, out: list[DomainEvent]) -> None:
        for offer in call.offers:
            if offer.ended is None:
                offer.close(at, OfferResult.CALLER_HUNG_UP)
                self._ring_ended(call, offer, out)

    def _newstate(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        if h.get("ChannelState") != "6":
            return
        call = self._call_of(msg)
        if call is not None and h.get("Channel") == call.caller_channel:
            call.up = True

    def _dial_begin(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        dest = h.get("DestChannel", "")
        call = self.calls.get(h.get("DestLinkedid", "")) or self._call_of(msg)
        if call is None or not dest or call.open_offer(dest) is not None:
            return
        if "Channel" not in h and dest == call.caller_channel:
            call.originated = True  # an Originate placed this call
        exten = h.get("DestExten", "")
        if not exten or exten in ("s", "<unknown>"):
            exten = _number_of(dest) or ""
        call.legs.setdefault(dest, [exten, None, None])

    def _dial_end(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        dest = h.get("DestChannel", "")
        call = self.calls.get(h.get("DestLinkedid", "")) or self._call_of(msg)
        if call is None:
            return
        status = h.get("DialStatus", "")
        leg = call.legs.get(dest)
        if leg is not None and leg[1] != "ANSWER" and not (status == "CANCEL" and leg[1]):
            leg[1] = status
            if status == "ANSWER":
                leg[2] = at
        if status in _REJECTING:
            offer = call.open_offer(dest)
            if offer is not None:
                offer.close(at, OfferResult.REJECTED)
                self._ring_ended(call, offer, out)

    def _varset(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        var = h.get("Variable", "")
        if not var.startswith(("CC_", "MIXMONITOR_FILENAME")):
            return
        call = self._call_of(msg)
        if call is None:
            return
        value = h.get("Value", "")
        if var == "CC_CUSTOMER_ID":
            call.customer_id = int(value) if value.isascii() and value.isdigit() else None
            out.append(
                CallerIdentified(
                    at=at, pbx=self.pbx, call_id=call.call_id, customer_id=call.customer_id
                )
            )
        elif var == "CC_IVR_STEP" and value:
            flow, _, rest = value.partition(":")
            step, _, given = rest.partition(":")
            call.ivr_path.append(IvrStep(flow=flow, step=step or flow, at=at, input=given or None))
            out.append(
                IvrStepTaken(
                    at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    flow=flow,
                    step=step or flow,
                    input=given or None,
                )
            )
        elif var == "CC_CAMPAIGN_ID" and value.isascii() and value.isdigit():
            call.campaign_id = int(value)
        elif var == "CC_DIALER_ABANDON" and value == "1":
            call.dialer_abandoned = True
        elif var == "MIXMONITOR_FILENAME" and value:
            call.recording = value
            out.append(
                RecordingStarted(
                    at=at,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    channel=h.get("Channel", ""),
                    filename=value,
                )
            )

    def _hold_start(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or call.answered_at is None or call.hold_started is not None:
            return
        call.hold_started = at
        out.append(CallHeld(at=at, pbx=self.pbx, call_id=call.call_id))

    def _hold_stop(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or call.hold_started is None:
            return
        held = (at - call.hold_started).total_seconds()
        call.hold_seconds += held
        call.hold_started = None
        out.append(CallResumed(at=at, pbx=self.pbx, call_id=call.call_id, held_seconds=held))

    def _blind_transfer(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        self._transferred(
            h.get("TransfererLinkedid"),
            h.get("TransfereeLinkedid"),
            h.get("Extension", ""),
            "blind",
            at,
            out,
        )

    def _attended_transfer(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        target = h.get("SecondTransfererConnectedLineNum") or h.get("DestType", "")
        self._transferred(
            h.get("OrigTransfererLinkedid"),
            h.get("TransfereeLinkedid"),
            target,
            "attended",
            at,
            out,
        )

    def _transferred(
        self,
        linkedid: str | None,
        other: str | None,
        target: str,
        kind: str,
        at: datetime,
        out: list[DomainEvent],
    ) -> None:
        call = self.calls.get(linkedid or "") or self.calls.get(other or "")
        if call is None:
            return
        call.transferred_to = target
        out.append(
            CallTransferred(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                from_agent=call.agent,
                target=target,
                kind=kind,
            )
        )

    def _originate_response(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        out.append(translate.translate_originate(msg, at, self.pbx))
        h = msg.headers
        if h.get("Response") == "Success":
            return
        # a failed originate names the dial string, not a channel: find its call
        base = translate.interface_base(h.get("Channel", ""))
        for call in self.calls.values():
            if call.caller_channel and translate.channel_base(call.caller_channel) == base:
                call.originated = True
                call.originate_failure = _int(h.get("Reason"))

    def _spy(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        out.append(translate.translate_spy(msg, at, self.pbx))
        spyer = self.calls.get(msg.get("SpyerLinkedid"))
        if spyer is not None:
            spyer.internal = True

    def _member(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        event = translate.translate_member(msg, at, self.pbx)
        if event.agent and event.interface:
            self.members[translate.interface_base(event.interface)] = event.agent
        key = f"{event.queue}|{event.interface}"
        self.agents[key] = AgentStateSnapshot(event)
        out.append(event)

    # --- finishing ------------------------------------------------------------------------------
    def _is_agent_channel(self, channel: str) -> bool:
        return translate.channel_base(channel) in self.members

    def _finish(self, call: _Call, at: datetime, out: list[DomainEvent]) -> None:
        self.calls.pop(call.linkedid, None)
        for uniqueid in call.channels:
            self._channel_call.pop(uniqueid, None)
        if call.hold_started is not None:
            call.hold_seconds += (at - call.hold_started).total_seconds()
        if call.answered_at is None and call.queued and not call.abandoned:
            if any(o.ended is None for o in call.offers):  # hung up while ringing, no event
                call.abandoned = True
            self._caller_gone(call, at, out)
        if call.internal:
            return  # a supervisor listening in is not a customer call
        direction = self._direction(call)
        if direction == Direction.OUTBOUND:
            self._resolve_outbound(call)
        outcome = self._outcome(call, direction)
        if outcome == CallOutcome.ABANDONED and call.queue_joined and not call.wait_seconds:
            call.wait_seconds = (at - call.queue_joined).total_seconds()
        talk = (
            (at - call.answered_at).total_seconds() - call.hold_seconds if call.answered_at else 0
        )
        limit = self.ring_limit
        violations: tuple[str, ...] = ()
        if any(
            (o.result == OfferResult.ANSWERED and o.ring > limit)
            or (o.result == OfferResult.NO_ANSWER and o.ring >= limit)
            for o in call.offers
        ):
            violations = ("ring_limit",)
        callback_due = None
        if outcome == CallOutcome.ABANDONED and call.wait_seconds > self.abandon_threshold:
            callback_due = at + self.callback_window
        caller_number = call.caller_number
        record = CallRecord(
            call_id=call.call_id,
            pbx=self.pbx,
            direction=direction,
            caller_number=caller_number,
            caller_name=call.caller_name,
            dialed_number=call.dialed_number,
            queue=call.queue,
            agent=call.agent,
            agent_interface=call.agent_interface,
            started_at=call.started_at,
            answered_at=call.answered_at,
            ended_at=at,
            wait_seconds=round(call.wait_seconds, 3),
            talk_seconds=round(max(talk, 0.0), 3),
            hold_seconds=round(call.hold_seconds, 3),
            offers=tuple(o.domain() for o in call.offers),
            outcome=outcome,
            rule_violations=violations,
            callback_due_at=callback_due,
            customer_id=call.customer_id,
            transferred_to=call.transferred_to,
            recording=call.recording,
            ivr_path=tuple(call.ivr_path),
            campaign_id=call.campaign_id,
        )
        out.append(CallEnded(at=at, pbx=self.pbx, record=record))

    def _direction(self, call: _Call) -> Direction:
        if call.campaign_id is not None:
            return Direction.OUTBOUND  # a dialer call is queued like an inbound one
        if call.queued or call.inbound_ctx or call.ivr_path or call.customer_id is not None:
            return Direction.INBOUND
        if call.originated or call.originate_failure is not None or not call.up:
            return Direction.OUTBOUND
        return Direction.INBOUND

    def _resolve_outbound(self, call: _Call) -> None:
        """Which leg was the customer, which the agent (agents are known by interface)."""
        legs = dict(call.legs)
        if call.caller_channel and call.caller_channel not in legs:
            number = _number_of(call.caller_channel) or ""
            legs = {call.caller_channel: [number, None, None], **legs}
        for channel in legs:
            if self._is_agent_channel(channel) and call.agent is None:
                call.agent = self.members.get(translate.channel_base(channel))
                call.agent_interface = _interface_of(channel)
        for channel, (exten, status, answered) in legs.items():
            if self._is_agent_channel(channel):
                continue
            if call.dialed_number is None and exten:
                call.dialed_number = str(exten)
            if status is not None or answered is not None:
                if not (call.campaign_id is not None and call.queued):
                    call.answered_at = answered if isinstance(answered, datetime) else None
                # else a dialer call: the customer answered, then waited in the campaign's
                # queue; the talk starts when an agent connects (AgentConnect), as inbound
                call.legs = {channel: [exten, status, answered]}
                break

    def _outcome(self, call: _Call, direction: Direction) -> CallOutcome:
        if direction == Direction.INBOUND:
            if call.answered_at is not None:
                return CallOutcome.ANSWERED
            if call.abandoned:
                return CallOutcome.ABANDONED
            if call.queued:
                return CallOutcome.NO_ANSWER
            return CallOutcome.IVR_ONLY if call.up else CallOutcome.FAILED
        if call.dialer_abandoned:
            return CallOutcome.ABANDONED
        if call.answered_at is not None:
            return CallOutcome.ANSWERED
        statuses = [leg[1] for leg in call.legs.values()]
        reason = call.originate_failure
        if "BUSY" in statuses or reason == 5:
            return CallOutcome.BUSY
        # CANCEL: the side that placed the call gave up while it rang. On a real
        # Asterisk an Originate that times out hangs its channels up (the customer leg's
        # DialEnd says CANCEL) and may send its OriginateResponse (reason 3) only after
        # the last Hangup, when the call is already finished here.
        if "NOANSWER" in statuses or "CANCEL" in statuses or reason == 3:
            return CallOutcome.NO_ANSWER
        return CallOutcome.FAILED


class AgentStateSnapshot:
    __slots__ = ("event",)

    def __init__(self, event: object) -> None:
        self.event = event


def _clean(name: str) -> str:
    return "" if name in _UNKNOWN else name


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _number_of(channel: str) -> str | None:
    """'Local/15557770012@customer-sim-00000012;1' → '15557770012'."""
    resource = channel.split("/", 1)[-1]
    number = resource.split("@", 1)[0].split("-", 1)[0]
    return number if number.isascii() and number.isdigit() else None


def _interface_of(channel: str) -> str:
    base = translate.channel_base(channel)
    return base + "/n" if base.startswith("Local/") else base
