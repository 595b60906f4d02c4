"""The campaign routes as one `extra_setup` hook of the console, from typed repositories:

    deps.extra_setup.append(
        setup_campaign_routes(campaigns=db.campaigns, customers=db.customers, dnc=db.dnc,
                              surveys=db.surveys, cases=db.cases, dialer_stats=...)
    )

Operators' routes (`operator.py`), the campaign call's card and wrap-up (`seat_hooks.py`)
and preview dialing (`preview.py`)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from agent_console.campaigns.common import DialerStats
from agent_console.campaigns.operator import campaign_routes
from agent_console.campaigns.seat_hooks import campaign_seat_hooks
from crm_core.ports.effects import CampaignBookingLedger
from crm_core.ports.repositories import (
    CampaignRepository,
    CaseRepository,
    CustomerRepository,
    SurveyRepository,
)
from crm_core.services.campaigns import DncNumbers


def setup_campaign_routes(
    *,
    campaigns: CampaignRepository,
    customers: CustomerRepository,
    dnc: DncNumbers,
    surveys: SurveyRepository,
    effects: CampaignBookingLedger,
    cases: CaseRepository | None = None,
    dialer_stats: DialerStats | None = None,
    phone_region: str = "CN",
) -> Callable[[web.Application], None]:
    """The `extra_setup` hook that mounts every campaign route and seat hook."""
    operator_routes = campaign_routes(
        campaigns=campaigns,
        customers=customers,
        dnc=dnc,
        cases=cases,
        dialer_stats=dialer_stats,
        phone_region=phone_region,
    )

    def setup(app: web.Application) -> None:
        operator_routes(app)
        campaign_seat_hooks(app, campaigns=campaigns, dnc=dnc, surveys=surveys, effects=effects)

    return setup
