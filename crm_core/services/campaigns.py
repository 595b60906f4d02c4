"""Campaign service: load a contact list into a campaign, matched to CRM customers.

DNC is checked here at load time (one read of the whole list) and again by the dialer
right before each dial (`telephony.dialer.may_dial`).
"""

from __future__ import annotations

import logging
from typing import Protocol

from crm_core.domain.models import CampaignContact
from crm_core.ports.repositories import CampaignRepository, CustomerRepository
from crm_core.services.contact_import import ImportReport, parse_contacts

log = logging.getLogger(__name__)


class DncNumbers(Protocol):
    async def all_numbers(self) -> set[str]: ...


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
    """Parse `data`, match or create customers, store the contacts; return the row report."""
    await campaigns.get(campaign_id)  # unknown campaign fails before any work
    blocked = await dnc.all_numbers()
    report = parse_contacts(data, region=region, on_dnc=blocked.__contains__)
    contacts: list[CampaignContact] = []
    for row in report.accepted:
        customer = await customers.find_by_phone(row.phone_e164)
        if customer is None and create_customers:
            customer = await customers.create(
                name=row.name or row.phone_e164, phones=[row.phone_e164], company=row.company
            )
        contacts.append(
            CampaignContact(
                id=0,
                campaign_id=campaign_id,
                phone_e164=row.phone_e164,
                name=row.name,
                customer_id=customer.id if customer else None,
                timezone=row.timezone,
                extra=dict(row.extra),
            )
        )
    stored = await campaigns.add_contacts(contacts)
    log.info(
        "campaign %s: %d contacts stored, %d rows rejected, %d merged",
        campaign_id,
        stored,
        len(report.rejected),
        report.merged,
    )
    return report
