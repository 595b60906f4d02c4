"""Callback reminders reach the agent: a failed attempt schedules a retry, and the
deadline scheduler's reminder (loaded from the database) arrives on the owner's console
and only there."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from crm_core.clock import SystemClock
from crm_core.domain.models import CallbackReason
from crm_core.services.callbacks import CallbackService
from crm_core.services.deadlines import DeadlineScheduler
from tests.integration.test_console_harness import console_stack, receive_until
from tests.integration.test_rules import SETTINGS


async def test_retry_reminder_reaches_the_owner_console_only(database_url: str) -> None:
    async with console_stack(database_url, telephony=False) as stack, aiohttp.ClientSession() as s:
        clock = SystemClock()
        now = clock.now()
        owner = stack.users["agent1"]
        cb = await stack.db.callbacks.create(
            phone_e164="+8613800138000",
            reason=CallbackReason.PROMISED,
            due_at=now + timedelta(minutes=20),
            created_at=now,
            owner_user_id=owner.id,
            queue="support",
        )
        token, ws = await stack.live(s, "agent1")
        _, ws_other = await stack.live(s, "agent2")

        async with s.post(
            f"{stack.url}/api/callbacks/{cb.id}/attempts",
            json={"result": "no_answer"},
            headers={"Authorization": f"Bearer {token}"},
        ) as res:
            assert res.status == 201, await res.text()
            body = await res.json()
        retry_at = body["next_attempt_at"]
        assert retry_at is not None
        changed, _ = await receive_until(ws, "callbacks_changed")
        assert changed["callback_id"] == cb.id

        # the retry time comes (moved to the past here): a scheduler started now loads it
        await stack.db.callbacks.update(cb.id, next_attempt_at=now - timedelta(seconds=1))
        service = CallbackService(db=stack.db, bus=stack.bus, clock=clock, settings=SETTINGS)
        scheduler = DeadlineScheduler(db=stack.db, bus=stack.bus, clock=clock, callbacks=service)
        await scheduler.start()
        try:
            reminder, _ = await receive_until(ws, "callback_reminder", timeout=5)
        finally:
            await scheduler.stop()
        assert reminder["callback_id"] == cb.id
        assert reminder["retry"] is True
        assert reminder["queue"] == "support"
        # a colleague's console is not told about someone else's callback: the hub
        # handed the reminder on before the owner got it, and the colleague's next
        # message is the answer to its own ping
        await ws_other.send_json({"type": "ping"})
        _, seen = await receive_until(ws_other, "pong")
        assert [m["type"] for m in seen if m["type"] == "callback_reminder"] == []
        assert (await stack.db.callbacks.get(cb.id)).next_attempt_at is None
