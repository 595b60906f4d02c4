"""Outbound dial rules applied before and after every call attempt, by the automatic
dialer (`telephony.dialer`) and by an agent dialing a preview contact alike.

Pure and clock-driven (times are passed in), so the rules that must never be broken —
no call outside the contact's calling hours, no call to a DNC number, no more attempts
than the campaign allows — are checked by property tests over random schedules.
The pacing math (how many calls now) lives in `telephony.pacing`; these rules live in
`crm_core` because the console's preview dialing applies them too.
"""

from __future__ import annotations

import enum
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from crm_core.domain.models import Campaign, CampaignContact, ContactStatus

MIN_RING_SECONDS = 15  # an unanswered call rings at least this long (Originate timeout)


class AttemptResult(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


# Asterisk originate reasons (OriginateResponse / captures): 4 answered, 5 busy,
# 8 congestion, 3 no answer (also 1 hung up while ringing), 0 failure
_REASONS = {
    4: AttemptResult.ANSWERED,
    5: AttemptResult.BUSY,
    8: AttemptResult.BUSY,
    3: AttemptResult.NO_ANSWER,
    1: AttemptResult.NO_ANSWER,
}


def classify_originate(reason: int) -> AttemptResult:
    return _REASONS.get(reason, AttemptResult.FAILED)


def originate_timeout_ms(ring_seconds: int = 30) -> int:
    return max(MIN_RING_SECONDS, ring_seconds) * 1000


def _hhmm(text: str) -> time:
    hh, mm = text.split(":")
    return time(int(hh), int(mm))


def within_calling_hours(campaign: Campaign, contact_tz: str | None, now: datetime) -> bool:
    """True when `now` (aware) is inside the campaign's hours in the contact's zone."""
    zone = zoneinfo.ZoneInfo(contact_tz or campaign.timezone)
    local = now.astimezone(zone).time()
    return _hhmm(campaign.calling_hours_start) <= local < _hhmm(campaign.calling_hours_end)


def next_calling_window(campaign: Campaign, contact_tz: str | None, after: datetime) -> datetime:
    """The first instant at or after `after` that is inside calling hours (UTC-aware)."""
    if within_calling_hours(campaign, contact_tz, after):
        return after
    zone = zoneinfo.ZoneInfo(contact_tz or campaign.timezone)
    local = after.astimezone(zone)
    start = _hhmm(campaign.calling_hours_start)
    candidate = datetime.combine(local.date(), start, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), start, tzinfo=zone)
    return candidate.astimezone(after.tzinfo)


CLOSED = (ContactStatus.DONE, ContactStatus.DNC, ContactStatus.FAILED)


def attempts_left(campaign: Campaign, contact: CampaignContact) -> int:
    """The one definition of "attempts left", for the results page, the CSV export and
    the agent's card alike: a closed contact (reached, abandoned with a callback owed,
    out of attempts, do-not-call) has none, whatever its attempt count (ADR 0045)."""
    if contact.status in CLOSED:
        return 0
    return max(0, campaign.max_attempts - contact.attempts)


def waiting_for_hours(campaign: Campaign, now: datetime) -> dict[str, str] | None:
    """Why a running campaign places no call although it runs: outside its calling
    hours (in the campaign's own time zone), with the next opening. None: in hours."""
    if within_calling_hours(campaign, None, now):
        return None
    opens = next_calling_window(campaign, None, now)
    local = opens.astimezone(zoneinfo.ZoneInfo(campaign.timezone))
    return {
        "reason": "outside-calling-hours",
        "until": opens.isoformat(),
        "until_local": local.strftime("%Y-%m-%d %H:%M"),
        "timezone": campaign.timezone,
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class DialDecision:
    allowed: bool
    reason: str  # "ok", "do-not-call", "outside-calling-hours", "attempts-exhausted", "not-due"


def may_dial(
    campaign: Campaign,
    contact: CampaignContact,
    *,
    now: datetime,
    on_dnc: bool,
) -> DialDecision:
    """Checked right before each dial (DNC is re-read then, not trusted from load time)."""
    if on_dnc:
        return DialDecision(allowed=False, reason="do-not-call")
    if contact.status in CLOSED or contact.attempts >= campaign.max_attempts:
        return DialDecision(allowed=False, reason="attempts-exhausted")
    if contact.next_attempt_at is not None and contact.next_attempt_at > now:
        return DialDecision(allowed=False, reason="not-due")
    if not within_calling_hours(campaign, contact.timezone, now):
        return DialDecision(allowed=False, reason="outside-calling-hours")
    return DialDecision(allowed=True, reason="ok")


def after_attempt(
    campaign: Campaign, contact: CampaignContact, result: AttemptResult, now: datetime
) -> tuple[ContactStatus, int, datetime | None]:
    """(new status, attempts, next attempt time) after one attempt ended with `result`."""
    attempts = contact.attempts + 1
    if result is AttemptResult.ANSWERED:
        return ContactStatus.DONE, attempts, None
    if attempts >= campaign.max_attempts:
        return ContactStatus.DONE, attempts, None
    delay = {
        AttemptResult.BUSY: campaign.retry_busy_minutes,
        AttemptResult.NO_ANSWER: campaign.retry_no_answer_minutes,
        AttemptResult.FAILED: campaign.retry_failed_minutes,
    }[result]
    due = next_calling_window(campaign, contact.timezone, now + timedelta(minutes=delay))
    return ContactStatus.RETRY, attempts, due
