"""FastAGI server + IVR flows over real sockets, with an Asterisk-like AGI client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from callcenter.settings import Settings
from crm_core.bus import InProcessBus
from crm_core.clock import FakeClock
from crm_core.db import Database, open_database
from crm_core.domain.models import CallbackStatus, CaseKind
from crm_core.services.callbacks import CallbackService
from ivr_scripts.context import BusinessHours, IvrContext
from ivr_scripts.routes import bind
from telephony.fastagi import FastAgiServer
from telephony.sim.agi_caller import run_agi_session
from tests.polling import eventually

# 10:00 in Shanghai on a Monday: open
OPEN = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    yield database
    await database.close()


async def _server(db: Database, clock: FakeClock, **kw: Any) -> FastAgiServer:
    service = CallbackService(db=db, bus=InProcessBus(), clock=clock, settings=Settings())
    ctx = IvrContext(
        customers=db.customers,
        cases=db.cases,
        surveys=db.surveys,
        request_callback=service.request_callback,
        clock=clock,
        hours=BusinessHours(opens=time(8), closes=time(20)),
    )
    server = FastAgiServer(bind(ctx), **kw)
    await server.start("127.0.0.1", 0)
    return server


async def _call(
    server: FastAgiServer, route: str, number: str = "13800138000", dtmf: str = "", **kw: object
) -> dict[str, str]:
    return await run_agi_session(
        "127.0.0.1",
        server.port,
        route,
        channel="PJSIP/trunk-0001",
        uniqueid="1700000000.1",
        caller_number=number,
        caller_name="张三",
        dtmf=dtmf,
        **kw,
    )  # type: ignore[arg-type]


def _steps(variables: dict[str, str]) -> str:
    return variables.get("CC_IVR_STEP", "")


async def test_welcome_identifies_vip_and_routes_to_priority_queue(db: Database) -> None:
    vip = await db.customers.create(
        name="王总", phones=["13800138000"], vip_level=2, language="zh-CN"
    )
    server = await _server(db, FakeClock(OPEN))
    try:
        known = await _call(server, "welcome")
        assert known["CC_CUSTOMER_ID"] == str(vip.id)
        assert known["CC_VIP"] == "2"
        assert known["CC_QUEUE"] == "vip"
        assert known["CC_ROUTE"] == "menu"
        unknown = await _call(server, "welcome", number="13900000000")
        assert "CC_CUSTOMER_ID" not in unknown
        assert unknown["CC_QUEUE"] == "support"
    finally:
        await server.stop()


async def test_closed_hours_offer_a_callback(db: Database) -> None:
    night = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    server = await _server(db, FakeClock(night))
    try:
        chose = await _call(server, "welcome", dtmf="1")
        assert chose["CC_ROUTE"] == "callback"
        silent = await _call(server, "welcome")
        assert silent["CC_ROUTE"] == "hangup"
    finally:
        await server.stop()


@pytest.mark.parametrize(
    ("dtmf", "queue", "route"),
    [
        ("2", "sales", "queue"),
        (",7,1", "support", "queue"),
        ("0", None, "queue"),
        ("3", None, "selfservice"),
        ("9", None, "callback"),
        (",,", None, "queue"),
    ],
)
async def test_menu_retries_and_zero_for_a_person(
    db: Database, dtmf: str, queue: str | None, route: str
) -> None:
    server = await _server(db, FakeClock(OPEN))
    try:
        result = await _call(server, "menu", dtmf=dtmf)
        assert result["CC_ROUTE"] == route
        assert result.get("CC_QUEUE") == queue
    finally:
        await server.stop()


async def test_callback_request_creates_callback_due_within_window(db: Database) -> None:
    clock = FakeClock(OPEN)
    server = await _server(db, clock)
    try:
        result = await _call(server, "callback", dtmf="2,13912345678")
        assert result["CC_ROUTE"] == "hangup"
        assert _steps(result).startswith("callback:created:")
        cb = await db.callbacks.open_for_phone("+8613912345678")
        assert cb is not None
        assert cb.status == CallbackStatus.OPEN
        assert cb.due_at == OPEN + timedelta(minutes=30)
    finally:
        await server.stop()


async def test_a_missing_prompt_is_named_once_and_the_flow_goes_on(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Asterisk answers -1 for a prompt it lacks while the caller is still there."""
    server = await _server(db, FakeClock(OPEN))
    missing = frozenset({"cc/we-will-call-you-at", "cc/press-1-confirm-2-other"})
    try:
        for number in ("13912345671", "13912345672"):
            result = await _call(server, "callback", number=number, missing=missing)
            assert _steps(result).startswith("callback:created:")
            assert await db.callbacks.open_for_phone(f"+86{number}") is not None
    finally:
        await server.stop()
    assert server.missing_prompts == {"cc/we-will-call-you-at": 2, "cc/press-1-confirm-2-other": 2}
    warnings = [r.getMessage() for r in caplog.records if "missing on the PBX" in r.getMessage()]
    assert len(warnings) == 2, warnings  # once per prompt, not once per caller
    assert "prompt cc/we-will-call-you-at missing on the PBX" in warnings[0]
    assert "caller hung up" not in caplog.text


async def test_selfservice_reads_the_latest_case(db: Database) -> None:
    customer = await db.customers.create(name="李四", phones=["13800138001"])
    case = await db.cases.create(
        kind=CaseKind.INQUIRY,
        subject="订单",
        created_at=OPEN,
        customer_id=customer.id,
        owner_user_id=None,
    )
    server = await _server(db, FakeClock(OPEN))
    try:
        result = await _call(server, "selfservice", number="13800138001", dtmf="0")
        assert f"selfservice:read_case:{case.id}" in _steps(result) or result["CC_ROUTE"] == "queue"
        assert result["CC_ROUTE"] == "queue"
    finally:
        await server.stop()


async def test_survey_answer_is_stored_with_the_call(db: Database) -> None:
    server = await _server(db, FakeClock(OPEN))
    try:
        await _call(server, "survey", dtmf="4", variables={"MEMBERNAME": "Agent 1001"})
        (answer,) = await db.surveys.for_call("1700000000.1")
        assert int(answer.score) == 4
        assert answer.agent == "Agent 1001"
    finally:
        await server.stop()


async def test_unknown_route_is_refused_clearly(db: Database) -> None:
    server = await _server(db, FakeClock(OPEN))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"agi_network: yes\nagi_network_script: nosuch\nagi_uniqueid: 1.1\n\n")
        line = (await reader.readline()).decode()
        assert line.startswith("VERBOSE")
        assert "unknown IVR route 'nosuch'" in line
        writer.write(b"200 result=1\n")
        assert (await reader.readline()).decode().startswith("HANGUP")
        writer.close()
        assert server.refused == 1
    finally:
        await server.stop()


async def test_silent_and_half_sent_clients_never_stall_others(db: Database) -> None:
    server = await _server(db, FakeClock(OPEN), header_timeout=0.5)
    try:
        _, silent = await asyncio.open_connection("127.0.0.1", server.port)
        _half_r, half = await asyncio.open_connection("127.0.0.1", server.port)
        half.write(b"agi_network: yes\nagi_network_scr")
        await half.drain()
        half.close()
        _, garbage = await asyncio.open_connection("127.0.0.1", server.port)
        garbage.write(b"\x00\xffnot agi at all\n\n")
        result = await asyncio.wait_for(_call(server, "welcome"), 2.0)  # others go on
        assert result["CC_ROUTE"] == "menu"
        # the silent one goes when its header timeout (0.5 s) runs out
        await eventually(
            lambda: server.dropped >= 3 and server.active == 0,
            timeout=5,
            what="the three stalled clients dropped",
        )
        silent.close()
        garbage.close()
    finally:
        await server.stop()


@pytest.mark.parametrize("hangup_after", range(1, 9))
async def test_hangup_at_every_step_leaves_no_task(db: Database, hangup_after: int) -> None:
    server = await _server(db, FakeClock(OPEN))
    try:
        await _call(server, "callback", dtmf="1", hangup_after=hangup_after)
        await eventually(lambda: server.active == 0, timeout=5, what="no session left")
    finally:
        await server.stop()


async def test_two_hundred_concurrent_sessions(db: Database) -> None:
    server = await _server(db, FakeClock(OPEN))
    try:
        results = await asyncio.gather(
            *(_call(server, "menu", number=f"138{n:08d}", dtmf="2") for n in range(200))
        )
        assert all(r["CC_QUEUE"] == "sales" for r in results)
        assert server.completed == 200
    finally:
        await server.stop()


async def test_only_the_pbx_may_open_an_agi_session(db: Database) -> None:
    """Issue 13 item 8: a fake AGI session learned who is a customer and created callbacks."""
    await db.customers.create(name="张三", phones=["13800138000"])
    clock = FakeClock(OPEN)
    elsewhere = await _server(db, clock, allowed_networks=("10.0.0.0/8",))
    try:
        # closed at once, before a single command: nothing learned
        assert await _call(elsewhere, "welcome", timeout=2) == {}
        assert elsewhere.rejected == 1
        assert elsewhere.completed == 0
    finally:
        await elsewhere.stop()

    guarded = await _server(db, clock, secret="dialplan-secret")
    try:
        # no secret: refused before any flow runs, no callback created
        assert await _call(guarded, "callback", dtmf="1", timeout=2) == {}
        assert await _call(guarded, "callback", dtmf="1", timeout=2, args=("guess",)) == {}
        assert await db.callbacks.list() == []
        assert guarded.rejected == 2
        # the dialplan's secret: the IVR runs
        found = await _call(guarded, "welcome", args=("dialplan-secret",))
        assert found["CC_CUSTOMER_ID"]
        assert guarded.completed == 1
    finally:
        await guarded.stop()
