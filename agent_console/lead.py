"""The team lead's live monitor: wallboard over the hub, supervision actions, live APIs.

`setup_lead_routes(app)` plugs into `create_app(services)` (ConsoleServices.extra_setup).
The `LiveBoard` is fed by the event bus; at start it is rebuilt from today's call
records in the CRM (agent states come back with the AMI resync), so a restart does not
zero the wall. Viewers ask for it with the WebSocket message `wallboard_subscribe` and
get `wallboard_snapshot`, then `wallboard_update` (at most one a second, only when
something changed) and `alert` the moment an alert is raised.

A lead sees and acts on their own team only; managers and admins on everyone; agents
get 403. Every action is written to the audit log before it is carried out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from agent_console.api import audit, json_body, svc
from agent_console.auth import CLAIMS_KEY, SIGNER_KEY, SUPERVISORS, current_user, require
from agent_console.errors import ApiError
from agent_console.hub import Connection, Hub, encode
from agent_console.keys import HUB_KEY, LIVE_KEY, SERVICES_KEY
from agent_console.openapi import register_operation
from agent_console.pages import render
from agent_console.reports_views import setup_report_routes
from agent_console.services import ConsoleServices
from crm_core.domain.events import DomainEvent
from crm_core.domain.models import CallbackStatus, CaseStatus, Role, User
from crm_core.ports.bus import Subscription
from crm_core.ports.repositories import NotFound
from crm_core.ports.telephony import SpyMode, TelephonyError
from crm_core.services.live import Alert, LiveBoard, LiveBoardConfig
from crm_core.services.reports import ReportConfig

log = logging.getLogger(__name__)

PUSH_INTERVAL_SECONDS = 1.0
ROSTER_REFRESH_SECONDS = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadConfig:
    board: LiveBoardConfig | None = None  # None: defaults + the console's ring limit
    reports: ReportConfig | None = None


@dataclass(slots=True)
class LeadMonitor:
    """Owns the board, its viewers, the bus subscription and the push loop."""

    services: ConsoleServices
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

    def view(self, user: User) -> dict[str, Any]:
        return self.board.snapshot(self.services.clock.now(), team_id=self.scope(user))

    async def start(self) -> None:
        self._subscription = self.services.bus.subscribe(self.handle)
        await self.refresh_roster()
        try:
            loaded = await self.board.load_today(self.services.db, self.services.clock.now())  # type: ignore[arg-type]
            log.info("wallboard rebuilt from %d call records of today", loaded)
        except Exception:
            # the wall still shows live traffic; the day's totals start from now
            log.exception("could not rebuild the wallboard from the CRM")
        self._task = asyncio.create_task(self._run(), name="wallboard-push")

    async def stop(self) -> None:
        if self._subscription is not None:
            self._subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

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

    @staticmethod
    def _send(conn: Connection, message: dict[str, Any]) -> None:
        conn.push(encode({**message, "seq": conn.stream.seq}))

    def push_alerts(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            for conn in self._open_viewers():
                team = self.scope(conn.user)
                if team is not None and alert.agent is not None:
                    member = self.board.agents.get(alert.agent)
                    if member is None or member.team_id != team:
                        continue
                self._send(conn, {"type": "alert", "alert": alert.to_json()})

    def push_updates(self) -> None:
        if self.board.version == self._pushed_version:
            return
        self._pushed_version = self.board.version
        for conn in self._open_viewers():
            self._send(conn, {"type": "wallboard_update", "board": self.view(conn.user)})

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
        self._send(conn, {"type": "wallboard_snapshot", "board": self.view(conn.user)})


MONITOR_KEY = web.AppKey("lead_monitor", LeadMonitor)


def setup_lead_routes(app: web.Application, config: LeadConfig | None = None) -> None:
    services = app[SERVICES_KEY]
    cfg = config or LeadConfig()
    board_cfg = cfg.board or LiveBoardConfig(ring_limit_seconds=services.config.ring_limit_seconds)
    monitor = LeadMonitor(services=services, hub=app[HUB_KEY], board=LiveBoard(board_cfg))
    app[MONITOR_KEY] = monitor
    app[SPY_KEY] = SpyDesk()
    monitor.hub.add_message_handler("wallboard_subscribe", SUPERVISORS, monitor.subscribe)

    live = app[LIVE_KEY]

    async def live_agents(user: User) -> list[dict[str, Any]]:
        agents: list[dict[str, Any]] = monitor.view(user)["agents"]
        return agents

    async def live_queues(user: User) -> list[dict[str, Any]]:
        queues: list[dict[str, Any]] = monitor.view(user)["queues"]
        return queues

    live.agents, live.queues = live_agents, live_queues

    r = app.router
    r.add_get("/lead", wallboard_page)
    r.add_post("/api/agents/{member}/{action:pause|resume|logout}", agent_action)
    r.add_post("/api/agents/{member}/spy", spy)
    r.add_post("/api/callbacks/{callback_id:\\d+}/reassign", reassign_callback)
    r.add_post("/api/cases/{case_id:\\d+}/reassign", reassign_case)
    setup_report_routes(
        app, cfg.reports or ReportConfig(ring_limit_seconds=board_cfg.ring_limit_seconds)
    )
    supervisors = tuple(role.value for role in SUPERVISORS)
    for method, path, summary in (
        ("POST", "/api/agents/{member}/pause", "Pause an agent in every queue {reason}"),
        ("POST", "/api/agents/{member}/resume", "Resume a paused agent"),
        ("POST", "/api/agents/{member}/logout", "Remove an agent from their queues"),
        (
            "POST",
            "/api/agents/{member}/spy",
            "Listen, whisper or barge {mode} from your phone, one at a time; stop ends it",
        ),
        ("POST", "/api/callbacks/{callback_id}/reassign", "Hand an open callback {to}"),
        ("POST", "/api/cases/{case_id}/reassign", "Hand an open case {to}"),
        ("GET", "/api/reports/{period}", "daily|weekly|quarterly statistics (JSON or CSV)"),
    ):
        register_operation(app, method, path, summary, roles=supervisors, tag="lead")

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        await monitor.start()
        try:
            yield
        finally:
            await monitor.stop()

    app.cleanup_ctx.append(lifecycle)


# --- page ---------------------------------------------------------------------------------


async def wallboard_page(request: web.Request) -> web.Response:
    user = current_user(request)
    if user.role not in SUPERVISORS:
        raise ApiError(403, "forbidden", "the wallboard is for team leads and managers")
    claims = request[CLAIMS_KEY]
    return render(
        request,
        "lead/wallboard.html",
        csrf_token=request.app[SIGNER_KEY].csrf_token(claims.session_id),
        scope="team" if user.role is Role.LEAD else "all",
    )


# --- actions ------------------------------------------------------------------------------


async def _member_in_scope(request: web.Request, lead: User, member: str) -> User:
    target = await svc(request).db.users.get_by_member_name(member)
    if target is None or not target.interface:
        raise ApiError(404, "no-such-agent", f"no agent {member!r}")
    _check_team(lead, target)
    return target


def _check_team(lead: User, target: User | None) -> None:
    if lead.role is Role.LEAD and (target is None or target.team_id != lead.team_id):
        raise ApiError(403, "other-team", "a team lead acts on their own team only")


async def _telephony(action: str, coro: Any) -> Any:
    try:
        return await coro
    except TelephonyError as exc:
        raise ApiError(502, exc.error_id, f"{action} failed: {exc}") from exc
    except (ConnectionError, TimeoutError) as exc:
        raise ApiError(
            503, "pbx-unavailable", f"{action} failed: the PBX is not reachable"
        ) from exc


async def agent_action(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    member, action = request.match_info["member"], request.match_info["action"]
    target = await _member_in_scope(request, lead, member)
    assert target.interface is not None
    body = await json_body(request) if request.can_read_body else {}
    reason = str(body.get("reason") or "supervisor")
    await audit(request, f"lead.{action}", f"agent:{member}", reason if action == "pause" else "")
    commands = svc(request).commands
    if action == "pause":
        await _telephony("pause", commands.queue_pause(target.interface, True, reason))
    elif action == "resume":
        await _telephony("resume", commands.queue_pause(target.interface, False))
    else:
        board_agent = request.app[MONITOR_KEY].board.agents.get(member)
        queues = set(target.queues) | (board_agent.queues if board_agent else set())
        removed, errors = [], []
        for queue in sorted(queues):
            try:
                await commands.queue_remove(queue, target.interface)
                removed.append(queue)
            except TelephonyError as exc:  # not a member of that queue: nothing to undo
                errors.append(f"{queue}: {exc}")
        if not removed and errors:
            raise ApiError(502, "logout-failed", "log out failed: " + "; ".join(errors))
        return web.json_response({"ok": True, "agent": member, "action": action, "queues": removed})
    return web.json_response({"ok": True, "agent": member, "action": action})


@dataclass(slots=True)
class SpySession:
    """A lead's one listen-in: the Uniqueid we gave its channel, and the channel's name
    once Asterisk has named it."""

    member: str
    mode: SpyMode
    channel_id: str
    channel: str | None = None


@dataclass(slots=True)
class SpyDesk:
    """One spy at a time per lead (issue 12: whisper started during listen left two
    ChanSpy sessions ringing the lead). A new mode hangs up the running session, even
    one still ringing the lead's phone, before ringing the phone for the new one."""

    sessions: dict[str, SpySession] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def lock(self, lead: str) -> asyncio.Lock:
        return self.locks.setdefault(lead, asyncio.Lock())

    async def end(self, lead: str, commands: Any) -> SpySession | None:
        session = self.sessions.pop(lead, None)
        if session is None:
            return None
        for channel in dict.fromkeys((session.channel, session.channel_id)):
            if not channel:
                continue
            try:
                await commands.hangup(channel)
                break
            except TelephonyError as exc:  # already gone: the lead or the call hung up
                log.debug("spy %s of %s: %s", channel, lead, exc)
        return session


SPY_KEY = web.AppKey("spy_desk", SpyDesk)
SPY_MODES = ", ".join([*(m.value for m in SpyMode), "stop"])


async def spy(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    member = request.match_info["member"]
    target = await _member_in_scope(request, lead, member)
    assert target.interface is not None
    body = await json_body(request)
    raw = str(body.get("mode", "listen"))
    try:
        mode = None if raw == "stop" else SpyMode(raw)
    except ValueError as exc:
        raise ApiError(400, "bad-mode", f"mode must be one of {SPY_MODES}") from exc
    if not lead.interface:
        raise ApiError(409, "no-phone", "your user has no phone interface to listen on")
    desk, commands = request.app[SPY_KEY], svc(request).commands
    # a new request ends the running one at once, even while it still rings the phone
    ended = await desk.end(lead.username, commands)
    async with desk.lock(lead.username):
        ended = await desk.end(lead.username, commands) or ended
        if mode is None:
            await audit(request, "spy.stop", f"agent:{member}", "")
            return web.json_response(
                {"ok": True, "mode": "stop", "agent": member, "stopped": ended is not None}
            )
        await audit(request, f"spy.{mode.value}", f"agent:{member}", f"from {lead.interface}")
        session = SpySession(member=member, mode=mode, channel_id=f"spy-{uuid.uuid4().hex}")
        desk.sessions[lead.username] = session
        try:
            result = await _telephony(
                "spy",
                commands.spy(lead.interface, target.interface, mode, channel_id=session.channel_id),
            )
        except ApiError as exc:
            if desk.sessions.get(lead.username) is not session:
                raise ApiError(
                    409, "spy-replaced", "this listen-in was ended before it began"
                ) from exc
            desk.sessions.pop(lead.username)
            raise
        if desk.sessions.get(lead.username) is not session:
            # ended (stop, or another mode) while the phone rang
            raise ApiError(409, "spy-replaced", "this listen-in was ended before it began")
        session.channel = result.channel
    if not result.success:
        raise ApiError(502, "spy-failed", f"your phone did not answer (reason {result.reason})")
    return web.json_response(
        {"ok": True, "mode": mode.value, "agent": member, "channel": result.channel}
    )


async def _new_owner(request: web.Request, lead: User) -> User:
    body = await json_body(request)
    name = str(body.get("to") or "")
    users = svc(request).db.users
    target = await users.get_by_username(name) or await users.get_by_member_name(name)
    if target is None or not target.active:
        raise ApiError(400, "no-such-user", f"no active user {name!r} to hand it to")
    _check_team(lead, target)
    return target


async def _owner_in_scope(request: web.Request, lead: User, owner_id: int | None) -> None:
    if lead.role is not Role.LEAD or owner_id is None:
        return
    try:
        owner = await svc(request).db.users.get(owner_id)
    except NotFound:
        return
    _check_team(lead, owner)


async def reassign_callback(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    callback_id = int(request.match_info["callback_id"])
    db = svc(request).db
    try:
        callback = await db.callbacks.get(callback_id)
    except NotFound as exc:
        raise ApiError(404, "no-such-callback", f"no callback {callback_id}") from exc
    if callback.status not in (CallbackStatus.OPEN, CallbackStatus.OVERDUE):
        raise ApiError(409, "callback-closed", f"callback {callback_id} is {callback.status}")
    await _owner_in_scope(request, lead, callback.owner_user_id)
    target = await _new_owner(request, lead)
    await audit(request, "callback.reassign", f"callback:{callback_id}", f"to {target.username}")
    await db.callbacks.update(callback_id, owner_user_id=target.id)
    request.app[HUB_KEY].send_to_user(
        target.username,
        {"type": "callback_assigned", "callback_id": callback_id, "by": lead.username},
    )
    return web.json_response({"ok": True, "callback_id": callback_id, "owner": target.username})


async def reassign_case(request: web.Request) -> web.Response:
    lead = require(request, *SUPERVISORS)
    case_id = int(request.match_info["case_id"])
    db = svc(request).db
    try:
        case = await db.cases.get(case_id)
    except NotFound as exc:
        raise ApiError(404, "no-such-case", f"no case {case_id}") from exc
    if case.status is CaseStatus.CLOSED:
        raise ApiError(409, "case-closed", f"case {case_id} is closed")
    await _owner_in_scope(request, lead, case.owner_user_id)
    target = await _new_owner(request, lead)
    await audit(request, "case.reassign", f"case:{case_id}", f"to {target.username}")
    await db.cases.reassign(case_id, target.id, at=svc(request).clock.now(), by_user_id=lead.id)
    request.app[HUB_KEY].send_to_user(
        target.username, {"type": "case_assigned", "case_id": case_id, "by": lead.username}
    )
    return web.json_response({"ok": True, "case_id": case_id, "owner": target.username})


__all__ = ["MONITOR_KEY", "LeadConfig", "LeadMonitor", "setup_lead_routes"]
