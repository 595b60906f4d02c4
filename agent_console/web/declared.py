"""Declared operations: request and response models that validate every body and query at
the edge and generate the OpenAPI document (ADR 0076).

    class TransferBody(Body):
        target: ShortText
        kind: Annotated[Literal["queue", "agent"], refuse_as("bad-kind")]

    class Transferred(Reply):
        call_id: str

    @operation(
        "POST", "/api/calls/{call_id}/transfer", summary="Blind transfer",
        roles=(Role.AGENT,), body=TransferBody, response=Transferred,
        errors=("no-such-call", "no-such-channel"),
    )
    async def transfer(request: web.Request, given: Given[TransferBody, NoQuery]) -> Reply:
        ...  # given.body is a TransferBody, given.user the signed-in agent
        return Transferred(call_id=...)

    add_routes(app, transfer)             # the route table is the only registry
    openapi_document(app)                 # every declared route (web/openapi.py)

Every route of the API is declared (the web pages are not: they are HTML). A new one:
(1) a `Body`/`Query` model of what it reads with the types below (a field whose refusal
has its own id: `refuse_as("bad-kind")`); (2) a `Reply` model of what it answers;
(3) `@operation(...)` with its method, path, roles and the `error_id`s it raises
(`errors=`, each in the catalogue); (4) the handler reads `given.body`/`given.query`/
`given.user` and raises `ProblemError(id)` (status from the catalogue); (5) the
feature's routes.py adds it with `add_routes`.

The body goes through `agent_console.web.edge` first (UTF-8, depth, NaN, NUL and control
characters, 64-bit whole numbers), then the model in pydantic's strict JSON mode (no "5"
for 5, no true for 1). The query goes through the model in lax mode (its values are text);
an empty query value counts as absent. A refusal is the project's JSON error with an
`error_id` (`agent_console.web.error_catalogue`), its message in the user's language.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar, get_origin, overload

from aiohttp import web
from pydantic import (
    ValidationError,
)
from pydantic_core import ErrorDetails

from agent_console.web import error_catalogue
from agent_console.web.auth import USER_KEY, require
from agent_console.web.deps import DEPS_KEY
from agent_console.web.edge import (
    parse_json_object,
)
from agent_console.web.error_catalogue import Param, Problem, ProblemError
from agent_console.web.errors import ApiError
from agent_console.web.i18n import pick_language
from agent_console.web.models import (
    Body,
    JsonSchema,
    NoBody,
    NoQuery,
    Query,
    Reply,
)
from crm_core.domain.models import Role, User
from crm_core.ports.repositories import Conflict, NotFound
from crm_core.ports.telephony import TelephonyError

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- declarations

B = TypeVar("B", bound=Body)
Q = TypeVar("Q", bound=Query)


@dataclass(frozen=True, slots=True)
class Given(Generic[B, Q]):
    """What a declared handler is handed: the validated body and query, and the user."""

    body: B
    query: Q
    maybe_user: User | None

    @property
    def user(self) -> User:
        if self.maybe_user is None:
            raise ProblemError("unauthenticated")
        return self.maybe_user


@dataclass(frozen=True, slots=True)
class Declaration:
    method: str
    path: str
    summary: str
    roles: tuple[Role, ...]
    body: type[Body] | None
    query: type[Query] | None
    response: type[Reply] | None
    errors: tuple[str, ...]
    status: int
    tag: str
    name: str
    # the media types of a body the handler reads itself (an upload), for the document
    raw_body: Mapping[str, JsonSchema] | None = None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Result = Reply | web.StreamResponse
DeclaredFn = Callable[[web.Request, Given[B, Q]], Awaitable[Result]]
_ATTR: Final = "__declaration__"


@overload
def operation(
    method: str,
    path: str,
    *,
    summary: str,
    body: type[B],
    query: type[Q],
    roles: tuple[Role, ...] = (),
    response: type[Reply] | None = None,
    errors: tuple[str, ...] = (),
    status: int = 200,
    tag: str = "console",
    raw_body: Mapping[str, JsonSchema] | None = None,
) -> Callable[[DeclaredFn[B, Q]], Handler]: ...


@overload
def operation(
    method: str,
    path: str,
    *,
    summary: str,
    body: type[B],
    query: None = None,
    roles: tuple[Role, ...] = (),
    response: type[Reply] | None = None,
    errors: tuple[str, ...] = (),
    status: int = 200,
    tag: str = "console",
    raw_body: Mapping[str, JsonSchema] | None = None,
) -> Callable[[DeclaredFn[B, NoQuery]], Handler]: ...


@overload
def operation(
    method: str,
    path: str,
    *,
    summary: str,
    body: None = None,
    query: type[Q],
    roles: tuple[Role, ...] = (),
    response: type[Reply] | None = None,
    errors: tuple[str, ...] = (),
    status: int = 200,
    tag: str = "console",
    raw_body: Mapping[str, JsonSchema] | None = None,
) -> Callable[[DeclaredFn[NoBody, Q]], Handler]: ...


@overload
def operation(
    method: str,
    path: str,
    *,
    summary: str,
    body: None = None,
    query: None = None,
    roles: tuple[Role, ...] = (),
    response: type[Reply] | None = None,
    errors: tuple[str, ...] = (),
    status: int = 200,
    tag: str = "console",
    raw_body: Mapping[str, JsonSchema] | None = None,
) -> Callable[[DeclaredFn[NoBody, NoQuery]], Handler]: ...


def operation(
    method: str,
    path: str,
    *,
    summary: str,
    body: type[Body] | None = None,
    query: type[Query] | None = None,
    roles: tuple[Role, ...] = (),
    response: type[Reply] | None = None,
    errors: tuple[str, ...] = (),
    status: int = 200,
    tag: str = "console",
    raw_body: Mapping[str, JsonSchema] | None = None,
) -> Callable[[Callable[[web.Request, Any], Awaitable[Result]]], Handler]:
    """Declare an operation over a handler `(request, given) -> Reply | StreamResponse`;
    the result is a plain aiohttp handler that carries its declaration (the overloads
    above are the typed face; this body sees every model as Body/Query). `raw_body`
    documents a body the handler streams itself (`{"text/csv": {"type": "string"}}`):
    it is not read or validated here."""
    for error_id in errors:
        error_catalogue.entry(error_id)  # only catalogued ids may be declared

    def declare(fn: Callable[[web.Request, Any], Awaitable[Result]]) -> Handler:
        decl = Declaration(
            method.upper(),
            path,
            summary,
            roles,
            body,
            query,
            response,
            errors,
            status,
            tag,
            fn.__name__,
            raw_body,
        )

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                user = require(request, *roles) if roles else _user(request)
                given: Given[Body, Query] = Given(
                    await _read_body(request, body), _read_query(request, query), user
                )
                result = await fn(request, given)
            except ApiError as exc:
                return problem_response(request, exc)
            except NotFound as exc:
                return problem_response(request, ApiError(404, "not-found", str(exc)))
            except Conflict as exc:
                return problem_response(request, ApiError(409, "conflict", str(exc)))
            except TelephonyError as exc:
                log.warning("telephony command failed: %s %s", exc.error_id, exc.message)
                known = error_catalogue.ERRORS.get(exc.error_id)
                code = known.status if known is not None else 502
                return problem_response(request, ApiError(code, exc.error_id, exc.message))
            if isinstance(result, web.StreamResponse):
                return result
            if response is not None and not isinstance(result, response):
                raise TypeError(
                    f"{decl.name} returned {type(result).__name__}, declared {response.__name__}"
                )
            return web.json_response(result.model_dump(mode="json", by_alias=True), status=status)

        handle.__name__ = fn.__name__
        handle.__qualname__ = fn.__qualname__
        handle.__doc__ = fn.__doc__
        setattr(handle, _ATTR, decl)
        return handle

    return declare


def declaration_of(handler: object) -> Declaration | None:
    found = getattr(handler, _ATTR, None)
    return found if isinstance(found, Declaration) else None


def add_routes(app: web.Application, *handlers: Handler) -> None:
    """Add declared handlers to the app's router at their declared method and path."""
    for handler in handlers:
        decl = declaration_of(handler)
        if decl is None:
            raise TypeError(f"{handler!r} is not a declared operation")
        app.router.add_route(decl.method, decl.path, handler)


def _user(request: web.Request) -> User | None:
    user = request.get(USER_KEY)
    return user if isinstance(user, User) else None


# ---------------------------------------------------------------- reading requests


async def _read_body(request: web.Request, model: type[B] | None) -> B | NoBody:
    if model is None:
        return NoBody()
    raw = await request.read()  # the app's client_max_size answers 413 first
    if not raw.strip() and not body_required(model):
        raw = b"{}"  # a body of optional fields only may be left out
    parse_json_object(raw)  # the edge checks of ADR 0062, before any model sees it
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise refusal(exc, "bad-field") from exc


def body_required(model: type[Body]) -> bool:
    """A body whose fields are all optional may be left out."""
    return any(info.is_required() for info in model.model_fields.values())


def _read_query(request: web.Request, model: type[Q] | None) -> Q | NoQuery:
    if model is None:
        return NoQuery()
    values: dict[str, object] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        given = [v for v in request.query.getall(key, []) if v != ""]
        if not given:
            continue
        many = get_origin(info.annotation) in (list, tuple, set, frozenset)
        values[key] = given if many else given[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise refusal(exc, "bad-parameter") from exc


def read_query(request: web.Request, model: type[Q]) -> Q:
    """A page's query string through a declared model (pages are not operations; a
    refusal is the same catalogued error, shown as a page by `problem_pages`)."""
    values = _read_query(request, model)
    if not isinstance(values, model):  # pragma: no cover - `model` is given
        raise TypeError(model)
    return values


_RANGE = frozenset(
    ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of")
)
_KIND: Final[Mapping[str, str]] = {
    "missing": "validation.missing",
    "string_too_long": "validation.too_long",
    "too_long": "validation.too_long",
    "string_too_short": "validation.too_short",
    "too_short": "validation.too_short",
    "enum": "validation.choice",
    "literal_error": "validation.choice",
    "bad-text": "validation.text",
    "bad-date": "validation.date",
}


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "body"


def _error_id(error: ErrorDetails, default: str) -> str:
    kind = error["type"]
    if kind in error_catalogue.ERRORS:
        return kind
    if kind in _RANGE:
        return "out-of-range"
    return default


def refusal(exc: ValidationError, default: str) -> ProblemError:
    """The first of a model's refusals as a catalogued error (`default`: `bad-field` for
    a body, `bad-parameter` for a query)."""
    first = exc.errors(include_url=False)[0]
    error_id = _error_id(first, default)
    kind = first["type"]
    code = _KIND.get(kind)
    if code is None:
        code = "validation.range" if kind in _RANGE else "validation.invalid"
        if kind.startswith(("date", "datetime", "timezone")):
            code = "validation.date"
    params: dict[str, Param] = {"field": _where(first["loc"])}
    return ProblemError(
        error_id, Problem(code, params), detail=f"{params['field']}: {first['msg']}"
    )


# ---------------------------------------------------------------- answering errors


def language_of(request: web.Request) -> str:
    """The language a page would be shown in (`agent_console.pages`): the user's setting,
    the configured default, the browser's Accept-Language."""
    services = request.app.get(DEPS_KEY)
    default = services.config.default_language if services is not None else ""
    return pick_language(_user(request), request.headers.get("Accept-Language", ""), default)


def problem_response(request: web.Request, exc: ApiError) -> web.Response:
    """The JSON error: `error_id`, `message` in the user's language, `code` + `params`."""
    return web.json_response(error_catalogue.payload(exc, language_of(request)), status=exc.status)
