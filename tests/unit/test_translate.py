"""Stateless AMI → domain event translation (member states, originate results, spying)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm_core.domain import channels
from crm_core.domain.events import OriginateCompleted, SpyStarted, SpyStopped
from crm_core.domain.models import AgentStatus
from telephony import translate
from telephony.ami.framing import AmiMessage, parse_frame

AT = datetime(2026, 1, 1, tzinfo=UTC)


def msg(event: str, **headers: str) -> AmiMessage:
    lines = [f"Event: {event}"] + [f"{k}: {v}" for k, v in headers.items()]
    parsed = parse_frame("\r\n".join(lines))
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    ("event", "fields", "status"),
    [
        ("QueueMemberStatus", {"Status": "1", "Paused": "0", "InCall": "0"}, AgentStatus.AVAILABLE),
        ("QueueMemberStatus", {"Status": "2", "Paused": "0", "InCall": "1"}, AgentStatus.ON_CALL),
        # Local members say only "in use"; not bridged yet means being rung
        ("QueueMemberStatus", {"Status": "2", "Paused": "0", "InCall": "0"}, AgentStatus.RINGING),
        ("QueueMemberStatus", {"Status": "6", "Paused": "0", "InCall": "0"}, AgentStatus.RINGING),
        ("QueueMemberPause", {"Status": "1", "Paused": "1", "InCall": "0"}, AgentStatus.PAUSED),
        ("QueueMemberStatus", {"Status": "5", "Paused": "0"}, AgentStatus.LOGGED_OUT),
        ("QueueMemberAdded", {"Status": "1", "Paused": "0"}, AgentStatus.AVAILABLE),
        ("QueueMemberRemoved", {"Status": "1", "Paused": "0"}, AgentStatus.LOGGED_OUT),
        ("QueueMember", {"Status": "1", "Paused": "1", "InCall": "0"}, AgentStatus.PAUSED),
    ],
)
def test_member_events_map_to_agent_status(
    event: str, fields: dict[str, str], status: AgentStatus
) -> None:
    m = msg(
        event, Queue="support", MemberName="Alice Agent", Interface="Local/1001@agents/n", **fields
    )
    out = translate.translate_member(m, AT, "pbx1")
    assert out.status == status
    assert out.agent == "Alice Agent"
    assert out.queue == "support"
    assert out.pbx == "pbx1"
    assert out.at == AT


def test_queue_status_list_item_uses_name_and_location() -> None:
    m = msg("QueueMember", Queue="sales", Name="Bob Agent", Location="PJSIP/1002", Status="1")
    out = translate.translate_member(m, AT, "default")
    assert out.agent == "Bob Agent"
    assert out.interface == "PJSIP/1002"


def test_pause_reason_kept() -> None:
    m = msg(
        "QueueMemberPause",
        Queue="support",
        MemberName="A",
        Interface="PJSIP/1",
        Paused="1",
        PausedReason="培训",
    )
    assert translate.translate_member(m, AT, "default").pause_reason == "培训"


@pytest.mark.parametrize(
    ("response", "reason", "success"),
    [
        ("Success", "4", True),
        ("Failure", "5", False),
        ("Failure", "3", False),
        ("Failure", "x", False),
    ],
)
def test_originate_response(response: str, reason: str, success: bool) -> None:
    m = msg(
        "OriginateResponse",
        ActionID="cc-orig-7",
        Response=response,
        Channel="PJSIP/trunk/15550009",
        Reason=reason,
        Uniqueid="<unknown>" if not success else "1700000000.9",
    )
    out = translate.translate_originate(m, AT, "default")
    assert isinstance(out, OriginateCompleted)
    assert out.action_id == "cc-orig-7"
    assert out.success is success
    assert out.reason == (int(reason) if reason.isdigit() else 0)
    assert out.call_id == ("1700000000.9" if success else None)


def test_spy_start_and_stop() -> None:
    start = translate.translate_spy(
        msg(
            "ChanSpyStart",
            SpyerChannel="PJSIP/9000-01",
            SpyeeChannel="PJSIP/1001-02",
            SpyeeLinkedid="1700000000.5",
        ),
        AT,
        "default",
    )
    assert isinstance(start, SpyStarted)
    assert start.call_id == "1700000000.5"
    stop = translate.translate_spy(
        msg("ChanSpyStop", SpyerChannel="PJSIP/9000-01", SpyeeChannel="PJSIP/1001-02"),
        AT,
        "default",
    )
    assert isinstance(stop, SpyStopped)
    assert stop.spyer_channel == "PJSIP/9000-01"


@pytest.mark.parametrize(
    ("channel", "base"),
    [
        ("Local/1001@agents-00000003;1", "Local/1001@agents"),
        ("Local/1001@agents-00000003;2", "Local/1001@agents"),
        ("PJSIP/1-0000002a", "PJSIP/1"),
        ("PJSIP/alice", "PJSIP/alice"),
    ],
)
def test_channel_device_folds_local_halves(channel: str, base: str) -> None:
    assert channels.channel_device(channel) == base
    assert channels.device_of(channel) == base


def test_interface_device_drops_no_optimise_suffix() -> None:
    assert channels.interface_device("Local/1001@agents/n") == "Local/1001@agents"
    assert channels.interface_device("PJSIP/1001") == "PJSIP/1001"
    assert channels.device_of("Local/1001@from-internal/n") == "Local/1001@from-internal"


def test_interface_extension_and_number_of_a_channel() -> None:
    assert channels.channel_interface("Local/1001@agents-0000000a;2") == "Local/1001@agents/n"
    assert channels.channel_interface("PJSIP/1001-0000000a") == "PJSIP/1001"
    assert channels.extension_of("Local/1001@agents/n") == "1001"
    assert channels.extension_of("PJSIP/1002") == "1002"
    assert channels.extension_of("Local/1003@agents-00000001;1") == "1003"
    assert channels.number_of("Local/15557770012@customer-sim-00000012;1") == "15557770012"
    assert channels.number_of("PJSIP/alice-00000001") is None


def test_header_values() -> None:
    assert translate.split_clid('"李四" <13900139000>') == ("李四", "13900139000")
    assert translate.split_clid("nonsense") == ("", "")
    assert translate.duration_seconds("00:01:05") == 65
    assert translate.duration_seconds("1:xx:05") == 0
    assert translate.header_float("1500") == 1500.0
    assert translate.header_float("bad") == 0.0
    assert translate.header_int("17") == 17
    assert translate.header_int(None) is None
    assert translate.clean_name("<unknown>") == ""
