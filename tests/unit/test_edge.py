"""The edge validation layer (ADR 0062) and the short log of repeated server errors."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent_console.web import errors
from agent_console.web.edge import (
    MAX_JSON_DEPTH,
    edge_checks,
    is_id,
    json_depth_exceeds,
    parse_json_object,
)
from agent_console.web.errors import ApiError, json_errors


def _refused(raw: bytes) -> str:
    with pytest.raises(ApiError) as caught:
        parse_json_object(raw)
    assert caught.value.status == 400
    return caught.value.error_id


def test_depth_is_counted_on_the_text_without_recursion() -> None:
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    # brackets inside strings do not count
    assert not json_depth_exceeds(json.dumps({"a": "[" * 1000, "b": '\\"[[[' * 100}))
    assert _refused(b"[" * 1_000_000) == "bad-json"
    assert _refused(b'{"a": ' + b"{" * 100_000) == "bad-json"


@pytest.mark.parametrize(
    ("raw", "error_id"),
    [
        (b'{"name": "a\\u0000b"}', "bad-text"),
        (b'{"a\\u0001": 1}', "bad-text"),
        (b'{"list": [{"deep": "\\ud800"}]}', "bad-text"),
        (b'{"n": 9223372036854775808}', "out-of-range"),
        (b'{"n": [-9223372036854775809]}', "out-of-range"),
        (b'{"n": NaN}', "bad-json"),
        (b'{"n": Infinity}', "bad-json"),
        (b"[1]", "bad-json"),
        (b"\xff", "bad-json"),
        (b'{"n": 1' + b"0" * 5000 + b"}", "bad-json"),
    ],
)
def test_hostile_bodies_are_refused(raw: bytes, error_id: str) -> None:
    assert _refused(raw) == error_id


def test_ordinary_bodies_pass() -> None:
    body = {"notes": "第一行\n\tsecond\r\n", "n": 2**63 - 1, "m": -(2**63), "x": [1.5, None]}
    assert parse_json_object(json.dumps(body).encode()) == body


def test_ids_are_positive_int64() -> None:
    assert is_id("1")
    assert is_id(str(2**63 - 1))
    assert not is_id(str(2**63))
    assert not is_id("0")
    assert not is_id("³")
    assert not is_id("-1")


async def test_query_and_path_text_is_checked_before_the_handler() -> None:
    reached: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        reached.append(request.path)
        return web.json_response({})

    app = web.Application(middlewares=[json_errors, edge_checks])
    app.router.add_get("/api/x/{id}", handler)
    async with TestClient(TestServer(app)) as client:
        for url in ("/api/x/a%00b", "/api/x/a%0ab", "/api/x/1?q=%00", "/api/x/1?q%01=1"):
            resp = await client.get(url)
            assert resp.status == 400, url
            assert (await resp.json())["error_id"] == "bad-text"
        assert (await client.get("/api/x/1?q=ok")).status == 200
    assert reached == ["/api/x/1"]


async def test_a_repeated_server_error_logs_one_traceback_then_short_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    errors._last_traceback.clear()

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("x" * 5000)

    app = web.Application(middlewares=[json_errors])
    app.router.add_post("/api/login", broken)
    with caplog.at_level(logging.ERROR, logger="agent_console.web.errors"):
        async with TestClient(TestServer(app)) as client:
            for _ in range(20):
                resp = await client.post("/api/login", data=b"{}")
                assert resp.status == 500
                assert (await resp.json())["error_id"] == "internal"
    records = [r for r in caplog.records if r.name == "agent_console.web.errors"]
    assert len(records) == 20
    assert [r.exc_info is not None for r in records] == [True] + [False] * 19
    assert all("(unauthenticated)" in r.getMessage() for r in records)
    assert max(len(r.getMessage()) for r in records[1:]) < 600
