"""The working rules, decided in one place (docs/adr/0070).

Pure functions over a ring and over a finished call's record. The tracker uses them to
flag a `CallRecord` (`rule_violations`, `callback_due_at`); `RingRuleService`,
`CallbackService` and the live board use the same functions to act on it, so the flag
on the record and what the services do can never disagree.

- Rule 2, answer within three rings: an offer answered after `limit` is a late answer
  (exactly at the limit is in time); an offer rung out unanswered after ringing the
  whole limit is a missed call. An offer the PBX took back before the limit (a shorter
  queue timeout, a colleague's phone during a transfer) did not let the third ring end.
- Rules 3 and 4, call back within the window: a caller who gave up in the queue after
  more than the abandon threshold (exactly the threshold is not), and a customer the
  dialer reached with no agent free, are owed a callback due `window` after the call.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from crm_core.domain.models import (
    CallbackReason,
    CallOutcome,
    CallRecord,
    Direction,
    Offer,
    OfferResult,
    ViolationKind,
)

RING_LIMIT_FLAG = ViolationKind.RING_LIMIT.value  # the record's flag: "ring_limit"


def ring_violation(
    result: OfferResult | None, ring_seconds: float, limit: float
) -> ViolationKind | None:
    """What one ended offer did to rule 2: a late answer, a missed call, or nothing."""
    if result == OfferResult.ANSWERED and ring_seconds > limit:
        return ViolationKind.LATE_ANSWER
    if result == OfferResult.NO_ANSWER and ring_seconds >= limit:
        return ViolationKind.MISSED_CALL
    return None


def offer_violation(offer: Offer, limit: float) -> ViolationKind | None:
    return ring_violation(offer.result, offer.ring_seconds, limit)


def call_rule_violations(offers: Iterable[Offer], limit: float) -> tuple[str, ...]:
    """The record's `rule_violations`: ("ring_limit",) when any offer broke rule 2."""
    if any(offer_violation(o, limit) is not None for o in offers):
        return (RING_LIMIT_FLAG,)
    return ()


def callback_owed(record: CallRecord, abandon_threshold: float) -> CallbackReason | None:
    """Why a finished call owes a callback, or None.

    A call whose end was not seen (the AMI link was down and the PBX kept no record) is
    never an abandon (the tracker does not know who hung up), so it owes nothing."""
    if record.outcome != CallOutcome.ABANDONED:
        return None
    if record.campaign_id is not None:
        return CallbackReason.DIALER_ABANDON  # answered by the customer, no agent free
    if record.direction == Direction.INBOUND and record.wait_seconds > abandon_threshold:
        return CallbackReason.ABANDONED
    return None


def callback_due(at: datetime, window: timedelta) -> datetime:
    """When an owed callback is due: the window after the event that owes it."""
    return at + window


def callback_in_time(at: datetime, due_at: datetime) -> bool:
    """A callback made (or the customer reached) at `at` kept the window when not after due."""
    return at <= due_at
