"""Stateless AMI → domain event translation.

Events whose meaning does not depend on the call's history (queue member state,
queue settings, originate results, supervisor spying) are translated here, purely. Events that
build up a call (channels, queue entry, offers, bridges, hang-ups) need state and
are reduced by `telephony.tracker.CallTracker`, which reads their header values through
the helpers at the end of this module; channel and interface names are parsed by
`crm_core.domain.channels` (shared with the console). docs/adr/0071.
"""

from __future__ import annotations

import re
from datetime import datetime

from crm_core.domain.events import (
    AgentStateChanged,
    DomainEvent,
    OriginateCompleted,
    QueueParamsRead,
    SpyStarted,
    SpyStopped,
)
from crm_core.domain.models import AgentStatus
from telephony.ami.framing import AmiMessage

MEMBER_EVENTS = frozenset(
    {
        "QueueMemberStatus",
        "QueueMemberPause",
        "QueueMemberAdded",
        "QueueMemberRemoved",
        "QueueMemberPenalty",
        "QueueMember",  # QueueStatus list item
    }
)


def member_status(msg: AmiMessage) -> AgentStatus:
    """Queue member fields → one agent status.

    Local-channel members report only Status 1 (not in use) or 2 (in use); a
    ringing member is 2 with InCall 0, a talking member has InCall 1.
    """
    if msg.headers.get("Event") == "QueueMemberRemoved":
        return AgentStatus.LOGGED_OUT
    status = msg.get("Status", "1")
    if status in ("5", "4"):  # unavailable / invalid device
        return AgentStatus.LOGGED_OUT
    if msg.get("Paused", "0") == "1":
        return AgentStatus.PAUSED
    if msg.get("InCall", "0") == "1":
        return AgentStatus.ON_CALL
    if status in ("2", "3", "6", "7", "8"):  # in use, busy, ringing, ring+inuse, on hold
        return AgentStatus.RINGING if status in ("6", "7") else AgentStatus.ON_CALL
    return AgentStatus.AVAILABLE


def translate_member(msg: AmiMessage, at: datetime, pbx: str) -> AgentStateChanged:
    h = msg.headers
    status = member_status(msg)
    # a member "in use" but not bridged is being rung (Local members never say 6)
    if status == AgentStatus.ON_CALL and h.get("InCall", "0") != "1":
        status = AgentStatus.RINGING
    return AgentStateChanged(
        at=at,
        pbx=pbx,
        agent=h.get("MemberName") or h.get("Name"),
        interface=h.get("Interface") or h.get("Location") or "",
        queue=h.get("Queue"),
        status=status,
        paused=h.get("Paused", "0") == "1",
        pause_reason=h.get("PausedReason") or h.get("Reason") or "",
        in_call=h.get("InCall", "0") == "1",
    )


def translate_queue_params(msg: AmiMessage, at: datetime, pbx: str) -> QueueParamsRead | None:
    """A QueueParams item with the member ring timeout (None when it does not say)."""
    timeout = msg.get("Timeout")
    if not timeout.replace(".", "", 1).isdigit():
        return None
    return QueueParamsRead(
        at=at, pbx=pbx, queue=msg.get("Queue"), member_timeout_seconds=float(timeout)
    )


def translate_originate(msg: AmiMessage, at: datetime, pbx: str) -> OriginateCompleted:
    h = msg.headers
    uniqueid = h.get("Uniqueid", "")
    try:
        reason = int(h.get("Reason", "0"))
    except ValueError:
        reason = 0
    return OriginateCompleted(
        at=at,
        pbx=pbx,
        action_id=h.get("ActionID", ""),
        success=h.get("Response") == "Success",
        reason=reason,
        call_id=uniqueid if uniqueid and uniqueid != "<unknown>" else None,
        channel=h.get("Channel"),
    )


def translate_spy(msg: AmiMessage, at: datetime, pbx: str) -> DomainEvent:
    h = msg.headers
    if h.get("Event") == "ChanSpyStart":
        return SpyStarted(
            at=at,
            pbx=pbx,
            spyer_channel=h.get("SpyerChannel", ""),
            spyee_channel=h.get("SpyeeChannel", ""),
            call_id=h.get("SpyeeLinkedid"),
        )
    return SpyStopped(
        at=at,
        pbx=pbx,
        spyer_channel=h.get("SpyerChannel", ""),
        spyee_channel=h.get("SpyeeChannel"),
    )


# --- header values ------------------------------------------------------------------------
# The tracker reads headers only through these (and crm_core.domain.channels for names).

UNKNOWN = ("", "<unknown>", "unknown")
_CLID = re.compile(r'^\s*"?([^"<]*)"?\s*<([^>]*)>')


def known(value: str) -> bool:
    """Whether a caller-id header says something (not empty, not Asterisk's '<unknown>')."""
    return value not in UNKNOWN


def clean_name(name: str) -> str:
    return "" if name in UNKNOWN else name


def header_float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0


def header_int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def duration_seconds(hms: str) -> int:
    """CoreShowChannel's 'Duration' ('00:01:05') in seconds; 0 when it is not one."""
    parts = hms.split(":")
    if len(parts) != 3 or not all(p.isascii() and p.isdigit() for p in parts):
        return 0
    hh, mm, ss = (int(p) for p in parts)
    return hh * 3600 + mm * 60 + ss


def split_clid(clid: str) -> tuple[str, str]:
    """A CDR's clid '"李四" <13900139000>' → ('李四', '13900139000'); ('', '') if not one."""
    match = _CLID.match(clid)
    return (match.group(1), match.group(2)) if match else ("", "")
