"""The team lead's live monitor: the wallboard over the hub.

The `LiveBoard` is fed by the event bus; at start it is rebuilt from today's call
records in the CRM (agent states come back with the AMI resync), so a restart does not
zero the wall. Viewers ask for it with the WebSocket message `wallboard_subscribe` and
get `wallboard_snapshot`, then `wallboard_update` (at most one a second, only when
something changed) and `alert` the moment an alert is raised."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agent_console.live.hub import Connection, Hub
from agent_console.web.deps import ConsoleDeps
from crm_core.aio import cancel_and_wait
from crm_core.domain.events import DomainEvent
from crm_core.domain.models import Role, User
from crm_core.ports.bus import Subscription
from crm_core.services.live import Alert, LiveBoard, LiveSnapshot

log = logging.getLogger(__name__)


PUSH_INTERVAL_SECONDS = 1.0


ROSTER_REFRESH_SECONDS = 60.0


@dataclass(slots=True)
class LeadMonitor:
    """Owns the board, its viewers, the bus subscription and the push loop."""

    services: ConsoleDeps
    hub: Hub
    board: LiveBoard
    # the sockets showing a wallboard; their messages go to that socket only, unnumbered,
    # so a lead's console tab and its replay buffer are not flooded with board updates
    viewers: set[Connection] = field(default_factory=set)
    _subscription: Subscription | None = None
    _task: asyncio.Task[None] | None = None
    _pushed_version: int = -1

    def scope(self, user: User) -> int | None:
        """The team a viewer is limited to (None: everyone)."""
        if user.role is Role.LEAD:
            return user.team_id if user.team_id is not None else -1
        return None

    def view(self, user: User) -> LiveSnapshot:
        return self.board.snapshot(self.services.clock.now(), team_id=self.scope(user))

    async def start(self) -> None:
        self._subscription = self.services.bus.subscribe(self.handle)
        await self.refresh_roster()
        try:
            loaded = await self.board.load_today(self.services.db, self.services.clock.now())
            log.info("wallboard rebuilt from %d call records of today", loaded)
        except Exception:
            # the wall still shows live traffic; the day's totals start from now
            log.exception("could not rebuild the wallboard from the CRM")
        self._task = asyncio.create_task(self._run(), name="wallboard-push")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        await cancel_and_wait(self._task)

    async def refresh_roster(self) -> None:
        self.board.set_roster(await self.services.db.users.list())

    def handle(self, event: DomainEvent) -> None:
        try:
            alerts = self.board.apply(event)
        except Exception:
            log.exception("wallboard could not apply %s", type(event).__name__)
            return
        self.push_alerts(alerts)

    def _open_viewers(self) -> list[Connection]:
        gone = {c for c in self.viewers if c.closed or c not in c.stream.connections}
        self.viewers -= gone
        return list(self.viewers)

    def push_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            for conn in self._open_viewers():
                team = self.scope(conn.user)
                if team is not None and alert.agent is not None:
                    member = self.board.agents.get(alert.agent)
                    if member is None or member.team_id != team:
                        continue
                self.hub.reply(conn, {"type": "alert", "alert": alert.to_json()})

    def push_updates(self) -> None:
        if self.board.version == self._pushed_version:
            return
        self._pushed_version = self.board.version
        for conn in self._open_viewers():
            self.hub.reply(conn, {"type": "wallboard_update", "board": self.view(conn.user)})

    async def _run(self) -> None:
        since_roster = 0.0
        while True:
            await asyncio.sleep(PUSH_INTERVAL_SECONDS)
            try:
                self.push_alerts(self.board.tick(self.services.clock.now()))
                self.push_updates()
                since_roster += PUSH_INTERVAL_SECONDS
                if since_roster >= ROSTER_REFRESH_SECONDS:
                    since_roster = 0.0
                    await self.refresh_roster()
            except Exception:
                log.exception("wallboard push failed; retrying in %.0f s", PUSH_INTERVAL_SECONDS)

    async def subscribe(self, conn: Connection, _message: dict[str, Any]) -> None:
        self.viewers.add(conn)
        self.hub.reply(conn, {"type": "wallboard_snapshot", "board": self.view(conn.user)})


MONITOR_KEY = web.AppKey("lead_monitor", LeadMonitor)
