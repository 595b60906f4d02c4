"""Login, sessions, CSRF, throttling and roles, over real HTTP against a real database."""

from __future__ import annotations

import re

import aiohttp
import pytest
from yarl import URL

from agent_console.web.deps import ConsoleConfig
from tests.integration.test_console_harness import PASSWORD, console_stack


async def test_login_form_sets_a_strict_session_cookie_and_logout_revokes_it(
    database_url: str,
) -> None:
    jar = aiohttp.CookieJar(unsafe=True)  # keep cookies for 127.0.0.1
    async with (
        console_stack(database_url, telephony=False) as stack,
        aiohttp.ClientSession(cookie_jar=jar) as s,
    ):
        async with s.get(f"{stack.url}/") as res:  # anonymous: sent to the login page
            assert res.url.path == "/login"
            page = await res.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None

        form = {"username": "agent1", "password": PASSWORD, "csrf": "wrong"}
        async with s.post(f"{stack.url}/login", data=form, allow_redirects=False) as res:
            assert res.status == 403
            page = await res.text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None

        form["csrf"] = csrf.group(1)
        async with s.post(f"{stack.url}/login", data=form, allow_redirects=False) as res:
            assert res.status == 302
            cookie = res.headers.getall("Set-Cookie")
        session_cookie = next(c for c in cookie if c.startswith("cc_session="))
        assert "HttpOnly" in session_cookie
        assert "SameSite=Lax" in session_cookie

        async with s.get(f"{stack.url}/") as res:
            assert res.status == 200
            page = await res.text()
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token is not None
        async with s.get(f"{stack.url}/api/me") as res:
            assert (await res.json())["username"] == "agent1"

        # cookie-authenticated writes need the CSRF header
        async with s.patch(f"{stack.url}/api/me", json={"language": "en"}) as res:
            assert res.status == 403
            assert (await res.json())["error_id"] == "csrf"
        async with s.patch(
            f"{stack.url}/api/me", json={"language": "en"}, headers={"X-CSRF-Token": token.group(1)}
        ) as res:
            assert res.status == 200

        old_cookie = s.cookie_jar.filter_cookies(URL(stack.url))["cc_session"].value
        async with s.post(
            f"{stack.url}/logout", data={"csrf": token.group(1)}, allow_redirects=False
        ) as res:
            assert res.status == 302
        async with s.get(
            f"{stack.url}/api/me", headers={"Cookie": f"cc_session={old_cookie}"}
        ) as res:
            assert res.status == 401  # the old cookie is revoked, not just deleted


async def test_api_login_errors_and_throttle(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        for _ in range(5):
            async with s.post(
                f"{stack.url}/api/login", json={"username": "agent1", "password": "nope"}
            ) as res:
                assert res.status == 401
                body = await res.json()
                # the message in the user's language (ADR 0077); the English text is the detail
                assert (body["error_id"], body["detail"]) == (
                    "bad-credentials",
                    "wrong username or password",
                )
                assert body["message"] in ("用户名或密码错误。", "Wrong username or password.")
        async with s.post(
            f"{stack.url}/api/login", json={"username": "agent1", "password": PASSWORD}
        ) as res:
            assert res.status == 429  # even the right password waits now
            assert (await res.json())["error_id"] == "rate-limited"
        async with s.post(
            f"{stack.url}/api/login", json={"username": "agent2", "password": PASSWORD}
        ) as res:
            assert res.status == 200  # the account is locked, not the address (yet)
        async with s.post(f"{stack.url}/api/login", data=b"not json") as res:
            assert res.status == 400
            assert (await res.json())["error_id"] == "bad-json"


async def test_forwarded_for_is_honoured_only_when_trusted(database_url: str) -> None:
    """Behind the proxy the address is the right-most X-Forwarded-For entry (the one
    the proxy appends): rotating what the client puts to its left, or sending lines
    of its own, does not make a new address."""
    config = ConsoleConfig(
        trust_forwarded_headers=True, login_max_failures=50, login_max_failures_per_address=3
    )
    async with (
        console_stack(database_url, config=config, telephony=False) as stack,
        aiohttp.ClientSession() as s,
    ):

        async def login(name: str, forwarded: str | list[str]) -> int:
            lines = [forwarded] if isinstance(forwarded, str) else forwarded
            headers = [("X-Forwarded-For", line) for line in lines]
            async with s.post(
                f"{stack.url}/api/login",
                json={"username": name, "password": "nope"},
                headers=headers,
            ) as res:
                return res.status

        for n in range(3):  # a spray: a new made-up username each time
            assert await login(f"ghost{n}", f"198.51.100.{n}, 10.0.0.1") == 401
        assert await login("ghost9", "203.0.113.7, 10.0.0.1") == 429
        assert await login("ghost9", ["10.0.0.9", "203.0.113.8, 10.0.0.1"]) == 429
        assert await login("agent1", "10.0.0.2") == 401  # another client is not blocked


async def test_missing_or_forged_credentials_are_refused_on_http_and_ws(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        head, payload, _sig = token.split(".")
        forged = f"{head}.{payload}.AAAA"
        async with s.get(f"{stack.url}/api/me") as res:
            assert res.status == 401
            assert (await res.json())["error_id"] == "unauthenticated"
        async with s.get(
            f"{stack.url}/api/me", headers={"Authorization": f"Bearer {forged}"}
        ) as res:
            assert res.status == 401
        async with s.get(
            f"{stack.url}/api/calls", headers={"Cookie": f"cc_session={forged}"}
        ) as res:
            assert res.status == 401
        for query in ("", f"?token={forged}"):
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await s.ws_connect(f"{stack.url}/ws{query}")
            assert err.value.status == 401
        async with s.get(
            f"{stack.url}/api/me", headers={"Authorization": f"Bearer {token}"}
        ) as res:
            assert res.status == 200


async def test_roles_are_enforced_server_side(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        agent = {"Authorization": f"Bearer {await stack.token(s, 'agent1')}"}
        lead = {"Authorization": f"Bearer {await stack.token(s, 'lead1')}"}
        for path in ("/api/agents", "/api/queues"):
            async with s.get(f"{stack.url}{path}", headers=agent) as res:
                assert res.status == 403
                assert (await res.json())["error_id"] == "forbidden"
            async with s.get(f"{stack.url}{path}", headers=lead) as res:
                assert res.status == 200
        async with s.get(f"{stack.url}/api/agents", headers=lead) as res:
            names = {a["username"] for a in (await res.json())["agents"]}
        assert names == {"agent1", "agent2"}  # the lead's own team only


async def test_odd_ids_and_paging_are_client_errors_never_500(database_url: str) -> None:
    # "³".isdigit() is true but int("³") fails: found by the API fuzzer
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        lead = {"Authorization": f"Bearer {await stack.token(s, 'lead1')}"}
        for path in (
            "/api/customers/%C2%B3/card",
            "/api/customers/%C2%B3",
            "/api/customers/99999999999999999999999999/card",
            "/api/callbacks/%D9%A3/attempts",
        ):
            async with s.get(f"{stack.url}{path}", headers=lead) as res:
                assert res.status in (404, 405), path
        for query in ("customer_id=%C2%B3", "limit=%C2%B3", "offset=-5", "limit=-1"):
            async with s.get(f"{stack.url}/api/calls?{query}", headers=lead) as res:
                assert res.status in (200, 400), query


async def test_openapi_lists_the_console_endpoints(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        async with s.get(f"{stack.url}/api/openapi.json") as res:
            doc = await res.json()
        assert doc["openapi"].startswith("3.")
        for path in (
            "/api/login",
            "/api/calls",
            "/api/calls/{call_id}",
            "/api/customers",
            "/api/customers/{customer_id}",
            "/api/callbacks",
            "/api/callbacks/{callback_id}/attempts",
            "/api/violations",
            "/api/agents",
            "/api/queues",
            "/api/me",
        ):
            assert path in doc["paths"], path
        assert "patch" in doc["paths"]["/api/customers/{customer_id}"]
