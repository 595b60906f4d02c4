"""Server-rendered pages: the jinja2 environment and `render` (language, security headers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from agent_console.web import error_catalogue
from agent_console.web.auth import USER_KEY
from agent_console.web.deps import DEPS_KEY
from agent_console.web.i18n import LANGUAGES, Translator, pick_language
from crm_core.domain.models import User

TEMPLATES = Path(__file__).parent.parent / "templates"
JINJA_KEY = web.AppKey("jinja", jinja2.Environment)


def make_environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every page; caller names come from the PBX and are hostile
        undefined=jinja2.StrictUndefined,
    )


def translator_for(request: web.Request, user: User | None) -> Translator:
    config = request.app[DEPS_KEY].config
    return Translator(
        pick_language(user, request.headers.get("Accept-Language", ""), config.default_language)
    )


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[JINJA_KEY]
    user = request.get(USER_KEY)
    t = translator_for(request, user if isinstance(user, User) else None)
    html = env.get_template(template).render(
        t=t,
        lang=t.language,
        languages=LANGUAGES,
        user=user,
        company=request.app[DEPS_KEY].config.company_name,
        # the error texts in the page's language, for its script (static/problems.js)
        problems=error_catalogue.messages(t.language),
        **context,
    )
    response = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
