"""Route name → flow, as the FastAGI server serves them (CONTRACTS.md FastAGI routes)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from crm_core.bus import InProcessBus
from crm_core.clock import SystemClock
from crm_core.ports.agi import AgiChannel
from crm_core.services.callbacks import CallbackService
from ivr_scripts import flows
from ivr_scripts.context import BusinessHours, IvrContext

Flow = Callable[[AgiChannel], Awaitable[None]]
FLOWS = {
    "welcome": flows.welcome,
    "menu": flows.menu,
    "selfservice": flows.selfservice,
    "callback": flows.callback,
    "survey": flows.survey,
}


def bind(ctx: IvrContext) -> dict[str, Flow]:
    return {name: partial(flow, ctx=ctx) for name, flow in FLOWS.items()}


def routes(*, db: Any, bus: Any = None, settings: Any, callbacks: Any = None) -> dict[str, Flow]:
    """Build the routes from the CRM database and the settings object."""
    clock = SystemClock()
    service = callbacks or CallbackService(
        db=db, bus=bus or InProcessBus(), clock=clock, settings=settings
    )
    ctx = IvrContext(
        customers=db.customers,
        cases=db.cases,
        surveys=db.surveys,
        request_callback=service.request_callback,
        clock=clock,
        hours=BusinessHours.parse(
            settings.business_hours,
            settings.business_days,
            tuple(settings.holidays),
            settings.timezone,
        ),
        company=settings.company_name,
        callback_window_minutes=settings.callback_window_minutes,
        language=settings.ivr_language,
        did_languages=settings.did_language_map(),
    )
    return bind(ctx)
