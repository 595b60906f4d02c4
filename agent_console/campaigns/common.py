"""What the campaign routes share: who operates campaigns, the audit, the clock, uploads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import web

from agent_console.web.deps import DEPS_KEY
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.requests import audit
from crm_core.domain.models import Role

OPERATORS = (Role.LEAD, Role.MANAGER, Role.ADMIN)


MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # CONTRACTS.md: contact lists up to 32 MB


UPLOAD_CHUNK = 256 * 1024


# live dialer figures of a campaign (occupancy, abandon rate), when the dialer runs here
DialerStats = Callable[[int], dict[str, Any] | None]


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The whole request body, streamed; 413 `too-large` beyond `limit` bytes, whether the
    Content-Length announces it or a chunked (or lying) body only turns out longer.

    `request.content.read(n)` is not this: it returns what has arrived so far, which cut
    large uploads short. The app's `client_max_size` does not apply to a streamed read.
    """
    too_large = ProblemError("too-large", detail=f"uploads are limited to {limit // 2**20} MB")
    declared = request.content_length
    if declared is not None and declared > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(UPLOAD_CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


async def known_team(request: web.Request, team: int | None) -> None:
    if team is not None:
        teams = await request.app[DEPS_KEY].db.users.teams()
        if team not in {t.id for t in teams}:
            raise ProblemError(
                "bad-campaign",
                Problem("validation.invalid", {"field": "team_id"}),
                detail="team_id: expected the id of a team",
            )


def request_now(request: web.Request) -> datetime:
    return request.app[DEPS_KEY].clock.now()


async def audit_campaign(request: web.Request, action: str, campaign_id: int, detail: str) -> None:
    await audit(request, action, f"campaign:{campaign_id}", detail=detail)
