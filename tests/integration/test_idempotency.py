"""Repeated writes with an `Idempotency-Key` happen once (CONTRACTS.md, issue 13 item 4)."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.integration.test_console_harness import console_stack


async def test_the_same_key_creates_once_and_replays_the_first_answer(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "create-zhang-0001"}
        body = {"name": "张三", "phones": ["13800138000"]}

        async def create() -> tuple[int, dict[str, object], str | None]:
            async with s.post(f"{stack.url}/api/customers", json=body, headers=headers) as res:
                return res.status, await res.json(), res.headers.get("Idempotent-Replayed")

        # a double-click: both at once
        (st1, first, r1), (st2, second, r2) = await asyncio.gather(create(), create())
        assert st1 == st2 == 201
        assert first["id"] == second["id"]
        assert {r1, r2} == {None, "true"}
        found = await stack.db.customers.find_by_phone("13800138000")
        assert found is not None
        assert found.id == first["id"]
        # later, the same key again: the first answer, nothing new
        st3, third, r3 = await create()
        assert (st3, third["id"], r3) == (201, first["id"], "true")

        # the same key for another request is a mistake the client must hear about
        async with s.post(
            f"{stack.url}/api/dial", json={"number": "13900139001"}, headers=headers
        ) as res:
            assert res.status == 422
            assert (await res.json())["error_id"] == "idempotency-key-reused"

        # a refusal is replayed too: the repeat does not run again
        bad = {"Authorization": f"Bearer {token}", "Idempotency-Key": "bad-customer-0001"}
        for _ in range(2):
            async with s.post(f"{stack.url}/api/customers", json={}, headers=bad) as res:
                assert res.status == 400

        # a key from another user is another key
        other = await stack.token(s, "agent2")
        async with s.post(
            f"{stack.url}/api/customers",
            json={"name": "李四", "phones": ["13900139002"]},
            headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "create-zhang-0001"},
        ) as res:
            assert res.status == 201
            assert res.headers.get("Idempotent-Replayed") is None


async def test_a_malformed_key_is_refused(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        token = await stack.token(s, "agent1")
        async with s.post(
            f"{stack.url}/api/customers",
            json={"name": "张三", "phones": ["13800138000"]},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "short"},
        ) as res:
            assert res.status == 400
            assert (await res.json())["error_id"] == "bad-idempotency-key"
