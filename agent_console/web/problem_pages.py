"""Errors as pages for a browser (ADR 0077): a 403 or 404 of a page is a page in the
user's language, in the layout of the other pages, not raw JSON or aiohttp's text.

`problem_page(request, exc)` renders one; the middleware `problems_as_pages` turns the
refusals of non-API paths into pages for requests that accept HTML (API paths keep
their JSON; a redirect or a success passes through).
"""

from __future__ import annotations

from aiohttp import web

from agent_console.web import error_catalogue
from agent_console.web.declared import Handler, language_of
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.errors import ApiError
from agent_console.web.pages import render

# aiohttp's own refusals of a page path, as catalogued errors
_HTTP_IDS = {403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


def wants_html(request: web.Request) -> bool:
    if request.path.startswith(("/api/", "/ws", "/sim/", "/static/")):
        return False
    return "text/html" in request.headers.get("Accept", "")


def problem_page(request: web.Request, exc: ApiError) -> web.Response:
    """The error as a page, status and language as the JSON error would have them."""
    language = language_of(request)
    problem, _ = error_catalogue.problem_of(exc)
    title = error_catalogue.render(Problem("page.title", {"status": exc.status}), language)
    return render(
        request,
        "problem.html",
        status=exc.status,
        title=title,
        message=error_catalogue.render(problem, language),
        back=error_catalogue.render(Problem("page.back"), language),
        error_id=exc.error_id,
        code=problem.code,
    )


@web.middleware
async def problems_as_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not wants_html(request):
        return await handler(request)
    try:
        return await handler(request)
    except ApiError as exc:
        return problem_page(request, exc)
    except web.HTTPException as exc:
        error_id = _HTTP_IDS.get(exc.status)
        if error_id is None:
            raise
        return problem_page(request, ProblemError(error_id))
