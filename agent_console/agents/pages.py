"""Server-rendered pages of signing in: login, the agent console, logout, the language."""

from __future__ import annotations

import secrets
import time
from typing import Any

from aiohttp import web

from agent_console.agents.login import check_login
from agent_console.live.keys import HUB_KEY
from agent_console.web import error_catalogue
from agent_console.web.auth import (
    CLAIMS_KEY,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SIGNER_KEY,
    USER_KEY,
    USERS_KEY,
    current_user,
)
from agent_console.web.deps import DEPS_KEY
from agent_console.web.errors import ApiError
from agent_console.web.i18n import LANGUAGES
from agent_console.web.pages import render, translator_for
from crm_core.domain.models import Role, User


def _cookie_args(request: web.Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "Lax", "secure": request.secure, "path": "/"}


async def login_page(request: web.Request) -> web.Response:
    if isinstance(request.get(USER_KEY), User):
        raise web.HTTPFound("/")
    return _login_form(request)


def _login_form(
    request: web.Request, error: str = "", username: str = "", status: int = 200
) -> web.Response:
    token = secrets.token_urlsafe(18)
    response = render(
        request, "login.html", status=status, csrf=token, error=error, username=username
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **_cookie_args(request))
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    presented = str(form.get("csrf", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    t = translator_for(request, None)
    if not expected or not secrets.compare_digest(presented, expected):
        return _login_form(request, t("login.expired"), username, status=403)
    try:
        user = await check_login(request, username, password)
    except ApiError as exc:
        message = t("login.throttled") if exc.status == 429 else t("login.failed")
        return _login_form(request, message, username, status=exc.status)
    ttl = request.app[DEPS_KEY].config.session_ttl_seconds
    token, _ = request.app[SIGNER_KEY].issue(user, kind="session", ttl=ttl, now=time.time())
    response = web.HTTPFound("/")
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl), **_cookie_args(request))
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    claims = request.get(CLAIMS_KEY)
    if claims is not None:
        await request.app[SIGNER_KEY].revoke(claims, now=time.time())
        request.app[HUB_KEY].close_user(current_user(request).username)
    response = web.HTTPFound("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


async def set_language(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    form = await request.post()
    language = str(form.get("language", ""))
    if language in LANGUAGES:
        await request.app[DEPS_KEY].db.users.set_language(user.id, language)
        request.app[USERS_KEY].forget(user.id)
    raise web.HTTPFound(
        str(form.get("next", "/")) if str(form.get("next", "/")).startswith("/") else "/"
    )


async def console_page(request: web.Request) -> web.Response:
    user = current_user(request)
    deps = request.app[DEPS_KEY]
    claims = request[CLAIMS_KEY]
    t = translator_for(request, user)
    config = deps.config
    boot = {
        "me": {
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "member_name": user.member_name,
            "has_phone": bool(user.interface),
            "queues": list(user.queues),
        },
        "company": config.company_name,
        "pause_reasons": list(config.pause_reasons),
        "dispositions": list(config.dispositions),
        "departments": list(config.departments),
        "callback_minutes": config.callback_window_minutes,
        "ring_limit_seconds": config.ring_limit_seconds,
        "i18n": t.all(),
        # the catalogue's message codes, so the console renders `code` + `params` itself
        "problems": dict(error_catalogue.messages(t.language)),
        "lang": t.language,
    }
    return render(
        request,
        "console.html",
        csrf_token=request.app[SIGNER_KEY].csrf_token(claims.session_id),
        boot=boot,
        is_supervisor=user.role in (Role.LEAD, Role.MANAGER, Role.ADMIN),
    )


def setup_page_routes(app: web.Application) -> None:
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", set_language)
    app.router.add_get("/", console_page)
