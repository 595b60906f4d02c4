"""Sessions and the login throttle across two real `callcenter serve` instances that
share a private Redis and a PostgreSQL schema (behind a load balancer, any request
may land on either).

- A token logged out on one instance is refused by the other, and the console
  socket it opened there is closed.
- A disabled login ends on both instances.
- Failed logins count cluster-wide, per account (from any address) and per source
  address (whatever usernames it sprays); behind the proxy only the address the
  proxy appends counts, so rotating `X-Forwarded-For` does not escape the limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
import pytest_asyncio

from tests.integration.cluster import PASSWORD, PLAIN, Cluster

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.asyncio(loop_scope="module"),
]

PER_ADDRESS = 8
PER_ACCOUNT = 4


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    c = Cluster(
        tmp_path_factory.mktemp("cluster-auth"),
        env={
            # as behind docker/nginx.conf: the proxy appends the peer's address
            "CALLCENTER_TRUST_FORWARDED_HEADERS": "true",
            "CALLCENTER_LOGIN_MAX_FAILURES": str(PER_ACCOUNT),
            "CALLCENTER_LOGIN_MAX_FAILURES_PER_ADDRESS": str(PER_ADDRESS),
        },
    )
    try:
        await c.start()
        yield c
    finally:
        await c.stop()


async def _login(
    session: aiohttp.ClientSession,
    cluster: Cluster,
    name: str,
    username: str,
    password: str,
    *,
    forwarded: str,
) -> tuple[int, dict[str, object]]:
    async with session.post(
        f"{cluster.url(name)}/api/login",
        json={"username": username, "password": password},
        headers={"X-Forwarded-For": forwarded},
    ) as res:
        return res.status, await res.json()


async def _me(session: aiohttp.ClientSession, cluster: Cluster, name: str, token: str) -> int:
    async with session.get(
        f"{cluster.url(name)}/api/me", headers={"Authorization": f"Bearer {token}"}
    ) as res:
        return res.status


@pytest.mark.timeout(120)
async def test_logout_on_one_instance_ends_the_session_on_both(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as session:
        status, body = await _login(
            session, cluster, "cc1", "agent1", PASSWORD, forwarded="192.0.2.10"
        )
        assert status == 200, body
        token = str(body["token"])
        assert await _me(session, cluster, "cc1", token) == 200
        assert await _me(session, cluster, "cc2", token) == 200
        ws = await session.ws_connect(f"{cluster.url('cc2')}/ws?token={token}")
        first = await ws.receive_json(timeout=10)
        assert first["type"] == "snapshot"

        async with session.post(
            f"{cluster.url('cc1')}/api/logout", headers={"Authorization": f"Bearer {token}"}
        ) as res:
            assert res.status == 200
        # at once, on both: the revocation is written before logout answers
        assert await _me(session, cluster, "cc1", token) == 401
        assert await _me(session, cluster, "cc2", token) == 401
        # the socket the session holds on the other instance is closed (4001)
        started = time.monotonic()
        async with asyncio.timeout(5):
            message = await ws.receive()
            while message.type is aiohttp.WSMsgType.TEXT:
                message = await ws.receive()
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 4001), message
        print(f"\nsocket on cc2 closed {time.monotonic() - started:.2f} s after the logout")
        await ws.close()

        # another session of the same user is untouched
        status, body = await _login(
            session, cluster, "cc2", "agent1", PASSWORD, forwarded="192.0.2.10"
        )
        assert status == 200, body
        assert await _me(session, cluster, "cc1", str(body["token"])) == 200


@pytest.mark.timeout(120)
async def test_a_disabled_login_ends_on_both_instances(cluster: Cluster) -> None:
    """No admin users API exists: an operator disables a login in the database; every
    instance re-reads users within its 5 s cache."""
    async with aiohttp.ClientSession() as session:
        status, body = await _login(
            session, cluster, "cc1", "agent6", PASSWORD, forwarded="192.0.2.11"
        )
        assert status == 200, body
        token = str(body["token"])
        conn = await asyncpg.connect(PLAIN)
        try:
            await conn.execute(f'SET search_path TO "{cluster.schema}"')
            await conn.execute("UPDATE users SET active = false WHERE username = $1", "agent6")
        finally:
            await conn.close()
        end = time.monotonic() + 10
        codes: dict[str, int] = {}
        while time.monotonic() < end:
            codes = {name: await _me(session, cluster, name, token) for name in ("cc1", "cc2")}
            if set(codes.values()) == {401}:
                break
            await asyncio.sleep(0.2)
        assert codes == {"cc1": 401, "cc2": 401}


@pytest.mark.timeout(120)
async def test_an_account_locks_across_instances_and_addresses(cluster: Cluster) -> None:
    async with aiohttp.ClientSession() as session:
        for n in range(PER_ACCOUNT):  # spread over both instances and several addresses
            status, _ = await _login(
                session, cluster, f"cc{n % 2 + 1}", "agent2", "wrong", forwarded=f"192.0.2.{20 + n}"
            )
            assert status == 401
        for name in ("cc1", "cc2"):  # now even the right password waits, from anywhere
            status, body = await _login(
                session, cluster, name, "agent2", PASSWORD, forwarded="192.0.2.99"
            )
            assert status == 429, (name, body)
            assert body["error_id"] == "rate-limited"
        status, body = await _login(
            session, cluster, "cc1", "agent3", PASSWORD, forwarded="192.0.2.99"
        )
        assert status == 200, body  # another account is not locked


@pytest.mark.timeout(120)
async def test_spraying_usernames_is_limited_per_address_across_instances(
    cluster: Cluster,
) -> None:
    """Made-up usernames from one client, alternating instances, rotating the
    client-supplied (left) part of X-Forwarded-For: the proxy's entry decides."""
    proxy_saw = "198.51.100.7"
    async with aiohttp.ClientSession() as session:
        for n in range(PER_ADDRESS):
            status, _ = await _login(
                session,
                cluster,
                f"cc{n % 2 + 1}",
                f"nobody{n}",
                "guess",
                forwarded=f"203.0.113.{n}, {proxy_saw}",
            )
            assert status == 401
        for name in ("cc1", "cc2"):
            status, body = await _login(
                session,
                cluster,
                name,
                "agent4",
                PASSWORD,
                forwarded=f"203.0.113.200, {proxy_saw}",
            )
            assert status == 429, (name, body)
        # the real agent4, behind another address, logs in; the spray did not lock it
        status, body = await _login(
            session, cluster, "cc2", "agent4", PASSWORD, forwarded="198.51.100.8"
        )
        assert status == 200, body
