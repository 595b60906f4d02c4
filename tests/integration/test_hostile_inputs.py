"""Issue 13 item 9: the hostile inputs that answered 500 (NUL bytes on PostgreSQL, deeply
nested JSON, dates of year 1 and 9999, ids beyond int64, `vip_level` 10^30, text longer
than its column…) are refused at the edge with 4xx and an `error_id`, unauthenticated
`POST /api/login` included, on SQLite and PostgreSQL, and leave no traceback behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import DB_BACKENDS
from tests.integration.demo_server import Demo, running_demo

NUL = "a\x00b"
HUGE = 10**30
BEYOND_INT64 = "99999999999999999999"
DEEP = b"[" * 100_000 + b"]" * 100_000


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    method: str
    path: str
    user: str | None  # None: no credentials at all
    body: object = None
    raw: bytes | None = None
    status: int = 400
    error_id: str = ""


CASES = [
    # unauthenticated login
    Case("login NUL user", "POST", "/api/login", None, {"username": NUL, "password": "x"},
         error_id="bad-text"),
    Case("login NUL password", "POST", "/api/login", None, {"username": "agent1", "password": NUL},
         error_id="bad-text"),
    Case("login deep array", "POST", "/api/login", None, raw=DEEP, error_id="bad-json"),
    Case("login deep field", "POST", "/api/login", None,
         raw=b'{"username": ' + DEEP + b', "password": "x"}', error_id="bad-json"),
    Case("login lone surrogate", "POST", "/api/login", None,
         raw=b'{"username": "\\ud800", "password": "x"}', error_id="bad-text"),
    Case("login NaN", "POST", "/api/login", None, raw=b'{"username": NaN}', error_id="bad-json"),
    # customers
    Case("customer NUL name", "POST", "/api/customers", "manager1", {"name": NUL},
         error_id="bad-text"),
    Case("customer vip 10^30", "POST", "/api/customers", "manager1",
         {"name": "x", "vip_level": HUGE}, error_id="out-of-range"),
    Case("customer vip 10", "POST", "/api/customers", "manager1",
         {"name": "x", "vip_level": 10}, error_id="out-of-range"),
    Case("customer name too long", "POST", "/api/customers", "manager1", {"name": "x" * 300},
         error_id="bad-field"),
    Case("customer phones not a list", "POST", "/api/customers", "manager1",
         {"name": "x", "phones": 5}, error_id="bad-field"),
    Case("customer patch NUL notes", "PATCH", "/api/customers/1", "manager1", {"notes": NUL},
         error_id="bad-text"),
    Case("customer patch vip 10^30", "PATCH", "/api/customers/1", "manager1",
         {"vip_level": HUGE}, error_id="out-of-range"),
    Case("customer search NUL", "GET", "/api/customers?q=a%00b", "manager1",
         error_id="bad-text"),
    Case("customer phone NUL", "GET", "/api/customers?phone=%00", "manager1",
         error_id="bad-text"),
    Case("customer id beyond int64", "GET", f"/api/customers/{BEYOND_INT64}", "manager1",
         status=404, error_id="not-found"),
    # calls, wrap-up, dial, agent state
    Case("call id NUL", "GET", "/api/calls/a%00b", "manager1", error_id="bad-text"),
    Case("calls since year 1", "GET", "/api/calls?since=0001-01-01T00:00:00%2B14:00",
         "manager1", error_id="bad-date"),
    Case("calls until year 9999", "GET", "/api/calls?until=9999-12-31T23:59:59-14:00",
         "manager1", error_id="bad-date"),
    Case("wrap-up customer 10^30", "POST", "/api/calls/c1/wrapup", "agent1",
         {"customer_id": HUGE}, error_id="out-of-range"),
    Case("dial customer beyond int64", "POST", "/api/dial", "agent1",
         {"number": "13800138000", "customer_id": 10**20}, error_id="out-of-range"),
    Case("dial unknown customer", "POST", "/api/dial", "agent1",
         {"number": "13800138000", "customer_id": 999999}, error_id="bad-customer"),
    Case("dial customer as text", "POST", "/api/dial", "agent1",
         {"number": "13800138000", "customer_id": "1"}, error_id="bad-customer"),
    Case("pause reason NUL", "POST", "/api/agent/state", "agent1",
         {"action": "pause", "reason": NUL}, error_id="bad-text"),
    Case("violations since year 1", "GET", "/api/violations?since=0001-01-01T00:00:00Z",
         "manager1", error_id="bad-date"),
    # callbacks, cases, supervision
    Case("callback id beyond int64", "POST", f"/api/callbacks/{BEYOND_INT64}/attempts",
         "manager1", {"result": "busy"}, status=404, error_id="not-found"),
    Case("reassign callback beyond int64", "POST", f"/api/callbacks/{BEYOND_INT64}/reassign",
         "manager1", {"to": "agent1"}, status=404, error_id="no-such-callback"),
    Case("reassign case beyond int64", "POST", f"/api/cases/{BEYOND_INT64}/reassign",
         "manager1", {"to": "agent1"}, status=404, error_id="no-such-case"),
    Case("supervisor pause NUL", "POST", "/api/agents/Agent%201001/pause", "manager1",
         {"reason": NUL}, error_id="bad-text"),
    # reports
    Case("report day year 1", "GET", "/api/reports/daily?date=0001-01-01", "manager1",
         error_id="bad-date"),
    Case("report week 9999", "GET", "/api/reports/weekly?date=9999-12-31", "manager1",
         error_id="bad-date"),
    Case("report quarter 9999", "GET", "/api/reports/quarterly?date=9999-12-31", "manager1",
         error_id="bad-date"),
    Case("report month 9999", "GET", "/api/reports/monthly?date=9999-12-31", "manager1",
         error_id="bad-date"),
    Case("report year 9999", "GET", "/api/reports/annual?date=9999-12-31", "manager1",
         error_id="bad-date"),
    # campaigns
    Case("campaign NUL name", "POST", "/api/campaigns", "manager1", {"name": NUL},
         error_id="bad-text"),
    Case("campaign team 10^30", "POST", "/api/campaigns", "manager1",
         {"name": "x", "team_id": HUGE}, error_id="out-of-range"),
    Case("campaign unknown team", "POST", "/api/campaigns", "manager1",
         {"name": "x", "team_id": 424242}, error_id="bad-campaign"),
    Case("campaign caller id too long", "POST", "/api/campaigns", "manager1",
         {"name": "x", "caller_id": "0" * 70}, error_id="bad-campaign"),
    Case("campaign id beyond int64", "PATCH", f"/api/campaigns/{BEYOND_INT64}", "manager1",
         {"name": "x"}, status=404, error_id="no-such-campaign"),
    Case("campaign deep body", "POST", "/api/campaigns", "manager1", raw=DEEP,
         error_id="bad-json"),
    Case("follow-ups NUL queue", "POST", "/api/campaigns/followups", "manager1",
         {"queue": NUL}, error_id="bad-text"),
    Case("follow-ups from year 1", "POST", "/api/campaigns/followups", "manager1",
         {"queue": "support", "start": "0001-01-01T00:00:00+14:00"}, error_id="bad-date"),
    Case("preview contact beyond int64", "POST",
         f"/api/campaigns/1/contacts/{BEYOND_INT64}/skip", "agent1", {"reason": "x"},
         status=404, error_id="no-such-contact"),
]  # fmt: skip


@pytest.fixture(scope="module", params=DB_BACKENDS)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    tmp: Path = tmp_path_factory.mktemp(f"hostile-{request.param}")
    with running_demo(tmp, request.param) as server:
        yield server


def test_every_hostile_input_is_refused_with_an_error_id(demo: Demo) -> None:
    tokens = {user: demo.login(user) for user in ("manager1", "agent1")}
    wrong = []
    for case in CASES:
        status, text = demo.request(
            case.method,
            case.path,
            case.body,
            raw=case.raw,
            token=tokens[case.user] if case.user else None,
        )
        try:
            error_id = json.loads(text).get("error_id")
        except ValueError:
            error_id = None
        if (status, error_id) != (case.status, case.error_id):
            wrong.append(f"{case.name}: {status} {text[:160]}")
    log = demo.log_text()
    assert not wrong, "\n".join(wrong) + "\n" + log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "unhandled error" not in log, log[-3000:]


async def test_a_hostile_socket_message_is_answered_and_the_socket_lives_on(demo: Demo) -> None:
    token = demo.login("agent1")
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{demo.base}/ws?token={token}") as ws,
    ):
        for hostile in (
            "[" * 5000 + "]" * 5000,
            '{"type": "ping", "x": "a\\u0000b"}',
            '{"type": NaN}',
        ):
            await ws.send_str(hostile)
            while (reply := await ws.receive_json(timeout=10))["type"] != "error":
                pass  # the snapshot and other pushes
            assert reply["error_id"] == "bad-message"
        await ws.send_str('{"type": "ping"}')
        while (await ws.receive_json(timeout=10))["type"] != "pong":
            pass
    assert "Traceback" not in demo.log_text()


def test_a_contact_file_with_nul_or_overlong_names_is_no_server_error(demo: Demo) -> None:
    token = demo.login("manager1")
    status, text = demo.request("POST", "/api/campaigns", {"name": "hostile"}, token=token)
    assert status == 201, text
    upload = f"/api/campaigns/{json.loads(text)['id']}/contacts"
    status, text = demo.request(
        "POST", upload, raw=b"name,phone\na\x00b,13800138001\n", token=token
    )
    assert status == 200, text  # the NUL is dropped (issue 13 item 10's import)
    assert json.loads(text)["accepted"] == 1
    long_name = "名" * 300
    status, text = demo.request(
        "POST", upload, raw=f"name,phone\n{long_name},13800138004\n".encode(), token=token
    )
    assert status == 200, text
    assert json.loads(text)["accepted"] == 1
    assert "Traceback" not in demo.log_text()
