"""Declared operations (ADR 0076): models validate bodies and queries at the edge, a refusal
is the project's JSON error with an `error_id`, and the OpenAPI document is generated
from the declarations of the app's routes."""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Annotated, Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import Field

from agent_console.web.auth import USER_KEY
from agent_console.web.declared import Given, Handler, add_routes, declaration_of, operation
from agent_console.web.edge import MAX_JSON_DEPTH, edge_checks
from agent_console.web.error_catalogue import ProblemError
from agent_console.web.errors import json_errors
from agent_console.web.models import (
    Body,
    Day,
    Id,
    Int64,
    LongText,
    Moment,
    NoBody,
    NoQuery,
    Phone,
    Query,
    Reply,
    ShortText,
    refuse_as,
)
from agent_console.web.openapi import declared_routes, openapi_document
from crm_core.domain.models import Role, User
from crm_core.ports.repositories import NotFound
from crm_core.ports.telephony import TelephonyError


class Mode(enum.StrEnum):
    LISTEN = "listen"
    WHISPER = "whisper"


class NoteBody(Body):
    customer_id: Id
    note: LongText
    subject: ShortText = ""
    phone: Phone | None = None
    count: Annotated[int, Field(ge=0, le=10)] = 0
    big: Int64 = 0
    due: Moment | None = None
    mode: Annotated[Mode, refuse_as("bad-mode")] = Mode.LISTEN
    kind: Annotated[Literal["a", "b"], refuse_as("bad-kind")] = "a"
    tags: list[ShortText] = Field(default_factory=list)


class NoteQuery(Query):
    day: Day | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50
    agent: ShortText | None = None
    outcome: list[ShortText] = Field(default_factory=list)
    since: Moment | None = None


class Noted(Reply):
    customer_id: int
    note: str
    mode: Mode
    day: date | None
    limit: int
    outcomes: list[str]
    due: datetime | None
    by: str


@operation(
    "POST",
    "/api/notes",
    summary="Add a note",
    roles=(Role.AGENT, Role.LEAD),
    body=NoteBody,
    query=NoteQuery,
    response=Noted,
    errors=("not-found", "do-not-call"),
    status=201,
)
async def add_note(request: web.Request, given: Given[NoteBody, NoteQuery]) -> Reply:
    if given.body.note == "closed":
        raise ProblemError("do-not-call")
    if given.body.note == "gone":
        raise NotFound("no such customer")
    if given.body.note == "pbx":
        raise TelephonyError("ami-timeout", "no answer from Asterisk")
    return Noted(
        customer_id=given.body.customer_id,
        note=given.body.note,
        mode=given.body.mode,
        day=given.query.day,
        limit=given.query.limit,
        outcomes=list(given.query.outcome),
        due=given.body.due,
        by=given.user.username,
    )


class Status(Reply):
    ok: bool


@operation("GET", "/api/status", summary="Is it up")
async def status(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    return Status(ok=True)


@operation("GET", "/api/items/{item_id}", summary="One item", roles=(Role.LEAD,))
async def item(request: web.Request, given: Given[NoBody, NoQuery]) -> web.StreamResponse:
    return web.json_response({"id": request.match_info["item_id"]})


@operation("GET", "/api/wrong", summary="Returns the wrong model", response=Noted)
async def wrong(request: web.Request, given: Given[NoBody, NoQuery]) -> Reply:
    return Status(ok=False)


async def plain(request: web.Request) -> web.StreamResponse:
    return web.Response(text="not declared")


AGENT = User(id=1, username="agent1", display_name="Agent 1", role=Role.AGENT)


@web.middleware
async def as_agent(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("X-Test-User") == "agent1":
        request[USER_KEY] = AGENT
    return await handler(request)


def make_app() -> web.Application:
    app = web.Application(middlewares=[json_errors, edge_checks, as_agent])
    add_routes(app, add_note, status, item, wrong)
    return app


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(make_app())) as c:
        yield c


AS_AGENT = {"X-Test-User": "agent1", "Accept-Language": "en"}
GOOD = {"customer_id": 7, "note": "called back"}


async def _post(
    client: TestClient[web.Request, web.Application],
    body: bytes | dict[str, object],
    query: str = "",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.post(f"/api/notes{query}", data=data, headers=headers or AS_AGENT) as res:
        return res.status, await res.json()


async def test_a_valid_request_reaches_the_handler_typed(
    client: TestClient[web.Request, web.Application],
) -> None:
    body = {**GOOD, "due": "2030-01-02T03:04:05+08:00", "mode": "whisper", "extra": 1}
    status_, reply = await _post(client, body, "?day=2030-05-06&limit=7&outcome=a&outcome=b&agent=")
    assert status_ == 201, reply
    assert reply == {
        "customer_id": 7,
        "note": "called back",
        "mode": "whisper",
        "day": "2030-05-06",
        "limit": 7,
        "outcomes": ["a", "b"],
        "due": "2030-01-02T03:04:05+08:00",
        "by": "agent1",
    }


@pytest.mark.parametrize(
    ("raw", "error_id"),
    [
        # the edge checks of ADR 0062 still run first
        (b'{"customer_id": 1, "note": "a\\u0000b"}', "bad-text"),
        (b'{"customer_id": 1, "note": "x", "tags": ["\\u0007"]}', "bad-text"),
        (b'{"customer_id": 99999999999999999999, "note": "x"}', "out-of-range"),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "bad-json"),
        (b'{"a": ' + b"{" * 10_000, "bad-json"),
        (b'{"customer_id": NaN, "note": "x"}', "bad-json"),
        (b"\xff\xfe", "bad-json"),
        (b"[1, 2]", "bad-json"),
        # then the model
        (b'{"note": "x"}', "bad-field"),
        (b'{"customer_id": "7", "note": "x"}', "bad-field"),
        (b'{"customer_id": true, "note": "x"}', "bad-field"),
        (b'{"customer_id": 1.5, "note": "x"}', "bad-field"),
        (b'{"customer_id": 0, "note": "x"}', "out-of-range"),
        (b'{"customer_id": 1, "note": "x", "count": 11}', "out-of-range"),
        (b'{"customer_id": 1, "note": "x", "big": 9223372036854775807}', None),
        (b'{"customer_id": 9223372036854775807, "note": "x"}', None),
        (b'{"customer_id": 1, "note": "' + b"x" * 2001 + b'"}', "bad-field"),
        (b'{"customer_id": 1, "note": "x", "subject": 5}', "bad-field"),
        (b'{"customer_id": 1, "note": "x", "mode": "barge"}', "bad-mode"),
        (b'{"customer_id": 1, "note": "x", "kind": "c"}', "bad-kind"),
        (b'{"customer_id": 1, "note": "x", "phone": "call me"}', "invalid-phone"),
        (b'{"customer_id": 1, "note": "x", "due": "2030-01-02T03:04:05"}', "bad-field"),
        (b'{"customer_id": 1, "note": "x", "due": "0001-01-01T00:00:00+14:00"}', "bad-date"),
        (b'{"customer_id": 1, "note": "x", "due": "9999-12-31T23:59:59Z"}', "bad-date"),
        (b'{"customer_id": 1, "note": "x", "due": 1700000000}', "bad-field"),
        (b'{"customer_id": 1, "note": "x", "due": "yesterday"}', "bad-field"),
    ],
)
async def test_bad_bodies_are_400_with_an_error_id(
    client: TestClient[web.Request, web.Application], raw: bytes, error_id: str | None
) -> None:
    status_, reply = await _post(client, raw)
    if error_id is None:
        assert status_ == 201, reply
        return
    assert status_ == 400, reply
    assert reply["error_id"] == error_id
    assert isinstance(reply["message"], str)
    assert reply["message"]
    assert isinstance(reply["code"], str)
    assert isinstance(reply["params"], dict)


@pytest.mark.parametrize(
    ("query", "error_id"),
    [
        ("?day=2030-02-30", "bad-parameter"),
        ("?day=tomorrow", "bad-parameter"),
        ("?day=1999-12-31", "bad-date"),
        ("?day=2101-01-01", "bad-date"),
        ("?day=99999-01-01", "bad-parameter"),
        ("?limit=0", "out-of-range"),
        ("?limit=99999999999999999999999", "out-of-range"),
        ("?limit=ten", "bad-parameter"),
        ("?agent=a%00b", "bad-text"),
        ("?since=1500-01-01T00:00:00Z", "bad-date"),
        ("?agent=" + "x" * 201, "bad-parameter"),
    ],
)
async def test_bad_queries_are_400_with_an_error_id(
    client: TestClient[web.Request, web.Application], query: str, error_id: str
) -> None:
    status_, reply = await _post(client, GOOD, query)
    assert status_ == 400, reply
    assert reply["error_id"] == error_id


async def test_refusals_name_the_field_in_the_users_language(
    client: TestClient[web.Request, web.Application],
) -> None:
    status_, reply = await _post(client, {"note": "x"})
    assert status_ == 400
    assert reply["code"] == "validation.missing"
    assert reply["params"] == {"field": "customer_id"}
    assert reply["message"] == "customer_id: this field is required."
    zh = {**AS_AGENT, "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
    status_, reply = await _post(client, {"customer_id": 1, "note": "x", "tags": [1]}, headers=zh)
    assert status_ == 400
    assert reply["params"] == {"field": "tags[0]"}
    assert str(reply["message"]).startswith("tags[0]：")


async def test_handler_problems_and_not_found_answer_the_catalogued_shape(
    client: TestClient[web.Request, web.Application],
) -> None:
    status_, reply = await _post(
        client, {"customer_id": 1, "note": "closed"}, headers={**AS_AGENT, "Accept-Language": "zh"}
    )
    assert status_ == 409
    assert reply == {
        "error_id": "do-not-call",
        "message": "该号码在免打扰名单中。",
        "code": "error.do_not_call",
        "params": {},
    }
    status_, reply = await _post(client, {"customer_id": 1, "note": "gone"})
    assert status_ == 404
    assert reply["error_id"] == "not-found"
    assert reply["detail"] == "no such customer"
    status_, reply = await _post(client, {"customer_id": 1, "note": "pbx"})
    assert (status_, reply["error_id"], reply["code"]) == (504, "ami-timeout", "error.ami_timeout")


async def test_roles_are_enforced_from_the_declaration(
    client: TestClient[web.Request, web.Application],
) -> None:
    status_, reply = await _post(client, GOOD, headers={"Accept-Language": "en"})
    assert (status_, reply["error_id"]) == (401, "unauthenticated")
    async with client.get("/api/items/3", headers=AS_AGENT) as res:
        assert res.status == 403
        assert (await res.json())["error_id"] == "forbidden"
    async with client.get("/api/status") as res:  # no roles: open
        assert res.status == 200
        assert await res.json() == {"ok": True}


async def test_a_reply_of_the_wrong_model_is_a_server_error(
    client: TestClient[web.Request, web.Application],
) -> None:
    async with client.get("/api/wrong") as res:
        assert res.status == 500
        assert (await res.json())["error_id"] == "internal"


def test_only_catalogued_error_ids_can_be_declared() -> None:
    with pytest.raises(KeyError):
        operation("GET", "/api/x", summary="x", errors=("no-such-thing",))
    with pytest.raises(KeyError):
        refuse_as("bad-whatever")


def test_declarations_ride_on_the_handlers() -> None:
    decl = declaration_of(add_note)
    assert decl is not None
    assert (decl.method, decl.path, decl.body, decl.query) == (
        "POST",
        "/api/notes",
        NoteBody,
        NoteQuery,
    )
    assert [d.name for d in declared_routes(make_app())] == ["add_note", "status", "item", "wrong"]
    with pytest.raises(TypeError):
        add_routes(web.Application(), plain)


def test_the_openapi_document_comes_from_the_declarations() -> None:
    from openapi_spec_validator import validate

    app = make_app()
    app.router.add_get("/api/undeclared", plain)  # a plain route is not in the document
    doc = openapi_document(app)
    validate(doc)
    paths = doc["paths"]
    assert isinstance(paths, dict)
    assert set(paths) == {"/api/notes", "/api/status", "/api/items/{item_id}", "/api/wrong"}
    post = paths["/api/notes"]["post"]
    assert post["x-roles"] == ["agent", "lead"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NoteBody"
    }
    assert set(post["responses"]) == {"201", "400", "401", "403", "404", "409", "413"}
    assert post["responses"]["409"]["description"] == "do-not-call"
    names = {p["name"]: p for p in post["parameters"]}
    assert set(names) == {"day", "limit", "agent", "outcome", "since"}
    assert names["limit"]["schema"]["maximum"] == 500
    components = doc["components"]
    assert isinstance(components, dict)
    body = components["schemas"]["NoteBody"]
    assert body["required"] == ["customer_id", "note"]
    assert body["properties"]["customer_id"]["maximum"] == 2**63 - 1
    assert body["properties"]["customer_id"]["format"] == "int64"
    assert body["properties"]["note"]["maxLength"] == 2000
    assert "Noted" in components["schemas"]
    item_get = paths["/api/items/{item_id}"]["get"]
    assert item_get["parameters"][0]["schema"]["minimum"] == 1
    assert "security" not in paths["/api/status"]["get"]  # a session, as everything not public
    json.dumps(doc)  # serialisable as it is
