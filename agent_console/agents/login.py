"""Logging in and out by API, and the signed-in user (`/api/me`)."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from datetime import datetime

from aiohttp import web

from agent_console.agents.serializers import user_json
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.auth import CLAIMS_KEY, SESSION_COOKIE, SIGNER_KEY, USERS_KEY, current_user
from agent_console.web.edge import check_text
from agent_console.web.errors import ApiError
from agent_console.web.forwarded import client_ip
from agent_console.web.requests import deps, json_body
from agent_console.web.throttle import LoginLimiter
from crm_core.domain.models import User
from crm_core.passwords import hash_password, verify_password

THROTTLE_KEY = web.AppKey("login_throttle", LoginLimiter)


async def check_login(request: web.Request, username: str, password: str) -> User:
    """Throttled password check shared by the login form and `POST /api/login`."""
    check_text(username, "username")
    check_text(password, "password")
    throttle = request.app[THROTTLE_KEY]
    ip = client_ip(request)
    wait = await throttle.retry_after(username, ip)
    if wait > 0:
        raise ApiError(429, "rate-limited", f"too many failed logins; try again in {int(wait)} s")
    db = deps(request).db
    stored = await db.users.password_hash(username) if username else None
    user = await db.users.get_by_username(username) if stored else None
    # argon2 takes tens of ms of CPU: keep it off the loop that delivers screen pops.
    # An unknown username costs the same check, so timing does not tell it apart.
    loop = asyncio.get_running_loop()
    checked = stored if stored is not None else _dummy_hash()
    ok = await loop.run_in_executor(None, verify_password, checked, password)
    if not ok or stored is None or user is None or not user.active:
        await throttle.failed(username, ip, account_exists=stored is not None)
        raise ApiError(401, "bad-credentials", "wrong username or password")
    await throttle.succeeded(username, ip)
    return user


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


async def api_login(request: web.Request) -> web.Response:
    body = await json_body(request)
    user = await check_login(request, str(body.get("username", "")), str(body.get("password", "")))
    ttl = deps(request).config.session_ttl_seconds
    token, claims = request.app[SIGNER_KEY].issue(user, kind="bearer", ttl=ttl, now=time.time())
    return web.json_response(
        {
            "token": token,
            "token_type": "Bearer",
            "expires_at": datetime.fromtimestamp(claims.expires).astimezone().isoformat(),
            "user": user_json(user),
        }
    )


async def api_logout(request: web.Request) -> web.Response:
    claims = request.get(CLAIMS_KEY)
    if claims is not None:
        await request.app[SIGNER_KEY].revoke(claims, now=time.time())
        request.app[HUB_KEY].close_user(current_user(request).username)
    response = web.json_response({"ok": True})
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = current_user(request)
    seat = request.app[SEATS_KEY].seat(user.username)
    return web.json_response(
        {**user_json(user), "agent_state": seat.state.to_json() if seat else None}
    )


async def patch_me(request: web.Request) -> web.Response:
    user = current_user(request)
    body = await json_body(request)
    language = body.get("language")
    if language not in ("zh-CN", "en", ""):
        raise ApiError(400, "bad-language", "language must be zh-CN, en or empty")
    await deps(request).db.users.set_language(user.id, str(language))
    request.app[USERS_KEY].forget(user.id)
    return web.json_response({"language": language})
