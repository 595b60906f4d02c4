"""`/ws`: the console's live channel (CONTRACTS.md).

Authenticated by the session cookie or `?token=`; the user is checked again on
every client message (role and session), so logout or a disabled login ends the
socket. `?after=N` (or a first `{"type": "resume", "after": N}`) replays what a
reconnecting console missed; otherwise a snapshot is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSMsgType, web

from agent_console.live.hub import CLOSE_AUTH, Connection, Hub
from agent_console.live.keys import HUB_KEY, SEATS_KEY
from agent_console.web.auth import CLAIMS_KEY, SIGNER_KEY, USERS_KEY, current_user
from agent_console.web.declared import Given, operation
from agent_console.web.deps import DEPS_KEY
from agent_console.web.edge import parse_json_object
from agent_console.web.errors import ApiError
from agent_console.web.models import NoBody, Query, ShortText
from crm_core.domain.models import User

log = logging.getLogger(__name__)


def _base_snapshot(request: web.Request, user: User) -> dict[str, object]:
    deps = request.app[DEPS_KEY]
    return {
        "me": {
            "username": user.username,
            "display_name": user.display_name,
            "role": user.role.value,
            "member_name": user.member_name,
            "team_id": user.team_id,
        },
        "company": deps.config.company_name,
        "ring_limit_seconds": deps.config.ring_limit_seconds,
        "now": deps.clock.now().isoformat(),
        **request.app[SEATS_KEY].snapshot_for(user),
    }


def origin_allowed(request: web.Request) -> bool:
    """A browser always names the page that opens a socket: only our own pages may
    (a cross-site page would otherwise ride on the session cookie). Clients that are
    not browsers send no Origin and authenticate with a token."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    own = f"{request.scheme}://{request.host}".lower()
    allowed = {own, *request.app[DEPS_KEY].config.allowed_origins}
    return origin.strip().lower().rstrip("/") in allowed


class SocketQuery(Query):
    """`after`: the last seq the console saw (a resume; anything else: a snapshot);
    `batch=1`: several queued messages in one frame as a JSON array (CHANGELOG, issue 13)."""

    after: ShortText = ""
    batch: ShortText = ""


@operation(
    "GET",
    "/ws",
    summary="WebSocket: screen pops, call and agent updates (JSON messages {type, seq, …})",
    query=SocketQuery,
    errors=("bad-origin",),
    tag="live",
)
async def websocket(request: web.Request, given: Given[NoBody, SocketQuery]) -> web.StreamResponse:
    user = current_user(request)
    claims = request[CLAIMS_KEY]
    hub: Hub = request.app[HUB_KEY]
    if not origin_allowed(request):
        log.warning("console socket of %s refused: foreign origin", user.username)
        raise ApiError(403, "bad-origin", "this page may not open the console's socket")
    ws = web.WebSocketResponse(heartbeat=30.0, compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    batch = given.query.batch in ("1", "true")
    conn = hub.connect(user, ws, request.transport, batch=batch)
    conn.session_id = claims.session_id
    after_raw = given.query.after
    if after_raw.lstrip("-").isascii() and after_raw.lstrip("-").isdigit():
        if not hub.resume(conn, int(after_raw)):
            hub.snapshot(conn, _base_snapshot(request, user))
    else:
        hub.snapshot(conn, _base_snapshot(request, user))
    writer = asyncio.create_task(conn.run_writer(), name=f"ws-writer:{user.username}")
    try:
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            fresh = await request.app[USERS_KEY].get(user.id)
            signer = request.app[SIGNER_KEY]
            if (
                fresh is None
                or not fresh.active
                or not await signer.is_live(claims, now=time.time())
            ):
                conn.kill(CLOSE_AUTH)
                break
            await _client_message(request, conn, fresh, msg.data)
    finally:
        hub.disconnect(conn)
        if not conn.closed:
            conn.kill(1000)
        try:
            await asyncio.wait_for(writer, timeout=2.0)
        except TimeoutError:
            log.warning("console writer of %s did not stop in time", user.username)
    return ws


async def _client_message(request: web.Request, conn: Connection, user: User, data: str) -> None:
    hub: Hub = request.app[HUB_KEY]
    try:
        message = parse_json_object(data.encode("utf-8", "surrogatepass"))  # ADR 0062
        kind = message["type"]
    except (ApiError, KeyError):
        hub.reply(
            conn, {"type": "error", "error_id": "bad-message", "message": "expected {type: ...}"}
        )
        return
    if kind == "ping":
        hub.reply(conn, {"type": "pong"})
    elif kind == "resume":
        after = message.get("after")
        if not isinstance(after, int):
            hub.reply(
                conn, {"type": "error", "error_id": "bad-message", "message": "resume needs after"}
            )
        elif conn.sent_messages > 0 or not hub.resume(conn, after):
            hub.snapshot(conn, _base_snapshot(request, user))
    elif kind == "snapshot":
        hub.snapshot(conn, _base_snapshot(request, user))
    else:
        entry = hub.message_handler(str(kind))
        if entry is None:
            hub.reply(
                conn,
                {"type": "error", "error_id": "unknown-type", "message": f"unknown type {kind!r}"},
            )
            return
        roles, handler = entry
        if user.role not in roles:
            hub.reply(
                conn,
                {
                    "type": "error",
                    "error_id": "forbidden",
                    "message": f"{kind} is not for your role",
                },
            )
            return
        await handler(conn, message)
