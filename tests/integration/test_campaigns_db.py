"""Loading a contact list into a campaign on the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from crm_core.db import open_database
from crm_core.domain.models import Campaign, CampaignKind, CampaignStatus, DialMode
from crm_core.services.campaigns import load_contacts


async def test_load_contacts_matches_customers_and_skips_dnc(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        campaign = await db.campaigns.create(
            Campaign(
                id=0,
                name="春季回访",
                kind=CampaignKind.FOLLOW_UP,
                mode=DialMode.PROGRESSIVE,
                status=CampaignStatus.DRAFT,
            )
        )
        known = await db.customers.create(name="王五", phones=["13800138000"])
        await db.dnc.add("+8613900139000", reason="asked")
        data = (
            "姓名,手机,公司\n"
            "王五,138 0013 8000,\n"
            "赵六,13700137000,ACME\n"
            "钱七,13900139000,\n"
            "坏号,12,\n"
        ).encode("gbk")
        report = await load_contacts(
            campaign.id, data, campaigns=db.campaigns, customers=db.customers, dnc=db.dnc
        )
        assert {r.reason for r in report.rejected} == {"do-not-call", "invalid-phone"}
        stored = await db.campaigns.contacts(campaign.id)
        by_phone = {c.phone_e164: c for c in stored}
        assert set(by_phone) == {"+8613800138000", "+8613700137000"}
        assert by_phone["+8613800138000"].customer_id == known.id
        created = await db.customers.find_by_phone("13700137000")
        assert created is not None
        assert created.name == "赵六"
        assert by_phone["+8613700137000"].customer_id == created.id
    finally:
        await db.close()
