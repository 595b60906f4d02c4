"""Campaign service: load a contact list into a campaign, matched to CRM customers;
pick the next contacts to dial and book each attempt's result.

DNC is checked here at load time (one read of the whole list) and again right before
each dial (`pick_contacts`, through `dial_rules.may_dial`), by the automatic dialer
and by an agent's preview alike.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Protocol

from crm_core.domain.models import (
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    ContactStatus,
    DialMode,
    Satisfaction,
    SurveyAnswer,
)
from crm_core.ports.effects import ContactBook, DncEntries, SurveyAnswers
from crm_core.ports.repositories import (
    CampaignRepository,
    CaseRepository,
    CustomerRepository,
    NewCustomer,
)
from crm_core.services.contact_import import (
    ContactRow,
    ImportReport,
    RejectedRow,
    parse_contacts,
)
from crm_core.services.dial_rules import AttemptResult, after_attempt, may_dial, next_calling_window
from crm_core.services.followups import ClosedMatter, due_between

log = logging.getLogger(__name__)


class DncNumbers(Protocol):
    async def all_numbers(self) -> set[str]: ...
    async def contains(self, phone_e164: str) -> bool: ...
    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None: ...


# dispositions with a consequence for the contact (the rest are recorded as they are)
DO_NOT_CALL = "do_not_call"
CALL_BACK_LATER = "call_back_later"


# rows matched and stored per step: each step is a few set-based statements, and the
# event loop runs other work (screen pops, WebSocket frames) between steps
IMPORT_STEP = 2000


async def load_contacts(
    campaign_id: int,
    data: bytes,
    *,
    campaigns: CampaignRepository,
    customers: CustomerRepository,
    dnc: DncNumbers,
    region: str = "CN",
    create_customers: bool = True,
) -> ImportReport:
    """Parse `data`, match or create customers, store the contacts; return the row report.

    Set-based (docs/adr/0064-set-based-contact-import.md): the file is parsed in a worker
    thread; then per step of `IMPORT_STEP` rows one query finds the customers of all its
    numbers, one bulk insert creates the missing ones, one stores the contacts. A number
    the campaign already has (an earlier upload) is reported `already-in-campaign`.
    """
    await campaigns.get(campaign_id)  # unknown campaign fails before any work
    blocked = await dnc.all_numbers()
    report = await asyncio.to_thread(
        parse_contacts, data, region=region, on_dnc=blocked.__contains__
    )
    stored_rows: list[ContactRow] = []
    for start in range(0, len(report.accepted), IMPORT_STEP):
        rows = report.accepted[start : start + IMPORT_STEP]
        ids = await customers.ids_by_phones(
            [NewCustomer(r.phone_e164, r.name, r.company) for r in rows],
            create=create_customers,
        )
        stored = await campaigns.add_new_contacts(
            [
                CampaignContact(
                    id=0,
                    campaign_id=campaign_id,
                    phone_e164=r.phone_e164,
                    name=r.name,
                    customer_id=ids.get(r.phone_e164),
                    timezone=r.timezone,
                    extra=dict(r.extra),
                )
                for r in rows
            ]
        )
        for r in rows:
            if r.phone_e164 in stored:
                stored_rows.append(r)
            else:
                report.rejected.append(
                    RejectedRow(
                        row=r.row,
                        reason="already-in-campaign",
                        detail=f"{r.phone_e164} is already in this campaign",
                        params={"number": r.phone_e164},
                    )
                )
    if len(stored_rows) != len(report.accepted):
        report.accepted = stored_rows
        report.rejected.sort(key=lambda r: r.row)
    log.info(
        "campaign %s: %d contacts stored, %d rows rejected, %d merged",
        campaign_id,
        len(report.accepted),
        len(report.rejected),
        report.merged,
    )
    return report


async def pick_contacts(
    campaign: Campaign,
    *,
    want: int,
    now: datetime,
    by: str,
    campaigns: CampaignRepository,
    dnc: DncNumbers,
) -> list[CampaignContact]:
    """Up to `want` due contacts that may be dialed now, each claimed for `by`.

    The do-not-call list is read again here, right before the dial; a contact found on
    it is closed as DNC. One outside its calling hours is moved to its next window.
    """
    picked: list[CampaignContact] = []
    if want <= 0:
        return picked
    for contact in await campaigns.due_contacts(campaign.id, now, limit=max(want * 3, 20)):
        if len(picked) >= want:
            break
        on_dnc = await dnc.contains(contact.phone_e164)
        decision = may_dial(campaign, contact, now=now, on_dnc=on_dnc)
        if decision.reason == "do-not-call":
            await campaigns.update_contact(
                contact.id, status=ContactStatus.DNC, last_result="do_not_call"
            )
        elif decision.reason == "attempts-exhausted":
            await campaigns.update_contact(contact.id, status=ContactStatus.DONE)
        elif decision.reason == "outside-calling-hours":
            later = next_calling_window(campaign, contact.timezone, now)
            await campaigns.update_contact(contact.id, next_attempt_at=later)
        elif decision.allowed and await campaigns.claim_contact(contact.id, by=by):
            picked.append(contact)
    return picked


async def record_attempt(
    campaign: Campaign,
    contact: CampaignContact,
    result: AttemptResult,
    *,
    now: datetime,
    campaigns: CampaignRepository,
    call_id: str | None = None,
    last_result: str | None = None,
) -> CampaignContact:
    """Book one attempt: attempts + 1, and the retry time per result inside calling hours.
    `last_result` overrides the stored result word (e.g. "abandoned" for an answer that
    found no agent)."""
    status, attempts, due = after_attempt(campaign, contact, result, now)
    extra = dict(contact.extra)
    extra.pop("claimed_by", None)
    if call_id:
        extra["last_call_id"] = call_id
    return await campaigns.update_contact(
        contact.id,
        status=status,
        attempts=attempts,
        next_attempt_at=due,
        last_result=last_result or result.value,
        extra=extra,
    )


async def release_contact(
    contact: CampaignContact, *, reason: str, campaigns: CampaignRepository
) -> CampaignContact:
    """Give a claimed contact back undialed (a preview skipped "later", a failed claim)."""
    extra = {k: v for k, v in contact.extra.items() if k != "claimed_by"}
    return await campaigns.update_contact(
        contact.id, status=ContactStatus.RETRY, disposition_reason=reason, extra=extra
    )


async def apply_disposition(
    campaign: Campaign,
    contact: CampaignContact,
    disposition: str,
    *,
    reason: str = "",
    now: datetime,
    campaigns: ContactBook,
    dnc: DncEntries,
) -> CampaignContact:
    """The agent's disposition of a campaign call, with its consequence for the contact:
    "do not call" puts the number on the DNC list; "call back later" books another try."""
    fields: dict[str, object] = {"disposition": disposition, "disposition_reason": reason}
    if disposition == DO_NOT_CALL:
        await dnc.add(
            contact.phone_e164, reason=f"campaign {campaign.id}: {reason}".strip(), at=now
        )
        fields["status"] = ContactStatus.DNC
    elif disposition == CALL_BACK_LATER and contact.attempts < campaign.max_attempts:
        later = now + timedelta(minutes=campaign.retry_no_answer_minutes)
        fields["status"] = ContactStatus.RETRY
        fields["next_attempt_at"] = next_calling_window(campaign, contact.timezone, later)
    log.info("campaign %s contact %s: disposition %s", campaign.id, contact.id, disposition)
    return await campaigns.update_contact(contact.id, **fields)


FOLLOW_UP_DISPOSITIONS = ("surveyed", "call_back_later", "complaint", "wrong_number", "do_not_call")


async def create_followup_campaign(
    *,
    name: str,
    queue: str,
    start: datetime,
    end: datetime,
    campaigns: CampaignRepository,
    cases: CaseRepository,
    customers: CustomerRepository,
    mode: DialMode = DialMode.PROGRESSIVE,
    script: str = "",
) -> tuple[Campaign, int]:
    """A follow-up (回访) campaign of the customers due a visit in [start, end): monthly
    in the first year after a case was closed, quarterly after (`followups.due_between`).

    One contact per customer (their first number); the case and the visit number ride
    along in the contact's extra fields. The campaign starts as a draft.
    """
    matters = [
        ClosedMatter(customer_id=customer_id, kind="case", ref=str(case_id), closed_at=closed)
        for customer_id, case_id, closed in await cases.closed_matters(until=end)
    ]
    due = due_between(matters, start, end)
    campaign = await campaigns.create(
        Campaign(
            id=0,
            name=name,
            kind=CampaignKind.FOLLOW_UP,
            mode=mode,
            status=CampaignStatus.DRAFT,
            queue=queue,
            script=script,
            dispositions=FOLLOW_UP_DISPOSITIONS,
        )
    )
    contacts: list[CampaignContact] = []
    for visit in due:
        customer = await customers.get(visit.customer_id)
        if not customer.phones:
            continue
        contacts.append(
            CampaignContact(
                id=0,
                campaign_id=campaign.id,
                phone_e164=customer.phones[0].e164,
                name=customer.name,
                customer_id=customer.id,
                extra={
                    "case": visit.ref,
                    "visit": str(visit.visit_number),
                    "due": visit.due_at.isoformat(),
                },
            )
        )
    stored = await campaigns.add_contacts(contacts)
    log.info("follow-up campaign %s: %d customers due a visit", campaign.id, stored)
    return campaign, stored


async def record_satisfaction(
    campaign: Campaign,
    contact: CampaignContact,
    score: Satisfaction,
    *,
    now: datetime,
    surveys: SurveyAnswers,
    call_id: str | None,
    agent: str | None,
    comment: str = "",
) -> SurveyAnswer:
    """The follow-up's answer on the five-step scale, stored with the call and campaign."""
    return await surveys.add(
        SurveyAnswer(
            id=None,
            call_id=call_id,
            customer_id=contact.customer_id,
            score=score,
            at=now,
            campaign_id=campaign.id,
            agent=agent,
            comment=comment[:500],
        )
    )
