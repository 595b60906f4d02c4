"""The call tracker: a pure reducer from AMI messages to domain events and call records.

Calls are keyed by Asterisk's Linkedid; a call ends when its last channel hangs up.
Correlation rules learned from the recordings (ami-captures/README.md):
- Local channel pairs (`;1`/`;2`) share the Linkedid: we count calls by Linkedid and
  offers by `AgentCalled` (which names only the `;1` half), so nothing is counted twice.
- `AgentConnect` RingTime is in seconds, `AgentRingNoAnswer` RingTime in milliseconds;
  we measure ring time from our own timestamps and use RingTime only as a floor.
- `AgentComplete` may come after both hang-ups and without caller fields: it is not
  needed to finish a record, so a late one is ignored. When the agent hangs up first the
  caller's channel lives on into the survey (`Queue` option `c`): the talk ends at that
  `AgentComplete`, the record when the caller has gone (docs/adr/0048).
- A caller who hangs up while an agent rings gives no `AgentRingNoAnswer`: the open
  offer ends as `caller_hung_up`.
- After a reconnect, `resync()` takes the live channels (CoreShowChannels) so a call
  that was in progress across the gap still ends as one record (docs/adr/0006).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from crm_core.domain import rules
from crm_core.domain.channels import (
    channel_device,
    channel_interface,
    interface_device,
    number_of,
)
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
    CallLeftQueue,
    CallOffered,
    CallResumed,
    CallStarted,
    CallTransferred,
    DomainEvent,
    IvrStepTaken,
    RecordingStarted,
)
from crm_core.domain.models import (
    AgentStatus,
    CallOutcome,
    CallRecord,
    Direction,
    IvrStep,
    OfferResult,
    PbxLeg,
    pbx_call_id,
)
from telephony import translate
from telephony.ami.framing import AmiMessage
from telephony.live_calls import AnsweredLegs, LiveCall, LiveOffer

_FINISHED_KEPT = 20_000
# Asterisk's stand-in channel when an Originate with a context fails (busy, no answer):
# it runs the context's `failed` exten and hangs up. Not a call: the dialer's own leg
# already carries the attempt (its OriginateResponse and DialEnd say why).
SPOOL_FAILED = "OutgoingSpoolFailed"
_REJECTING = frozenset({"BUSY", "CHANUNAVAIL", "CONGESTION"})


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
        self.calls: dict[str, LiveCall] = {}
        self._channel_call: dict[str, str] = {}  # uniqueid -> linkedid
        self.members: dict[str, str] = {}  # interface base -> MemberName
        self.agents: dict[str, AgentStateChanged] = {}  # queue|interface -> last state
        # calls whose channels vanished while the AMI link was down: finished by
        # finish_gap() with the PBX's own CDRs (docs/adr/0043)
        self.gap_ended: dict[str, LiveCall] = {}
        # calls finished lately (Linkedids, oldest first): never recovered twice
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._dispatch: dict[str, Callable[[AmiMessage, datetime, list[DomainEvent]], None]] = {
            "Newchannel": self._newchannel,
            "NewCallerid": self._newcallerid,
            "Newstate": self._newstate,
            "Hangup": self._hangup,
            "QueueCallerJoin": self._queue_join,
            "QueueCallerLeave": self._queue_leave,
            "AgentCalled": self._agent_called,
            "AgentConnect": self._agent_connect,
            "AgentRingNoAnswer": self._agent_rna,
            "AgentComplete": self._agent_complete,
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
            "QueueParams": self._queue_params,
        }
        for name in translate.MEMBER_EVENTS:
            self._dispatch[name] = self._member
        # the event names (as bytes) worth parsing at all: the ingest skips the rest unparsed
        self.wanted_events = frozenset(name.encode() for name in self._dispatch)

    # --- public ---------------------------------------------------------------------------
    def know_agents(self, roster: dict[str, str]) -> None:
        """Agents' interfaces → member names from the CRM, so calls of an agent who is in
        no queue (click-to-dial, a transfer to their extension) still name them."""
        for interface, member in roster.items():
            if interface and member:
                self.members.setdefault(interface_device(interface), member)

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

    def hold_channels(self, call_id: str) -> tuple[str, str] | None:
        """(the customer's channel, the answering agent's leg) of a live answered call."""
        legs = self.answered_legs(call_id)
        return None if legs is None else (legs.customer, legs.agent_leg)

    def answered_legs(self, call_id: str) -> AnsweredLegs | None:
        """The channels of a live answered call, for commands by call id: the customer's,
        and the leg and interface of the agent who answered last (after a transfer, the
        colleague)."""
        for call in self.calls.values():
            if call.call_id != call_id or call.answered_at is None:
                continue
            answered = [o for o in call.offers if o.result is OfferResult.ANSWERED and o.channel]
            if call.caller_channel and answered:
                offer = answered[-1]
                assert offer.channel is not None
                return AnsweredLegs(call.caller_channel, offer.channel, offer.interface or "")
        return None

    def customer_channel(self, call_id: str) -> str | None:
        """The customer's channel of a live call, answered or not."""
        for call in self.calls.values():
            if call.call_id == call_id and call.caller_channel:
                return call.caller_channel
        return None

    def held(self, call_id: str) -> bool:
        return any(c.call_id == call_id and c.hold_started for c in self.calls.values())

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

    # --- resync after a reconnect -------------------------------------------------------------
    def resync(
        self,
        channels: Iterable[AmiMessage],
        at: datetime,
        answers: Mapping[str, datetime] | None = None,
        asked_at: datetime | None = None,
        *,
        starts: Mapping[str, datetime] | None = None,
        queued: Mapping[str, datetime] | None = None,
    ) -> list[DomainEvent]:
        """Reconcile with the PBX's live channels (CoreShowChannel list items).

        `answers` maps a bridged channel's Uniqueid to when it was answered (the client
        reads `CDR(answer,u)` of each bridged channel). Calls we tracked are corrected:
        an agent channel in a bridge means the call was answered (by that agent, at that
        time) while we were away, and offers whose channels are gone stopped ringing.
        Calls whose channels are all gone ended while we were away: they wait in
        `gap_ended` for `finish_gap()` with the PBX's records. Unknown channels are
        adopted. Calls that started after `asked_at` (when CoreShowChannels was sent:
        their events were read while the list was built) are not in the list and are
        left alone. `starts` (a leg's CDR start) and `queued` (the caller's CDR
        cc_queued) give adopted calls their true start, queue entry and ring starts.
        """
        out: list[DomainEvent] = []
        answers = answers or {}
        starts = starts or {}
        queued = queued or {}
        live: dict[str, dict[str, str]] = {}
        bridged: dict[str, list[tuple[str, str]]] = {}  # linkedid -> [(uniqueid, channel)]
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
            name = h.get("Channel", "")
            live.setdefault(linkedid, {})[uniqueid] = name
            if h.get("BridgeId") and self._is_agent_channel(name):
                bridged.setdefault(linkedid, []).append((uniqueid, name))
            if linkedid in adopted and uniqueid != linkedid and self._is_agent_channel(name):
                self._adopt_offer(self.calls[linkedid], name, starts.get(uniqueid, at))
            if linkedid not in self.calls:
                adopted.add(linkedid)
                age = translate.duration_seconds(h.get("Duration", ""))
                begun = starts.get(uniqueid) or at - timedelta(seconds=age)
                call = LiveCall(linkedid, begun, pbx_call_id(self.pbx, linkedid))
                self.calls[linkedid] = call
                number = h.get("CallerIDNum", "")
                if translate.known(number):
                    call.caller_number = number
                    call.caller_name = translate.clean_name(h.get("CallerIDName", ""))
                call.caller_channel = name
                if h.get("Application") == "Queue":
                    call.queued = True
                    call.queue = h.get("ApplicationData", "").split(",")[0] or None
                    call.queue_joined = queued.get(uniqueid) or call.started_at
                if h.get("BridgeId"):  # bridged: talking (a queue caller stays in Queue())
                    call.answered_at = answers.get(uniqueid, at)
        for linkedid, call in list(self.calls.items()):
            if asked_at is not None and call.started_at >= asked_at and linkedid not in live:
                continue
            still = live.get(linkedid, {})
            for uniqueid in list(call.channels):
                if uniqueid not in still:
                    self._channel_call.pop(uniqueid, None)
            call.channels = dict(still)
            for uniqueid in still:
                self._channel_call[uniqueid] = linkedid
            if not still:
                self.calls.pop(linkedid, None)
                self.gap_ended[linkedid] = call
                continue
            # the agent's half of a Local pair (;1) is the one the queue rang
            agent_legs = sorted(
                bridged.get(linkedid, []), key=lambda leg: not leg[1].endswith(";1")
            )
            if agent_legs:
                uniqueid, name = agent_legs[0]
                self._answered_in_gap(
                    call, name, answers.get(uniqueid, at), out, adopted=linkedid in adopted
                )
            live_names = set(still.values())
            for offer in call.offers:  # offers whose channel is gone stopped ringing
                if offer.ended is None and offer.channel and offer.channel not in live_names:
                    self._end_offer(call, offer, at, OfferResult.NO_ANSWER, out)
        self._members_on_call(at, out)
        return out

    def _answered_in_gap(
        self,
        call: LiveCall,
        channel: str,
        answered: datetime,
        out: list[DomainEvent],
        *,
        adopted: bool,
    ) -> None:
        """An agent's channel is in the call's bridge: it was answered while we were away."""
        base = channel_device(channel)
        if call.agent is None:
            call.agent = self.members.get(base)
            call.agent_interface = channel_interface(channel)
            call.queued = call.queued or call.queue is not None
        if call.answered_at is not None and not adopted:
            return
        call.answered_at = answered
        offer = call.open_offer(channel) or next(
            (
                o
                for o in reversed(call.offers)
                if o.ended is None and interface_device(o.interface) == base
            ),
            None,
        )
        if offer is not None:
            self._end_offer(call, offer, answered, OfferResult.ANSWERED, out)
        self._end_open_offers(call, answered, OfferResult.NO_ANSWER, out)
        if call.queue_joined is not None:
            call.wait_seconds = max((answered - call.queue_joined).total_seconds(), 0.0)
        self._answered(call, answered, call.queue, call.wait_seconds, offer, 0.0, channel, out)

    def _adopt_offer(self, call: LiveCall, channel: str, started: datetime) -> None:
        """An agent leg of a call we never saw: it was offered to that agent then."""
        if channel.startswith("Local/") and not channel.endswith(";1"):
            return  # the other half of the agent's Local pair
        if any(o.channel == channel for o in call.offers):
            return
        base = channel_device(channel)
        call.offers.append(
            LiveOffer(
                self.members.get(base), channel_interface(channel), call.queue, channel, started
            )
        )

    def finish_gap(
        self, legs: Mapping[str, list[PbxLeg]], at: datetime, *, final: bool = True
    ) -> list[DomainEvent]:
        """Finish the calls that ended while the AMI link was down.

        With the PBX's CDRs (`legs` by Linkedid) a call answered by an agent is
        answered (that agent, the CDR's answer and end times) and a caller who really
        gave up in the queue is an abandon. Without them we do not know how the call
        ended: unless `final`, it waits for another read (Asterisk writes a CDR a few
        ms after the hang-up); then it is finished with what we saw, and never owes a
        callback.
        """
        out: list[DomainEvent] = []
        for linkedid, call in list(self.gap_ended.items()):
            found = sorted(legs.get(linkedid, []), key=lambda leg: leg.started_at)
            if not found and not final:
                continue
            del self.gap_ended[linkedid]
            if not found:
                # we cannot tell who hung up: no "caller_hung_up"
                self._end_open_offers(call, at, OfferResult.NO_ANSWER, out)
                self._finish(call, at, out, unseen_end=True)
                continue
            self._finish_from_legs(call, found, out)
        return out

    def _finish_from_legs(
        self, call: LiveCall, found: list[PbxLeg], out: list[DomainEvent]
    ) -> None:
        ended = max(leg.ended_at for leg in found)
        agent = self._agent_answer(found)
        if call.queue_joined is not None and call.queue_joined == call.started_at:
            queued = next((leg.queued_at for leg in found if leg.queued_at), None)
            call.queue_joined = queued or call.queue_joined
        if agent is not None and call.answered_at is None:
            channel, answered, _rung = agent
            self._answered_in_gap(call, channel, answered, out, adopted=False)
        elif call.answered_at is None and call.queued and not call.abandoned:
            call.abandoned = True  # in the queue, no agent ever answered: a real abandon
        self._finish(call, max(ended, call.started_at), out)

    def _agent_answer(self, found: list[PbxLeg]) -> tuple[str, datetime, datetime] | None:
        """(agent channel, answered, rung since) of the agent who took the call.

        The caller's CDR names the agent's channel (`dstchannel`) but its answer time is
        the caller's own (the IVR answered); the agent leg's CDR (its Local pair's other
        half dialling the phone) has when the phone answered and since when it rang.
        """
        for leg in found:
            if leg.disposition != "ANSWERED" or not self._is_agent_channel(leg.dstchannel):
                continue
            name = leg.dstchannel
            half = name[:-1] + "2" if name.endswith(";1") else name
            own = next(
                (x for x in found if x.channel in (half, name) and x.answered_at is not None),
                None,
            )
            answered = own.answered_at if own is not None else leg.answered_at
            if answered is None:
                continue
            return name, answered, own.started_at if own is not None else answered
        return None

    def recover_unseen(
        self, legs: Mapping[str, list[PbxLeg]], before: datetime | None = None
    ) -> list[DomainEvent]:
        """Records of calls that started and ended while nobody read the PBX's events.

        `legs` are the CDRs (by Linkedid) of calls that ended since the link went down
        and that the CRM has no record of (docs/adr/0058). Calls this tracker follows,
        waits to finish or finished lately are left alone, and so are calls begun at or
        after `before` (when CoreShowChannels was asked: their events are ours).
        """
        out: list[DomainEvent] = []
        for linkedid, unsorted in legs.items():
            if (
                not unsorted
                or linkedid in self.calls
                or linkedid in self.gap_ended
                or linkedid in self._finished
            ):
                continue
            found = sorted(unsorted, key=lambda leg: leg.started_at)
            if before is not None and found[0].started_at >= before:
                continue
            caller = next((leg for leg in found if leg.uniqueid == linkedid), found[0])
            call = LiveCall(linkedid, found[0].started_at, pbx_call_id(self.pbx, linkedid))
            call.caller_channel = caller.channel
            name, number = translate.split_clid(caller.clid)
            self._set_caller(call, caller.src or number, name)
            call.up = caller.answered_at is not None
            queued = next(
                (leg for leg in found if leg.lastapp == "Queue" and leg.channel == caller.channel),
                None,
            )
            if queued is not None:
                call.queued = True
                call.inbound_ctx = queued.dcontext != "campaign-dial"
                call.queue = queued.lastdata.split(",")[0] or queued.dst or None
                call.queue_joined = queued.queued_at or call.started_at
            agent = self._agent_answer(found)
            if agent is not None:  # the answered offer: rung since the agent's leg began
                self._adopt_offer(call, agent[0], agent[2])
            self._finish_from_legs(call, found, out)
        return out

    # --- handlers -------------------------------------------------------------------------------
    def _call_of(self, msg: AmiMessage) -> LiveCall | None:
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
            call = LiveCall(linkedid, at, pbx_call_id(self.pbx, linkedid))
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

    def _set_caller(self, call: LiveCall, number: str, name: str) -> None:
        if translate.known(number):
            call.caller_number = number
        if translate.known(name):
            call.caller_name = translate.clean_name(name)

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
        if h.get("Channel") == call.caller_channel:
            call.caller_cause = translate.header_int(h.get("Cause"))
        if not call.channels:
            self._finish(call, at, out)

    def _queue_join(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        queue = msg.get("Queue")
        call.waiting_in, call.waiting_channel = queue, msg.get("Channel") or None
        if call.answered_at is not None:
            if call.transfer_pending:  # the BlindTransfer already said where it went
                call.transferred_to = call.transferred_to or queue
            else:  # redirected into another queue (AMI Redirect): a transfer too
                call.transfer_pending = True
                self._transfer_to(call, queue, "redirect", at, out)
        else:
            if not call.queued:
                call.queue = queue
                call.queue_joined = at
                # the number the caller dialled: the exten running the inbound context.
                # The rendered dialplan queues in `[queue-call]` (exten = the queue), so
                # there the number learned in `[inbound]` stays.
                if msg.get("Context") in self.inbound_contexts:
                    call.dialed_number = msg.get("Exten") or None
            call.queued = True
        self._set_caller(call, msg.get("CallerIDNum"), msg.get("CallerIDName"))
        position = translate.header_int(msg.get("Position")) or 0
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

    def _queue_leave(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        queue = msg.get("Queue") or call.waiting_in
        call.waiting_in = call.waiting_channel = None
        if queue:
            out.append(CallLeftQueue(at=at, pbx=self.pbx, call_id=call.call_id, queue=queue))

    def resync_queues(self, items: Iterable[AmiMessage], at: datetime) -> list[DomainEvent]:
        """Reconcile queue members and waiting callers with a QueueStatus list.

        The member items themselves go through `handle` (their states); this finishes
        what they cannot say: a member we knew who is in no queue now was removed while
        we were away, and a call we thought waiting that is no entry of its queue left it.
        """
        out: list[DomainEvent] = []
        members: set[str] = set()
        entries: set[tuple[str, str]] = set()
        for item in items:
            if item.event == "QueueMember":
                interface = item.get("Location") or item.get("Interface")
                members.add(f"{item.get('Queue')}|{interface}")
            elif item.event == "QueueEntry":
                entries.add((item.get("Queue"), item.get("Channel")))
        for key, event in list(self.agents.items()):
            if key in members:
                continue
            del self.agents[key]
            if event.status is not AgentStatus.LOGGED_OUT:
                out.append(
                    AgentStateChanged(
                        at=at,
                        pbx=self.pbx,
                        agent=event.agent,
                        interface=event.interface,
                        queue=event.queue,
                        status=AgentStatus.LOGGED_OUT,
                    )
                )
        for call in self.calls.values():
            if call.waiting_in and (call.waiting_in, call.waiting_channel) not in entries:
                out.append(
                    CallLeftQueue(at=at, pbx=self.pbx, call_id=call.call_id, queue=call.waiting_in)
                )
                call.waiting_in = call.waiting_channel = None
        return out

    def _agent_called(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        interface = h.get("Interface", "")
        member = h.get("MemberName")
        if member:
            self.members[interface_device(interface)] = member
        self._ring_started(
            call, LiveOffer(member, interface, h.get("Queue"), h.get("DestChannel", ""), at), out
        )

    def _agent_connect(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        offer = call.open_offer(h.get("DestChannel"), h.get("Interface"))
        floor = translate.header_float(h.get("RingTime"))
        if offer is not None:
            self._end_offer(call, offer, at, OfferResult.ANSWERED, out, floor)
        # ringall: the others stop ringing
        self._end_open_offers(call, at, OfferResult.NO_ANSWER, out)
        call.talk_ended_at = None  # another agent took the call: the talk goes on
        agent_channel = h.get("DestChannel") or None
        # the member is on the call now. A Local member's device state already said "in
        # use" while it rang (read as ringing), so Asterisk sends no QueueMemberStatus for
        # the answer: without this line the agent's own console said "ringing" through
        # the whole call (the first answer, and again after a transfer into a queue)
        state = AgentStateChanged(
            at=at,
            pbx=self.pbx,
            agent=h.get("MemberName"),
            interface=h.get("Interface", ""),
            queue=h.get("Queue"),
            status=AgentStatus.ON_CALL,
            in_call=True,
        )
        if state.agent and state.interface:
            self.agents[f"{state.queue}|{state.interface}"] = state
        out.append(state)
        if call.answered_at is not None and call.transfer_pending:
            # the target of a transfer answered: the customer talks to them now
            call.agent = h.get("MemberName")
            call.agent_interface = h.get("Interface")
            call.transfer_pending = False
            wait = translate.header_float(h.get("HoldTime"))
            self._answered(call, at, h.get("Queue"), wait, offer, floor, agent_channel, out)
        if call.answered_at is None:
            call.answered_at = at
            call.agent = h.get("MemberName")
            call.agent_interface = h.get("Interface")
            if call.queue_joined is not None:
                call.wait_seconds = (at - call.queue_joined).total_seconds()
            queue = h.get("Queue")
            self._answered(call, at, queue, call.wait_seconds, offer, floor, agent_channel, out)

    def _agent_complete(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None or call.answered_at is None:
            return
        if msg.get("Reason") == "agent":  # the caller goes on, to the survey: talk is over
            call.talk_ended_at = at
            self._stop_hold(call, at)

    def _agent_rna(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        call = self._call_of(msg)
        if call is None:
            return
        h = msg.headers
        offer = call.open_offer(h.get("DestChannel"), h.get("Interface"))
        if offer is None:
            return
        ring_ms = translate.header_float(h.get("RingTime"))
        ring = ring_ms / 1000.0 if ring_ms else (at - offer.started).total_seconds()
        offer.ended = at
        offer.ring = ring
        offer.result = OfferResult.NO_ANSWER
        self._ring_ended(call, offer, out, missed=True)

    def _transfer_offer(
        self, call: LiveCall, dest: str, at: datetime, out: list[DomainEvent]
    ) -> None:
        """A call blind-transferred to a colleague's extension rings their phone: an offer
        like a queue's, so they get the screen pop and the record shows the ring."""
        member = self.members.get(channel_device(dest))
        self._ring_started(call, LiveOffer(member, channel_interface(dest), None, dest, at), out)

    def _ring_started(self, call: LiveCall, offer: LiveOffer, out: list[DomainEvent]) -> None:
        """An agent's phone rings with `call` (a queue's offer or a transfer's)."""
        call.offers.append(offer)
        out.append(
            AgentRingStarted(
                at=offer.started,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=offer.queue,
                agent=offer.agent,
                interface=offer.interface,
                caller_number=call.caller_number,
                caller_name=call.caller_name,
                customer_id=call.customer_id,
                campaign_id=call.campaign_id,
                caller_channel=call.caller_channel,
                agent_channel=offer.channel or None,
            )
        )

    def _transfer_answered(
        self, call: LiveCall, offer: LiveOffer, at: datetime, out: list[DomainEvent]
    ) -> None:
        self._end_offer(call, offer, at, OfferResult.ANSWERED, out)
        call.agent = offer.agent
        call.agent_interface = offer.interface
        call.transfer_pending = False
        self._answered(call, at, None, 0.0, offer, 0.0, offer.channel, out)

    def _answered(
        self,
        call: LiveCall,
        at: datetime,
        queue: str | None,
        wait: float,
        offer: LiveOffer | None,
        floor: float,
        agent_channel: str | None,
        out: list[DomainEvent],
    ) -> None:
        """`call.agent` answered `call` at `at` (ringing for `offer`, else `floor` s)."""
        out.append(
            CallAnswered(
                at=at,
                pbx=self.pbx,
                call_id=call.call_id,
                queue=queue,
                agent=call.agent,
                interface=call.agent_interface,
                wait_seconds=round(wait, 3),
                ring_seconds=round(offer.ring, 3) if offer else floor,
                caller_channel=call.caller_channel,
                agent_channel=agent_channel,
            )
        )

    def _end_offer(
        self,
        call: LiveCall,
        offer: LiveOffer,
        at: datetime,
        result: OfferResult,
        out: list[DomainEvent],
        floor: float = 0.0,
        *,
        missed: bool = False,
    ) -> None:
        offer.close(at, result, floor)
        self._ring_ended(call, offer, out, missed=missed)

    def _end_open_offers(
        self, call: LiveCall, at: datetime, result: OfferResult, out: list[DomainEvent]
    ) -> None:
        """Every offer of `call` still ringing stops ringing at `at`, with `result`."""
        for offer in call.offers:
            if offer.ended is None:
                self._end_offer(call, offer, at, result, out)

    def _ring_ended(
        self, call: LiveCall, offer: LiveOffer, out: list[DomainEvent], *, missed: bool = False
    ) -> None:
        """The offer stopped ringing; `missed`: the agent let it ring out (a missed call)."""
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
        if missed:
            out.append(
                AgentMissedCall(
                    at=offer.ended,
                    pbx=self.pbx,
                    call_id=call.call_id,
                    queue=offer.queue,
                    agent=offer.agent,
                    interface=offer.interface,
                    ring_seconds=round(offer.ring, 3),
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
        position = translate.header_int(msg.get("Position"))
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

    def _caller_gone(self, call: LiveCall, at: datetime, out: list[DomainEvent]) -> None:
        self._end_open_offers(call, at, OfferResult.CALLER_HUNG_UP, out)

    def _newstate(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        if h.get("ChannelState") != "6":
            return
        call = self._call_of(msg)
        if call is not None and h.get("Channel") == call.caller_channel:
            call.up = True

    def _dial_call(self, msg: AmiMessage) -> LiveCall | None:
        """The call a Dial event belongs to: the dialled channel's, else the dialler's."""
        return self.calls.get(msg.headers.get("DestLinkedid", "")) or self._call_of(msg)

    def _dial_begin(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        dest = h.get("DestChannel", "")
        call = self._dial_call(msg)
        if call is None or not dest or call.open_offer(dest) is not None:
            return
        if "Channel" not in h and dest == call.caller_channel:
            call.originated = True  # an Originate placed this call
        elif h.get("Channel") != call.caller_channel:
            # a dial inside another leg, e.g. an agent's Local channel ringing the phone
            # (`[agents]`): neither the customer nor the agent's leg of this call
            return
        if call.transfer_pending and call.answered_at is not None and self._is_agent_channel(dest):
            self._transfer_offer(call, dest, at, out)
            return
        exten = h.get("DestExten", "")
        if not exten or exten in ("s", "<unknown>"):
            exten = number_of(dest) or ""
        call.legs.setdefault(dest, [exten, None, None])

    def _dial_end(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        dest = h.get("DestChannel", "")
        call = self._dial_call(msg)
        if call is None:
            return
        status = h.get("DialStatus", "")
        if status == "ANSWER" and call.transfer_pending:
            offer = call.open_offer(dest)
            if offer is not None and offer.queue is None:  # the colleague answered
                self._transfer_answered(call, offer, at, out)
                return
        if status == "NOANSWER":
            offer = call.open_offer(dest)
            if offer is not None and offer.queue is None:
                self._end_offer(call, offer, at, OfferResult.NO_ANSWER, out, missed=True)
                return
        leg = call.legs.get(dest)
        if leg is not None and leg[1] != "ANSWER" and not (status == "CANCEL" and leg[1]):
            leg[1] = status
            if status == "ANSWER":
                leg[2] = at
        if status in _REJECTING:
            offer = call.open_offer(dest)
            if offer is not None:
                self._end_offer(call, offer, at, OfferResult.REJECTED, out)

    def _varset(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        var = h.get("Variable", "")
        if not var.startswith(("CC_", "MIXMONITOR_FILENAME")):
            return
        call = self._call_of(msg)
        if call is None:
            return
        if (
            call.dialed_number is None
            and not call.queued
            and h.get("Channel") == call.caller_channel
            and h.get("Context") in self.inbound_contexts
        ):
            # a caller whose channel was born elsewhere (a Local channel Originated into
            # `[inbound]`) shows the number it dialled once the inbound dialplan runs
            call.inbound_ctx = True
            call.dialed_number = h.get("Exten") or None
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
        elif var == "CC_DIALED" and value:
            call.dialed_number = value  # the customer's number as the CRM keys it
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
        held = self._stop_hold(call, at)
        out.append(CallResumed(at=at, pbx=self.pbx, call_id=call.call_id, held_seconds=held))

    @staticmethod
    def _stop_hold(call: LiveCall, at: datetime) -> float:
        """End the call's hold (if any) at `at`: its seconds count as held."""
        if call.hold_started is None:
            return 0.0
        held = (at - call.hold_started).total_seconds()
        call.hold_seconds += held
        call.hold_started = None
        return held

    def _blind_transfer(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        h = msg.headers
        if h.get("Result", "Success") != "Success":
            return
        call = self.calls.get(h.get("TransfererLinkedid") or "") or self.calls.get(
            h.get("TransfereeLinkedid") or ""
        )
        if call is not None:
            call.transfer_pending = True
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
        if call is not None:
            self._transfer_to(call, target, kind, at, out)

    def _transfer_to(
        self, call: LiveCall, target: str, kind: str, at: datetime, out: list[DomainEvent]
    ) -> None:
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
        base = interface_device(h.get("Channel", ""))
        for call in self.calls.values():
            if call.caller_channel and channel_device(call.caller_channel) == base:
                call.originated = True
                call.originate_failure = translate.header_int(h.get("Reason"))

    def _spy(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        out.append(translate.translate_spy(msg, at, self.pbx))
        spyer = self.calls.get(msg.get("SpyerLinkedid"))
        if spyer is not None:
            spyer.internal = True

    def _queue_params(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        event = translate.translate_queue_params(msg, at, self.pbx)
        if event is not None:
            out.append(event)

    def _member(self, msg: AmiMessage, at: datetime, out: list[DomainEvent]) -> None:
        event = translate.translate_member(msg, at, self.pbx)
        if event.agent and event.interface:
            self.members[interface_device(event.interface)] = event.agent
        event = self._on_call_elsewhere(event)
        key = f"{event.queue}|{event.interface}"
        self.agents[key] = event
        out.append(event)

    def _talking_agents(self) -> set[str]:
        return {c.agent for c in self.calls.values() if c.agent and c.answered_at is not None}

    def _on_call_elsewhere(
        self, event: AgentStateChanged, talking: set[str] | None = None
    ) -> AgentStateChanged:
        """A member "in use, not in a call" of one queue who talks on a call of another.

        `InCall` is per queue: an agent in support and sales answering a support call is
        InCall 1 in support and 0 in sales, which reads as ringing; after a resync the
        sales line came last and the board showed a talking agent ringing (issue 12 #2).
        """
        if event.status is not AgentStatus.RINGING or not event.agent:
            return event
        if event.agent not in (talking if talking is not None else self._talking_agents()):
            return event
        return replace(event, status=AgentStatus.ON_CALL, in_call=True)

    def _members_on_call(self, at: datetime, out: list[DomainEvent]) -> None:
        """After a resync answered calls: their agents' queue lines say so too."""
        talking = self._talking_agents()
        for key, event in list(self.agents.items()):
            fixed = self._on_call_elsewhere(event, talking)
            if fixed is not event:
                fixed = replace(fixed, at=at)
                self.agents[key] = fixed
                out.append(fixed)

    # --- finishing ------------------------------------------------------------------------------
    def _is_agent_channel(self, channel: str) -> bool:
        return channel_device(channel) in self.members

    def _finish(
        self, call: LiveCall, at: datetime, out: list[DomainEvent], *, unseen_end: bool = False
    ) -> None:
        self.calls.pop(call.linkedid, None)
        self._finished[call.linkedid] = None
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        for uniqueid in call.channels:
            self._channel_call.pop(uniqueid, None)
        self._stop_hold(call, at)
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
        talk_end = call.talk_ended_at or at
        talk = (
            (talk_end - call.answered_at).total_seconds() - call.hold_seconds
            if call.answered_at
            else 0
        )
        offers = tuple(o.domain() for o in call.offers)
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
            offers=offers,
            outcome=outcome,
            rule_violations=rules.call_rule_violations(offers, self.ring_limit),
            customer_id=call.customer_id,
            transferred_to=call.transferred_to,
            recording=call.recording,
            ivr_path=tuple(call.ivr_path),
            campaign_id=call.campaign_id,
            wrapup_notes="ended while the AMI link was down; no PBX record of how"
            if unseen_end
            else None,
        )
        if rules.callback_owed(record, self.abandon_threshold) is not None:
            record = replace(record, callback_due_at=rules.callback_due(at, self.callback_window))
        out.append(CallEnded(at=at, pbx=self.pbx, record=record))

    def _direction(self, call: LiveCall) -> Direction:
        if call.campaign_id is not None:
            return Direction.OUTBOUND  # a dialer call is queued like an inbound one
        # (a customer id says whom the call is with, not who called: click-to-dial from a
        # customer card or a callback sets it too)
        if call.queued or call.inbound_ctx or call.ivr_path:
            return Direction.INBOUND
        if call.originated or call.originate_failure is not None or not call.up:
            return Direction.OUTBOUND
        return Direction.INBOUND

    def _resolve_outbound(self, call: LiveCall) -> None:
        """Which leg was the customer, which the agent (agents are known by interface)."""
        legs = dict(call.legs)
        if call.caller_channel and call.caller_channel not in legs:
            number = number_of(call.caller_channel) or ""
            legs = {call.caller_channel: [number, None, None], **legs}
        for channel in legs:
            if self._is_agent_channel(channel) and call.agent is None:
                call.agent = self.members.get(channel_device(channel))
                call.agent_interface = channel_interface(channel)
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

    def _outcome(self, call: LiveCall, direction: Direction) -> CallOutcome:
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
        # An Originate that times out on a real Asterisk hangs its channels up and may
        # send its OriginateResponse (reason 3) only after the last Hangup, when the call
        # is finished here: the originated channel's hangup cause says it then (17 user
        # busy, 18 / 19 no answer); a leg the originator gave up on ended CANCEL.
        cause = call.caller_cause if call.originated else None
        if "BUSY" in statuses or reason == 5 or cause == 17:
            return CallOutcome.BUSY
        if "NOANSWER" in statuses or "CANCEL" in statuses or reason == 3 or cause in (18, 19):
            return CallOutcome.NO_ANSWER
        return CallOutcome.FAILED
