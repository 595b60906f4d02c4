"""`Idempotency-Key`: a repeated write (double-click, retry) returns the first answer.

For every authenticated POST/PUT/PATCH/DELETE under /api that carries the header: the
first request claims (user, key) in the CRM database — shared by every instance — runs,
and its answer (status < 500) is stored; a repeat with the same key gets that answer
back (`Idempotent-Replayed: true`) and changes nothing. A repeat that arrives while the
first is still running waits for it. A failed first request (5xx or an exception)
releases the key so a retry can run.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent_console.web.auth import USER_KEY
from agent_console.web.deps import DEPS_KEY
from agent_console.web.errors import ApiError, json_errors
from crm_core.db.idempotency import IdempotencyRepo
from crm_core.domain.models import User

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
IDEMPOTENCY_KEY = web.AppKey("idempotency", IdempotencyRepo)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def idempotent_writes(request: web.Request, handler: Handler) -> web.StreamResponse:
    key = request.headers.get(HEADER)
    user = request.get(USER_KEY)
    repo = request.app.get(IDEMPOTENCY_KEY)
    if (
        key is None
        or request.method not in WRITES
        or not request.path.startswith("/api/")
        or not isinstance(user, User)
        or repo is None
    ):
        return await handler(request)
    if not _KEY.match(key):
        raise ApiError(
            400, "bad-idempotency-key", "Idempotency-Key: 8-128 letters, digits, . _ : -"
        )
    now = request.app[DEPS_KEY].clock.now()
    if not await repo.claim(user.id, key, request.method, request.path, now):
        return await _replay(repo, user, key, request)
    try:
        # errors become their JSON answers here, so a refusal is replayed like a success
        response = await json_errors(request, handler)
    except BaseException:
        await repo.release(user.id, key)
        raise
    if response.status >= 500 or not isinstance(response, web.Response):
        await repo.release(user.id, key)
        return response
    body = response.body
    text = body.decode("utf-8") if isinstance(body, bytes) else (response.text or "")
    await repo.finish(
        user.id,
        key,
        status=response.status,
        body=text,
        content_type=response.content_type or "application/json",
    )
    return response


async def _replay(
    repo: IdempotencyRepo, user: User, key: str, request: web.Request
) -> web.StreamResponse:
    deadline = time.monotonic() + 15.0
    while True:
        stored = await repo.answer(user.id, key)
        if stored is None:  # the first one failed and released the key: run this one
            raise ApiError(409, "idempotency-retry", "the first request failed; send it again")
        if stored.method != request.method or stored.path != request.path:
            raise ApiError(
                422,
                "idempotency-key-reused",
                "this Idempotency-Key was used for another request",
            )
        if stored.status is not None:
            log.info("replayed %s %s for %s", stored.method, stored.path, user.username)
            return web.Response(
                status=stored.status,
                text=stored.body or "",
                content_type=stored.content_type or "application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        if time.monotonic() > deadline:
            raise ApiError(409, "idempotency-in-progress", "the same request is still running")
        await asyncio.sleep(0.05)
