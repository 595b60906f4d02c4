"""Logging in and out by API, and the signed-in user (`/api/me`)."""

from __future__ import annotations

import asyncio
import functools
import secrets
import time
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import web

from agent_console.agents.serializers import AgentStateReply, UserReply
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.auth import ANY_ROLE, CLAIMS_KEY, SESSION_COOKIE, SIGNER_KEY, USERS_KEY
from agent_console.web.declared import Given, operation
from agent_console.web.edge import check_text
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.forwarded import client_ip
from agent_console.web.models import Body, LongText, NoBody, NoQuery, Reply, ShortText, refuse_as
from agent_console.web.requests import deps
from agent_console.web.throttle import LoginLimiter
from crm_core.domain.models import User
from crm_core.passwords import hash_password, verify_password

THROTTLE_KEY = web.AppKey("login_throttle", LoginLimiter)
AUTH_SCHEME = "Bearer"


async def check_login(request: web.Request, username: str, password: str) -> User:
    """Throttled password check shared by the login form and `POST /api/login`."""
    check_text(username, "username")
    check_text(password, "password")
    throttle = request.app[THROTTLE_KEY]
    ip = client_ip(request)
    wait = await throttle.retry_after(username, ip)
    if wait > 0:
        raise ProblemError(
            "rate-limited", detail=f"too many failed logins; try again in {int(wait)} s"
        )
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
        raise ProblemError("bad-credentials", detail="wrong username or password")
    await throttle.succeeded(username, ip)
    return user


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


class LoginBody(Body):
    username: ShortText
    password: LongText


class LoginReply(Reply):
    token: str
    token_type: str = AUTH_SCHEME
    expires_at: str
    user: UserReply


class Ok(Reply):
    ok: bool = True


class MeReply(UserReply):
    agent_state: AgentStateReply | None


class LanguageBody(Body):
    language: Annotated[Literal["zh-CN", "en", ""], refuse_as("bad-language")]


class LanguageReply(Reply):
    language: str


@operation(
    "POST",
    "/api/login",
    summary="Log in; returns a bearer token",
    body=LoginBody,
    response=LoginReply,
    errors=("bad-credentials", "rate-limited"),
)
async def api_login(request: web.Request, given: Given[LoginBody, NoQuery]) -> Reply:
    user = await check_login(request, given.body.username, given.body.password)
    ttl = deps(request).config.session_ttl_seconds
    token, claims = request.app[SIGNER_KEY].issue(user, kind="bearer", ttl=ttl, now=time.time())
    return LoginReply(
        token=token,
        expires_at=datetime.fromtimestamp(claims.expires).astimezone().isoformat(),
        user=UserReply.of(user),
    )


@operation("POST", "/api/logout", summary="End this session", response=Ok)
async def api_logout(request: web.Request, given: Given[NoBody, NoQuery]) -> web.StreamResponse:
    claims = request.get(CLAIMS_KEY)
    if claims is not None:
        await request.app[SIGNER_KEY].revoke(claims, now=time.time())
        request.app[HUB_KEY].close_user(given.user.username)
    response = web.json_response(Ok().model_dump())
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@operation(
    "GET",
    "/api/me",
    summary="The signed-in user and their agent state",
    roles=ANY_ROLE,
    response=MeReply,
)
async def me(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    user = given.user
    seat = request.app[SEATS_KEY].seat(user.username)
    state = AgentStateReply.model_validate(seat.state.to_json()) if seat else None
    return MeReply(**UserReply.of(user).model_dump(), agent_state=state)


@operation(
    "PATCH",
    "/api/me",
    summary="Set the UI language",
    roles=ANY_ROLE,
    body=LanguageBody,
    response=LanguageReply,
    errors=("bad-language",),
)
async def patch_me(request: web.Request, given: Given[LanguageBody, NoQuery]) -> Reply:
    user, language = given.user, given.body.language
    await deps(request).db.users.set_language(user.id, language)
    request.app[USERS_KEY].forget(user.id)
    return LanguageReply(language=language)
