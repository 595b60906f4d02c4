"""Dial rules: DNC and calling hours never violated, retries obey limits."""

from __future__ import annotations

import dataclasses
import zoneinfo
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
)
from telephony.dialer import (
    AttemptResult,
    after_attempt,
    classify_originate,
    may_dial,
    originate_timeout_ms,
    within_calling_hours,
)

CAMPAIGN = Campaign(
    id=1,
    name="c",
    kind=CampaignKind.SALES,
    mode=DialMode.PREDICTIVE,
    status=CampaignStatus.RUNNING,
    max_attempts=3,
)
ZONES = ["Asia/Shanghai", "America/New_York", "Europe/Berlin", None]


def test_originate_reasons_from_captures() -> None:
    assert classify_originate(4) is AttemptResult.ANSWERED
    assert classify_originate(5) is AttemptResult.BUSY
    assert classify_originate(8) is AttemptResult.BUSY
    assert classify_originate(3) is AttemptResult.NO_ANSWER
    assert classify_originate(0) is AttemptResult.FAILED
    assert originate_timeout_ms(5) == 15_000


@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    dnc=st.booleans(),
    results=st.lists(st.sampled_from(list(AttemptResult)), min_size=1, max_size=8),
)
@settings(max_examples=300, deadline=None)
def test_schedule_never_breaks_dnc_hours_or_attempt_limit(
    start: datetime, zone: str | None, dnc: bool, results: list[AttemptResult]
) -> None:
    contact = CampaignContact(id=1, campaign_id=1, phone_e164="+8613800138000", timezone=zone)
    now = start
    dialled = 0
    for result in results:
        decision = may_dial(CAMPAIGN, contact, now=now, on_dnc=dnc)
        if not decision.allowed:
            if contact.next_attempt_at is not None and decision.reason == "not-due":
                now = contact.next_attempt_at
                continue
            if decision.reason == "outside-calling-hours":
                now += timedelta(minutes=37)
            continue
        assert not dnc
        assert within_calling_hours(CAMPAIGN, zone, now)
        local = now.astimezone(zoneinfo.ZoneInfo(zone or CAMPAIGN.timezone))
        assert 9 <= local.hour < 21
        dialled += 1
        status, attempts, due = after_attempt(CAMPAIGN, contact, result, now)
        contact = dataclasses.replace(
            contact, status=status, attempts=attempts, next_attempt_at=due
        )
        if due is not None:
            assert due > now
            assert within_calling_hours(CAMPAIGN, zone, due)
    assert dialled <= CAMPAIGN.max_attempts
    if dnc:
        assert dialled == 0


def test_retry_delay_per_result_and_done_after_max() -> None:
    now = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    contact = CampaignContact(id=1, campaign_id=1, phone_e164="+8613800138000")
    status, attempts, due = after_attempt(CAMPAIGN, contact, AttemptResult.BUSY, now)
    assert (status, attempts, due) == (ContactStatus.RETRY, 1, now + timedelta(minutes=10))
    last = dataclasses.replace(contact, attempts=2)
    assert after_attempt(CAMPAIGN, last, AttemptResult.NO_ANSWER, now) == (
        ContactStatus.DONE,
        3,
        None,
    )


def test_retry_falling_after_hours_moves_to_next_morning() -> None:
    now = datetime(2026, 3, 2, 12, 50, tzinfo=UTC)  # 20:50 Shanghai, +60 min is 21:50
    contact = CampaignContact(id=1, campaign_id=1, phone_e164="+8613800138000")
    _, _, due = after_attempt(CAMPAIGN, contact, AttemptResult.NO_ANSWER, now)
    assert due == datetime(2026, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 next day Shanghai


async def test_supervised_dialer_survives_crashes_and_stops_without_agents() -> None:
    from crm_core.clock import FakeClock
    from telephony.dialer_task import SupervisedDialer
    from tests.polling import eventually

    clock = FakeClock()
    agents = {"n": 2}
    steps = {"n": 0}

    async def step() -> int:
        steps["n"] += 1
        if steps["n"] == 2:
            raise RuntimeError("database went away")
        return 1

    async def available() -> int:
        return agents["n"]

    dialer = SupervisedDialer(step, available, clock, tick_seconds=1.0)
    dialer.start()
    await eventually(lambda: dialer.ticks >= 1, timeout=5, what="the first turn")
    await clock.advance(5)
    assert dialer.crashes == 1
    assert dialer.running
    placed = dialer.calls_placed
    assert placed >= 3
    agents["n"] = 0  # everyone logged out: no more calls
    turned = dialer.ticks
    await clock.advance(10)
    assert dialer.ticks >= turned + 5  # the loop kept turning …
    assert dialer.calls_placed == placed  # … and placed nothing
    await dialer.stop()
    assert not dialer.running
