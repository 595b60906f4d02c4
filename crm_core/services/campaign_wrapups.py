"""A campaign call's wrap-up booked on its contact, exactly once across instances
(docs/adr/0094; the event: docs/adr/0083).

`WrapUpSaved` reaches every instance (the Redis bus), and one instance may see it again
(a retry). The booking claims `(call_id, "wrapup-campaign:<wrapup_id>")` in the effects
ledger and writes the contact's disposition, the DNC entry and a follow-up's
satisfaction in the same transaction: claim and writes commit together or not at all.
An instance that finds the key claimed does nothing; a failure rolls the claim back with
the writes, so the next try books it.

The publishing instance books inside `publish`, so the contact is booked before the
HTTP answer (as before). A database outage hands the event to the worker, which tries
again with back-off for `retry_seconds`; after that the booking is logged as an error
with what it would have booked: there is no sweep, the event is the only record of the
satisfaction and the reason. Any other failure is logged and the event dropped, its
claim rolled back with it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from crm_core.domain.events import DomainEvent, WrapUpSaved
from crm_core.domain.models import CampaignContact, CampaignKind, Satisfaction
from crm_core.ports.clock import Clock
from crm_core.ports.effects import (
    CampaignBookingLedger,
    ContactBook,
)
from crm_core.services.campaigns import apply_disposition, record_satisfaction
from crm_core.services.worker import EventWorker, database_unreachable, first_line

log = logging.getLogger(__name__)

REASON_MAX = 500


def booking_key(wrapup_id: str) -> str:
    """The effect key of one saved wrap-up's campaign booking (with its call id)."""
    return f"wrapup-campaign:{wrapup_id}"


async def contact_of(
    campaigns: ContactBook, campaign_id: int, phone: str, normalize: Callable[[str], str]
) -> CampaignContact | None:
    """The campaign's contact of the number the call was with (as the card or the
    record wrote it: E.164 or not)."""
    digits = "".join(ch for ch in phone if ch in "0123456789")
    candidates = [normalize(phone), f"+{digits}"] if digits else []
    for e164 in dict.fromkeys(candidates):
        found = await campaigns.contact_by_phone(campaign_id, e164)
        if found is not None:
            return found
    return None


class CampaignWrapUps(EventWorker):
    """Books each saved wrap-up of a campaign call on its contact, once."""

    worker_name = "campaign-wrapups"
    # no sweep takes over a booking (the event is its only record): retry for longer
    retry_seconds = 600.0

    def __init__(
        self,
        *,
        ledger: CampaignBookingLedger,
        clock: Clock,
        normalize: Callable[[str], str],
    ) -> None:
        super().__init__()
        self._ledger = ledger
        self._clock = clock
        self._normalize = normalize

    async def handle(self, event: DomainEvent) -> None:
        """Bus subscriber: book at once; a database outage leaves it to the worker."""
        if not isinstance(event, WrapUpSaved) or event.campaign_id is None:
            return
        try:
            await self.book(event)
        except Exception as exc:  # the bus must go on to the other subscribers
            if not database_unreachable(exc):
                log.exception(
                    "campaign booking of wrap-up %s (call %s) failed; nothing was booked",
                    event.wrapup_id,
                    event.call_id,
                )
                return
            log.warning(
                "campaign booking of wrap-up %s (call %s): database unreachable (%s); trying again",
                event.wrapup_id,
                event.call_id,
                first_line(exc),
            )
            self.enqueue(event)

    async def apply(self, event: DomainEvent) -> None:
        if isinstance(event, WrapUpSaved):
            await self.book(event)

    def gave_up(self, event: DomainEvent, exc: Exception) -> None:
        if not isinstance(event, WrapUpSaved):
            super().gave_up(event, exc)
            return
        log.error(
            "campaign booking of wrap-up %s NOT booked: database unreachable for %.0f s (%s); "
            "book it by hand: call %s, campaign %s, number %s, disposition %r, "
            "satisfaction %s, agent %s",
            event.wrapup_id,
            self.retry_seconds,
            first_line(exc),
            event.call_id,
            event.campaign_id,
            event.phone,
            event.disposition,
            event.satisfaction,
            event.agent,
        )

    async def book(self, event: WrapUpSaved) -> bool:
        """Book the wrap-up on its campaign contact in one unit of work; True when this
        call booked it, False when it was booked already or there is nothing to book
        (no campaign, no contact of the number)."""
        if event.campaign_id is None:
            return False
        now = self._clock.now()
        async with self._ledger.transaction(now) as tx:
            if not await tx.claim(event.call_id, booking_key(event.wrapup_id)):
                return False  # another instance (or an earlier delivery) booked it
            try:
                campaign = await tx.campaigns.get(event.campaign_id)
            except LookupError:
                return False
            contact = await contact_of(tx.campaigns, campaign.id, event.phone, self._normalize)
            if contact is None:
                return False
            if campaign.kind is CampaignKind.FOLLOW_UP and event.satisfaction is not None:
                await record_satisfaction(
                    campaign,
                    contact,
                    Satisfaction(event.satisfaction),
                    now=now,
                    surveys=tx.surveys,
                    call_id=event.call_id,
                    agent=event.agent,
                    comment=event.notes,
                )
            if event.disposition:
                await apply_disposition(
                    campaign,
                    contact,
                    event.disposition,
                    reason=event.disposition_reason[:REASON_MAX],
                    now=now,
                    campaigns=tx.campaigns,
                    dnc=tx.dnc,
                )
        return True
