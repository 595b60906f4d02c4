"""`GET /lead`: the wallboard page."""

from __future__ import annotations

import logging

from aiohttp import web

from agent_console.web.auth import CLAIMS_KEY, SIGNER_KEY, SUPERVISORS, current_user
from agent_console.web.errors import ApiError
from agent_console.web.pages import render
from crm_core.domain.models import Role

log = logging.getLogger(__name__)


async def wallboard_page(request: web.Request) -> web.Response:
    user = current_user(request)
    if user.role not in SUPERVISORS:
        raise ApiError(403, "forbidden", "the wallboard is for team leads and managers")
    claims = request[CLAIMS_KEY]
    return render(
        request,
        "lead/wallboard.html",
        csrf_token=request.app[SIGNER_KEY].csrf_token(claims.session_id),
        scope="team" if user.role is Role.LEAD else "all",
    )
