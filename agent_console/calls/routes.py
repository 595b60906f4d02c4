"""The call routes: declared operations (agent_console.web.declared) over the wrap-up
service and the telephony port."""

from __future__ import annotations

from aiohttp import web

from agent_console.calls.common import WRAPUP_KEY
from agent_console.calls.control import dial, dismiss_call, hold_call, transfer_call
from agent_console.calls.queries import get_call, list_calls
from agent_console.calls.wrapup import save_wrapup
from agent_console.live.keys import SEATS_KEY
from agent_console.web.declared import add_routes
from agent_console.web.deps import DEPS_KEY
from crm_core.services.wrapup import WrapUpService


def setup_routes(app: web.Application) -> None:
    deps = app[DEPS_KEY]
    app[WRAPUP_KEY] = WrapUpService(
        repos=deps.db,
        promiser=deps.callbacks,
        bus=deps.bus,
        clock=deps.clock,
        tasks=app[SEATS_KEY].tasks,
        callback_window_minutes=deps.config.callback_window_minutes,
        departments=deps.config.departments,
    )
    add_routes(app, list_calls, get_call, save_wrapup, hold_call, transfer_call, dismiss_call, dial)
