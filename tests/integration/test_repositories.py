"""Repositories on SQLite and PostgreSQL (same tests, `database_url` parametrised)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from crm_core.db import Database, open_database
from crm_core.domain.models import (
    AttemptResult,
    AuditEntry,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    CaseKind,
    CaseStatus,
    DialMode,
    Direction,
    IvrStep,
    Offer,
    OfferResult,
    Role,
    Satisfaction,
    SurveyAnswer,
    Violation,
    ViolationKind,
)
from crm_core.phones import InvalidPhoneNumber
from crm_core.ports.repositories import CallFilter, Conflict, NotFound

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    yield database
    await database.close()


def _call(call_id: str, **kw: object) -> CallRecord:
    base: dict[str, object] = {
        "call_id": call_id,
        "direction": Direction.INBOUND,
        "caller_number": "13800138000",
        "caller_name": "张三",
        "queue": "support",
        "agent": "Agent 1002",
        "started_at": T0,
        "answered_at": T0 + timedelta(seconds=20),
        "ended_at": T0 + timedelta(seconds=62),
        "wait_seconds": 20.0,
        "talk_seconds": 42.0,
        "offers": (
            Offer(
                agent="Agent 1001",
                interface="Local/1001@agents/n",
                ring_seconds=15.0,
                result=OfferResult.NO_ANSWER,
                ring_started_at=T0,
            ),
            Offer(
                agent="Agent 1002",
                interface="Local/1002@agents/n",
                ring_seconds=3.0,
                result=OfferResult.ANSWERED,
            ),
        ),
        "outcome": CallOutcome.ANSWERED,
        "rule_violations": ("ring_limit",),
        "ivr_path": (IvrStep(flow="welcome", step="lookup", at=T0, input=None),),
    }
    base.update(kw)
    return CallRecord(**base)  # type: ignore[arg-type]


async def test_customer_found_by_every_phone_form(db: Database) -> None:
    c = await db.customers.create(
        name="张三", company="示例科技", title="经理", vip_level=2, phones=["+86 138 0013 8000"]
    )
    for form in ("13800138000", "008613800138000", "+86 138 0013 8000", "86 13800138000"):
        found = await db.customers.find_by_phone(form)
        assert found is not None, form
        assert found.id == c.id
    assert found is not None
    assert found.phones[0].raw == "+86 138 0013 8000"
    assert found.phones[0].e164 == "+8613800138000"
    assert found.created_at is not None
    assert found.created_at.tzinfo is not None
    assert await db.customers.find_by_phone("13900000000") is None
    assert await db.customers.find_by_phone("<unknown>") is None  # PBX noise never crashes


async def test_several_phones_unique_and_invalid(db: Database) -> None:
    c = await db.customers.create(name="Li", phones=["13800138001", "010-12345678"])
    assert {p.e164 for p in c.phones} == {"+8613800138001", "+861012345678"}
    with pytest.raises(Conflict):
        await db.customers.create(name="Other", phones=["+8613800138001"])
    with pytest.raises(InvalidPhoneNumber):
        await db.customers.add_phone(c.id, "not a number")
    c = await db.customers.update(c.id, vip_level=3, notes="prefers mornings")
    assert c.vip_level == 3
    with pytest.raises(NotFound):
        await db.customers.get(999999)
    assert [x.id for x in await db.customers.search("Li")] == [c.id]


async def test_users_and_teams(db: Database) -> None:
    team = await db.users.get_or_create_team("A组")
    assert (await db.users.get_or_create_team("A组")).id == team.id
    u = await db.users.create(
        username="agent1",
        display_name="Agent 1001",
        role=Role.AGENT,
        password_hash="h",
        team_id=team.id,
        member_name="Agent 1001",
        interface="Local/1001@agents/n",
        queues=["support", "sales"],
    )
    assert u.queues == ("support", "sales")
    assert (await db.users.get_by_member_name("Agent 1001")) == u
    assert await db.users.password_hash("agent1") == "h"
    with pytest.raises(Conflict):
        await db.users.create(
            username="agent1", display_name="x", role=Role.AGENT, password_hash="h"
        )
    lead = await db.users.create(
        username="lead1", display_name="Lead", role=Role.LEAD, password_hash="h", team_id=team.id
    )
    await db.users.set_team_lead(team.id, lead.id)
    assert (await db.users.teams())[0].lead_user_id == lead.id
    assert [x.username for x in await db.users.list(team_id=team.id, role=Role.AGENT)] == ["agent1"]


async def test_call_upsert_is_idempotent_and_keeps_wrapup(db: Database) -> None:
    record = _call("1700000000.41")
    assert await db.calls.save_many([record]) == 1
    await db.calls.save_many([record])  # written twice (e.g. after a failover): one row
    assert await db.calls.count() == 1
    got = await db.calls.get("1700000000.41")
    assert got.offers == record.offers
    assert got.ivr_path == record.ivr_path
    assert got.to_contract() == record.to_contract()

    await db.calls.save_wrapup("1700000000.41", disposition="resolved", notes="退货")
    await db.calls.save_many([record])  # a late re-write never erases what the agent wrote
    got = await db.calls.get("1700000000.41")
    assert got.disposition == "resolved"
    assert got.wrapup_notes == "退货"

    await db.calls.save_many(
        [_call("1700000001.1", agent="Agent 1001", started_at=T0 + timedelta(hours=1))]
    )
    assert [c.call_id for c in await db.calls.list(CallFilter(agent="Agent 1001"))] == [
        "1700000001.1"
    ]
    assert len(await db.calls.list(CallFilter(since=T0 + timedelta(minutes=30)))) == 1


async def test_wrapup_racing_a_late_record_write_is_never_lost(db: Database) -> None:
    """The call-log writer re-writes a record while the agent's wrap-up commits: the
    wrap-up survives every interleaving (it was lost when the writer decided from a stale read)."""
    for n in range(40):
        record = _call(f"1700000100.{n}")
        await db.calls.save_many([record])
        await asyncio.gather(
            db.calls.save_many([record]),
            db.calls.save_wrapup(record.call_id, disposition="sale", notes=f"n{n}"),
            db.calls.save_many([record]),
        )
        got = await db.calls.get(record.call_id)
        assert (got.disposition, got.wrapup_notes) == ("sale", f"n{n}")


async def test_two_writers_inserting_the_same_new_call_both_succeed(db: Database) -> None:
    """Every instance's call-log writer writes each `CallEnded` it hears (its own and,
    over Redis, the reader's), so two writers often insert the same new call at once.
    The second must turn into an update, not fail its whole batch with a duplicate key
    (which rolled the batch back and flagged the CRM as unreachable)."""
    for n in range(30):
        batch = [_call(f"1700000200.{n}"), _call(f"1700000201.{n}")]
        await asyncio.gather(db.calls.save_many(batch), db.calls.save_many(batch))
    assert await db.calls.count() == 60
    got = await db.calls.get("1700000200.7")
    assert got.offers == batch[0].offers


async def test_the_same_call_twice_in_one_batch_keeps_the_later_record(db: Database) -> None:
    first = _call("1700000300.1", talk_seconds=10.0)
    later = _call("1700000300.1", talk_seconds=42.0)
    assert await db.calls.save_many([first, later]) == 2
    assert await db.calls.count() == 1
    assert (await db.calls.get("1700000300.1")).talk_seconds == 42.0


async def test_callbacks_attempts_and_claim_once(db: Database) -> None:
    cb = await db.callbacks.create(
        phone_e164="+8613800138000",
        reason=CallbackReason.ABANDONED,
        created_at=T0,
        due_at=T0 + timedelta(minutes=30),
        queue="support",
        call_id="1.1",
    )
    assert cb.status == CallbackStatus.OPEN
    assert (await db.callbacks.open_for_phone("+8613800138000")) == cb
    cb = await db.callbacks.add_attempt(cb.id, at=T0, result=AttemptResult.BUSY)
    assert cb.attempts[0].result == AttemptResult.BUSY
    assert await db.callbacks.claim(cb.id, "escalated_at", T0, status=CallbackStatus.OVERDUE)
    assert not await db.callbacks.claim(cb.id, "escalated_at", T0)  # fires once only
    cb = await db.callbacks.get(cb.id)
    assert cb.status == CallbackStatus.OVERDUE
    assert [c.id for c in await db.callbacks.pending_deadlines()] == [cb.id]
    cb = await db.callbacks.update(
        cb.id, status=CallbackStatus.DONE, outcome="answered", closed_at=T0
    )
    assert await db.callbacks.open_for_phone("+8613800138000") is None
    assert await db.callbacks.list(status=[CallbackStatus.OPEN]) == []


async def test_cases_keep_history(db: Database) -> None:
    c = await db.customers.create(name="王五", phones=["13800138002"])
    case = await db.cases.create(
        kind=CaseKind.COMPLAINT,
        subject="送货延迟",
        created_at=T0,
        customer_id=c.id,
        owner_user_id=None,
        promised_reply_at=T0 + timedelta(hours=2),
    )
    case = await db.cases.set_status(
        case.id, CaseStatus.RESOLVED, at=T0 + timedelta(hours=1), by_user_id=None, note="refund"
    )
    assert [e.status for e in case.history] == [CaseStatus.OPEN, CaseStatus.RESOLVED]
    assert case.closed_at == T0 + timedelta(hours=1)
    assert await db.cases.list(customer_id=c.id, open_only=True) == []


async def test_violations_dnc_surveys_audit(db: Database) -> None:
    v = await db.violations.add(
        Violation(
            id=None,
            kind=ViolationKind.MISSED_CALL,
            at=T0,
            agent="Agent 1001",
            call_id="1.1",
            ring_seconds=15.0,
        )
    )
    assert v.id is not None
    assert (await db.violations.list(since=T0))[0].kind == ViolationKind.MISSED_CALL
    await db.dnc.add("+8613800138000", "asked")
    await db.dnc.add("+8613800138000", "twice is fine")
    assert await db.dnc.contains("+8613800138000")
    await db.dnc.remove("+8613800138000")
    assert not await db.dnc.contains("+8613800138000")
    await db.surveys.add(
        SurveyAnswer(id=None, call_id="1.1", customer_id=None, score=Satisfaction.SATISFIED, at=T0)
    )
    assert (await db.surveys.for_call("1.1"))[0].score == Satisfaction.SATISFIED
    await db.audit.record(
        AuditEntry(
            id=None,
            at=T0,
            actor_user_id=None,
            actor="lead1",
            action="customer.read",
            subject="customer:1",
            remote="10.0.0.5",
        )
    )
    entries = await db.audit.list(actor="lead1")
    assert entries[0].action == "customer.read"
    assert not hasattr(db.audit, "delete")  # append-only: no way to change the past


async def test_campaigns_and_contacts(db: Database) -> None:
    camp = await db.campaigns.create(
        Campaign(
            id=0,
            name="回访",
            kind=CampaignKind.FOLLOW_UP,
            mode=DialMode.PROGRESSIVE,
            status=CampaignStatus.DRAFT,
        )
    )
    n = await db.campaigns.add_contacts(
        [
            CampaignContact(id=0, campaign_id=camp.id, phone_e164=f"+86138001380{i:02d}")
            for i in range(10)
        ]
    )
    assert n == 10
    contacts = await db.campaigns.contacts(camp.id)
    contact = await db.campaigns.update_contact(contacts[0].id, attempts=1, last_result="busy")
    assert contact.attempts == 1
    camp = await db.campaigns.update(camp.id, status=CampaignStatus.RUNNING)
    assert camp.status == CampaignStatus.RUNNING
    assert camp.dispositions  # defaults survive the round trip


async def test_ping_shares_the_engine(db: Database) -> None:
    from sqlalchemy import func, select

    from crm_core.db import tables as t

    assert await db.ping() is True
    await db.customers.create(name="李四", phones=["13900139000"])
    async with db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(t.customers)) == 1


async def test_ping_is_false_when_the_database_is_unreachable() -> None:
    down = await open_database("postgresql+asyncpg://postgres@127.0.0.1:1/test")
    try:
        assert await down.ping() is False
    finally:
        await down.close()
