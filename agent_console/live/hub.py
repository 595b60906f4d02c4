"""The WebSocket hub: the one way anything reaches a console, and the only code that
frames its messages.

Every user has one *stream*: an increasing `seq` and a bounded buffer of the
last messages, so a console that lost its connection asks for what it missed
(`resume`) instead of losing a screen pop. Each open socket of that user gets a
*connection* with a bounded queue drained by its own writer task; a socket that
cannot keep up is closed with code 4008 and never slows anyone else (the
buffer still holds its messages for the reconnect).

Public API (also used by the team-lead wallboard and campaigns):

    hub.send_to_user("agent1", {"type": "screen_pop", ...})
    hub.reply(conn, {"type": "pong"})      # to one socket, unnumbered
    hub.send_to_role(msg, Role.LEAD, Role.MANAGER)
    hub.send_to_team(team_id, msg)          # members and the team's lead
    hub.add_message_handler("type", roles, handler)  # client -> server messages
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from crm_core import metrics
from crm_core.domain.models import Role, User

log = logging.getLogger(__name__)

Message = dict[str, Any]
ClientHandler = Callable[["Connection", Message], Awaitable[None]]

CLOSE_TOO_SLOW = 4008  # the client did not read fast enough
CLOSE_AUTH = 4001  # session ended (logout, user disabled)
HEARTBEAT_TURNS = 15  # a heartbeat round is spread over this many ticks


def encode(message: Message) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)


def seq_origin() -> int:
    """Where a new stream starts numbering: microseconds since the epoch.

    A console keeps its last `seq` across reconnects, and the proxy may send it to
    another instance, or to this one restarted; their streams for the same user
    number differently. Starting each stream at the clock keeps the ranges apart
    (a stream would need more messages than microseconds lived to reach the next
    one's start), so a `seq` from elsewhere never looks like one of ours: it is
    above our last or below our buffer, and the console gets a snapshot rather
    than a resume that skips, or replays the wrong messages (docs/adr/0039).
    Below 2**53 until the year 2255, so exact in JavaScript."""
    return time.time_ns() // 1000


@dataclass(slots=True)
class Stream:
    """One user's numbered message stream with its replay buffer."""

    user: User
    seq: int = 0
    buffer: deque[tuple[int, str]] = field(default_factory=deque)
    connections: set[Connection] = field(default_factory=set)
    slot: int = 0  # which turn of a heartbeat round this stream's heartbeat takes

    def oldest(self) -> int:
        return self.buffer[0][0] if self.buffer else self.seq + 1


class Connection:
    """One open socket: a bounded queue and a writer that coalesces what is queued."""

    def __init__(
        self,
        hub: Hub,
        stream: Stream,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        max_queue: int,
        *,
        batch: bool = False,
    ) -> None:
        self.hub = hub
        # several queued messages in one JSON-array frame, only for a client that asked
        # for it (`?batch=1`, as our console does); others get one object per frame
        self.batch = batch
        self.stream = stream
        self.ws = ws
        self._transport = transport
        self._queue: deque[str] = deque()
        self._max_queue = max_queue
        self._wake = asyncio.Event()
        self._sending = False
        self.closed = False
        self.close_code: int | None = None
        self.session_id = ""  # the login session this socket belongs to
        self.start_seq = stream.seq
        self.sent_messages = 0

    @property
    def user(self) -> User:
        return self.stream.user

    def push(self, text: str) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._max_queue:
            self.kill(CLOSE_TOO_SLOW)
            return
        self._queue.append(text)
        self._wake.set()

    def push_front(self, texts: list[str]) -> None:
        """Replayed messages go ahead of anything live already queued."""
        if self.closed:
            return
        self._queue.extendleft(reversed(texts))
        self._wake.set()

    def kill(self, code: int) -> None:
        """Close this socket without waiting for it (it may be stuck in a full buffer)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self._queue.clear()
        if code == CLOSE_TOO_SLOW:
            metrics.WS_SLOW_CLOSED.inc()
        log.log(
            logging.WARNING if code == CLOSE_TOO_SLOW else logging.DEBUG,
            "closing console socket of %s with code %d",
            self.user.username,
            code,
        )
        if self._sending and self._transport is not None:
            # The writer is blocked on a full socket: a close frame would never leave.
            self._transport.abort()
        self._wake.set()

    async def run_writer(self) -> None:
        """Drain the queue; for a batching client several queued messages leave as one
        JSON-array frame, for any other one frame per message (CONTRACTS.md)."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                if self.closed:
                    break
                if not self._queue:
                    continue
                batch = list(self._queue)
                self._queue.clear()
                joined = self.batch and len(batch) > 1
                frames = ["[" + ",".join(batch) + "]"] if joined else batch
                self._sending = True
                try:
                    for frame in frames:
                        await self.ws.send_str(frame)
                        if self.closed:
                            break
                finally:
                    self._sending = False
                self.sent_messages += len(batch)
        except (ConnectionResetError, RuntimeError) as exc:
            log.info("console socket of %s went away: %s", self.user.username, exc)
            self.closed = True
            return
        if self.close_code is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(code=self.close_code), timeout=1.0)
            except (TimeoutError, ConnectionResetError, RuntimeError):
                if self._transport is not None:
                    self._transport.abort()


class Hub:
    def __init__(
        self,
        *,
        buffer_size: int = 500,
        socket_queue: int = 256,
        origin: Callable[[], int] = seq_origin,
    ) -> None:
        self._streams: dict[str, Stream] = {}
        self._origin = origin
        self._buffer_size = buffer_size
        self._socket_queue = socket_queue
        self._handlers: dict[str, tuple[frozenset[Role], ClientHandler]] = {}
        self.delivered = 0

    # --- extension points -----------------------------------------------------------

    def add_message_handler(
        self, msg_type: str, roles: Iterable[Role], handler: ClientHandler
    ) -> None:
        """Handle a client message type; only users with one of `roles` may send it."""
        self._handlers[msg_type] = (frozenset(roles), handler)

    def message_handler(self, msg_type: str) -> tuple[frozenset[Role], ClientHandler] | None:
        return self._handlers.get(msg_type)

    # --- sending ----------------------------------------------------------------------

    def stream_for(self, user: User) -> Stream:
        stream = self._streams.get(user.username)
        if stream is None:
            stream = Stream(user=user, slot=len(self._streams), seq=self._origin())
            self._streams[user.username] = stream
        else:
            stream.user = user  # role or team may have changed since
        return stream

    def send_to_user(self, username: str, message: Message) -> int | None:
        """Number the message in the user's stream and queue it to every open socket.

        Users who never opened a console have no stream and get nothing (returns None);
        users who did keep receiving into the replay buffer while disconnected."""
        stream = self._streams.get(username)
        if stream is None:
            return None
        stream.seq += 1
        text = encode({**message, "seq": stream.seq})
        stream.buffer.append((stream.seq, text))
        if len(stream.buffer) > self._buffer_size:
            stream.buffer.popleft()
        for conn in tuple(stream.connections):
            conn.push(text)
        self.delivered += 1
        return stream.seq

    def reply(self, conn: Connection, message: Message) -> None:
        """A direct answer to one socket (a pong, an error, a wallboard frame): it carries
        the stream's current seq and does not advance it, so it is not replayed."""
        conn.push(encode({**message, "seq": conn.stream.seq}))

    def send_to_role(self, message: Message, *roles: Role) -> None:
        wanted = set(roles)
        for name, stream in tuple(self._streams.items()):
            if stream.user.role in wanted:
                self.send_to_user(name, message)

    def send_to_team(self, team_id: int, message: Message, *, include_leads: bool = True) -> None:
        for name, stream in tuple(self._streams.items()):
            user = stream.user
            if user.team_id == team_id and (include_leads or user.role is Role.AGENT):
                self.send_to_user(name, message)

    def connected_users(self) -> list[str]:
        return [name for name, s in self._streams.items() if s.connections]

    def connection_count(self) -> int:
        return sum(len(s.connections) for s in self._streams.values())

    # --- connections ------------------------------------------------------------------

    def connect(
        self,
        user: User,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        *,
        batch: bool = False,
    ) -> Connection:
        stream = self.stream_for(user)
        conn = Connection(self, stream, ws, transport, self._socket_queue, batch=batch)
        stream.connections.add(conn)
        metrics.WS_CONNECTIONS.inc()
        return conn

    def disconnect(self, conn: Connection) -> None:
        if conn in conn.stream.connections:
            conn.stream.connections.discard(conn)
            metrics.WS_CONNECTIONS.dec()

    def snapshot(self, conn: Connection, base: Message) -> None:
        """Queue a snapshot of the state as of the stream's current seq.

        Taken synchronously after the connection is registered, so any later message
        has a higher seq and nothing falls between the snapshot and the live stream."""
        message: Message = {"type": "snapshot", "seq": conn.stream.seq, **base}
        conn.push_front([encode(message)])

    def resume(self, conn: Connection, after: int) -> bool:
        """Replay everything after `after`; False (send a snapshot) when the buffer no
        longer has it, or when `after` is not a seq of this stream at all: one we never
        reached came from another instance's or an earlier process's stream."""
        stream = conn.stream
        if after == stream.seq:
            return True
        if after > stream.seq or after + 1 < stream.oldest():
            return False
        # Live messages with seq > start_seq are already queued; replay up to there.
        upto = max(conn.start_seq, after)
        texts = [text for seq, text in stream.buffer if after < seq <= upto]
        conn.push_front(texts)
        return True

    def close_user(self, username: str, code: int = CLOSE_AUTH) -> None:
        stream = self._streams.get(username)
        if stream is None:
            return
        for conn in tuple(stream.connections):
            conn.kill(code)

    def close_session(self, session_id: str, code: int = CLOSE_AUTH) -> None:
        """End the sockets of one login session (it was logged out, maybe elsewhere)."""
        for stream in tuple(self._streams.values()):
            for conn in tuple(stream.connections):
                if conn.session_id == session_id:
                    conn.kill(code)

    def heartbeat(self, turn: int = 0, turns: int = 1) -> None:
        """A heartbeat carries the current seq so a client can spot a gap. With `turns`
        > 1, only the streams whose turn it is get one (see `run_heartbeats`)."""
        for stream in tuple(self._streams.values()):
            if not stream.connections or stream.slot % turns != turn:
                continue
            text = encode({"type": "heartbeat", "seq": stream.seq})
            for conn in tuple(stream.connections):
                conn.push(text)

    async def run_heartbeats(
        self,
        interval: float,
        sleep: Callable[[float], Awaitable[None]],
        *,
        turns: int = HEARTBEAT_TURNS,
    ) -> None:
        """Every stream hears a heartbeat every `interval` seconds, the streams taking
        turns: a burst of one write per open socket held the loop long enough to delay
        the screen pops queued behind it by a few hundred ms with 1,000 consoles."""
        tick = 0
        while True:
            await sleep(interval / turns)
            self.heartbeat(tick % turns, turns)
            tick += 1
