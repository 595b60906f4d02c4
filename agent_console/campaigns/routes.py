"""The campaign routes, an `extra_setup` hook of the console:

    deps.extra_setup.append(functools.partial(setup_campaign_routes, dialer_stats=...))

Operators' routes (`operator.py`), the campaign call's card and wrap-up (`seat_hooks.py`)
and preview dialing (`preview.py`)."""

from __future__ import annotations

from aiohttp import web

from agent_console.campaigns.common import DialerStats
from agent_console.campaigns.operator import campaign_routes
from agent_console.campaigns.seat_hooks import campaign_seat_hooks
from agent_console.web.deps import DEPS_KEY


def setup_campaign_routes(
    app: web.Application,
    *,
    dialer_stats: DialerStats | None = None,
    phone_region: str = "CN",
) -> None:
    """`extra_setup` hook when the console's database is the full CRM `Database`."""
    db = app[DEPS_KEY].db
    try:
        repos = (db.campaigns, db.customers, db.dnc, db.surveys, db.cases)  # type: ignore[attr-defined]
    except AttributeError as exc:
        raise RuntimeError("campaign routes need a database with campaigns and dnc") from exc
    campaign_routes(
        campaigns=repos[0],
        customers=repos[1],
        dnc=repos[2],
        cases=repos[4],
        dialer_stats=dialer_stats,
        phone_region=phone_region,
    )(app)
    campaign_seat_hooks(app, campaigns=repos[0], dnc=repos[2], surveys=repos[3])
