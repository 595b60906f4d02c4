"""The AMI transport: connect, login, keep-alive, watchdog, reconnect, actions.

We drive the socket ourselves with our bytes-safe framing instead of panoramisk's
Manager (docs/adr/0008-own-ami-client.md), and neutralise each of its known hazards:
- an action sent while disconnected fails at once (`ami-unavailable`), and every
  action has a timeout (`ami-timeout`): nothing waits forever;
- unanswered actions are failed on disconnect, never re-sent: an Originate cannot be
  placed twice (see also the request ids in `telephony.commands`);
- a half-open socket is noticed: pings are answered or the link is dropped, and no
  traffic at all within `watchdog` seconds also drops it;
- Originate is always sent with `Async: true`;
- every read goes to the one ingest path (`telephony.ingest.Ingest.feed_bytes`: framing,
  pre-filter, translation, tracker — the path replay and `bench ami` run too); the
  domain events it returns go to an ordered queue consumed by their own task, so a
  slow or failing sink never stalls reading (Asterisk drops clients that do not read).
The client knows no calls: each time it starts reading events it calls `catch_up`
(`telephony.catch_up.CatchUp`: the questions to the PBX after a gap) with itself as
the link and the time it last read (docs/adr/0095). `telephony.pbx_reader` composes
the three.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from crm_core import metrics
from crm_core.domain.events import AmiConnected, AmiDisconnected, DomainEvent
from crm_core.ports.clock import Clock
from crm_core.ports.telephony import TelephonyError
from telephony.ami.framing import AmiMessage, serialize_action

log = logging.getLogger(__name__)

EventSink = Callable[[list[DomainEvent]], Awaitable[None]]
# work for the ordered event queue (a catch-up's reads): the events it returns leave
# in turn with those read from the socket
Job = Callable[[], Awaitable[list[DomainEvent]]]


class FrameSink(Protocol):
    """The ingest path the client feeds (`telephony.ingest.Ingest`)."""

    # frames answering an action go here first (True: the transport's alone)
    answers: Callable[[AmiMessage], bool]
    events: int  # events read (dialplan noise included)
    bad_frames: int

    def new_connection(self) -> None: ...

    def feed_bytes(self, data: bytes, at: datetime) -> list[DomainEvent]: ...


class CatchUpHook(Protocol):
    """Called each time the client starts reading events (`telephony.catch_up.CatchUp`)."""

    async def __call__(self, link: AmiClient, lost_at: datetime | None) -> None: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    username: str
    secret: str
    name: str = "default"


class _LoginRefused(Exception):
    """Asterisk answered the Login with an error (wrong user or secret, ACL)."""

    def __init__(self, username: str, message: str) -> None:
        self.username = username
        self.message = message
        super().__init__(f"AMI login refused for user {username} ({message or 'no reason'})")


class _ListCollector:
    __slots__ = ("done", "items")

    def __init__(self) -> None:
        self.items: list[AmiMessage] = []
        self.done: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()


class AmiClient:
    def __init__(
        self,
        endpoint: Endpoint,
        *,
        ingest: FrameSink,
        on_events: EventSink,
        clock: Clock,
        action_timeout: float = 10.0,
        ping_interval: float = 5.0,
        watchdog: float = 15.0,
        backoff_min: float = 0.2,
        backoff_max: float = 30.0,
        fast_retry_max: float = 1.0,
        fast_retry_window: float = 60.0,
        events: bool = True,
        catch_up: CatchUpHook | None = None,
    ) -> None:
        self.endpoint = endpoint
        # the one ingest path; frames answering our actions come back to `_answer`
        self.ingest = ingest
        ingest.answers = self._answer
        self.catch_up = catch_up
        self.on_events = on_events
        self.clock = clock
        self.action_timeout = action_timeout
        self.ping_interval = ping_interval
        self.watchdog = watchdog
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.fast_retry_max = fast_retry_max
        self.fast_retry_window = fast_retry_window
        # a hot standby keeps its connection for actions but reads no events (the lease
        # holder does): see set_events and docs/adr/0028-ami-reader-lease.md
        self.events_enabled = events
        self._last_event_at: datetime | None = None  # last read while reading events
        # the last event before the link went down, kept until a catch-up has used it
        self._events_lost_at: datetime | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}
        self._lists: dict[str, _ListCollector] = {}
        self._originates: dict[str, asyncio.Future[AmiMessage]] = {}
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[list[DomainEvent] | Job] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self.connected = False
        self._up = False  # logged in and announced
        self.last_error = ""
        self.refused = False  # the last login was refused by Asterisk
        self._logged_in = False  # this connection attempt logged in
        self._failure_state = ""  # the failure last logged (logged once per change)
        self.connects = 0

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        name = self.endpoint.name
        self._tasks = [
            asyncio.create_task(self._run(), name=f"ami-{name}"),
            asyncio.create_task(self._consume(), name=f"ami-events-{name}"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=5.0)
            for task in pending:
                log.error(
                    "AMI %s: task %s did not stop in 5 s", self.endpoint.name, task.get_name()
                )
        self._tasks = []
        await self._drop("service stopping", announce=False)

    async def wait_connected(self, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self._ready.wait(), timeout)

    @property
    def events_read(self) -> int:
        """Events read from the socket (dialplan noise included; not answers to actions)."""
        return self.ingest.events

    @property
    def bad_frames(self) -> int:
        return self.ingest.bad_frames

    @property
    def backlog(self) -> int:
        """Batches of domain events read that the sink has not taken yet (reader lag)."""
        return self._queue.qsize()

    # --- actions ------------------------------------------------------------------------------
    def _next_id(self) -> str:
        return f"cc-{self.endpoint.name}-{next(self._ids)}"

    async def send_action(
        self, headers: dict[str, str] | list[tuple[str, str]], timeout: float | None = None
    ) -> AmiMessage:
        """Send one action and wait for its Response (matched by ActionID)."""
        items = list(headers.items()) if isinstance(headers, dict) else list(headers)
        action = next((v for k, v in items if k.lower() == "action"), "")
        if action.lower() == "originate":
            items = [(k, v) for k, v in items if k.lower() != "async"] + [("Async", "true")]
        action_id = next((v for k, v in items if k == "ActionID"), None) or self._next_id()
        items = [(k, v) for k, v in items if k != "ActionID"] + [("ActionID", action_id)]
        writer = self._writer
        if writer is None or not self.connected:
            raise TelephonyError(
                "ami-unavailable", f"AMI {self.endpoint.name} is not connected ({action})"
            )
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = future
        try:
            writer.write(serialize_action(items))
            return await asyncio.wait_for(future, timeout or self.action_timeout)
        except TimeoutError as exc:
            raise TelephonyError(
                "ami-timeout", f"no answer from AMI {self.endpoint.name} to {action}"
            ) from exc
        finally:
            self._pending.pop(action_id, None)

    async def send_list_action(
        self, headers: dict[str, str], timeout: float | None = None
    ) -> list[AmiMessage]:
        """Actions answered by a list of events ending in `EventList: Complete`."""
        action_id = self._next_id()
        collector = _ListCollector()
        self._lists[action_id] = collector
        try:
            response = await self.send_action({**headers, "ActionID": action_id}, timeout)
            if response.get("Response") == "Error":
                raise TelephonyError("action-failed", response.get("Message"))
            return await asyncio.wait_for(collector.done, timeout or self.action_timeout)
        except TimeoutError as exc:
            raise TelephonyError("ami-timeout", f"list {headers.get('Action')} timed out") from exc
        finally:
            self._lists.pop(action_id, None)

    async def set_events(self, on: bool) -> None:
        """Become (or stop being) the one reader of this PBX's events."""
        self.events_enabled = on
        if not on:
            # another reader takes over: when we read again we know nothing of now on
            self._last_event_at = self._events_lost_at = None
        log.warning(
            "AMI %s: %s",
            self.endpoint.name,
            "reading events (active)" if on else "not reading events (standby)",
        )
        if not self._up:
            return  # the next login asks for what is wanted now
        try:
            await self.send_action({"Action": "Events", "EventMask": "on" if on else "off"})
            if on:
                await self._catch_up()
        except TelephonyError as exc:
            log.error(
                "AMI %s: switching events %s failed: %s",
                self.endpoint.name,
                "on" if on else "off",
                exc,
            )

    def expect_originate(self, action_id: str) -> asyncio.Future[AmiMessage]:
        future: asyncio.Future[AmiMessage] = asyncio.get_running_loop().create_future()
        self._originates[action_id] = future
        return future

    def forget_originate(self, action_id: str) -> None:
        self._originates.pop(action_id, None)

    # --- connection loop --------------------------------------------------------------------------
    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = self.backoff_min
        last_up = -1e9  # loop time the link was last logged in
        while True:
            self._logged_in = False
            refused = False
            try:
                await self._connect_and_read()
            except _LoginRefused as exc:
                refused = True
                self.last_error = str(exc)
                await self._note_failure(f"refused:{exc}", str(exc), backoff, refused=True)
            except (OSError, TimeoutError, TelephonyError, ConnectionError) as exc:
                self.last_error = str(exc) or type(exc).__name__
                if not self._up:  # the link never came up: name why, once per cause
                    await self._note_failure(
                        f"connect:{type(exc).__name__}",
                        f"AMI {self.endpoint.host}:{self.endpoint.port}: cannot connect "
                        f"({self.last_error})",
                        backoff,
                    )
            if self._logged_in:
                # it was up: start over gently (issue 12 #6: this line was unreachable
                # when it followed only a normal return, which never happens)
                backoff = self.backoff_min
                last_up = loop.time()
            await self._drop(self.last_error or "connection closed")
            await asyncio.sleep(backoff * (0.5 + random.random()))  # jitter spreads reconnects
            # soon after a loss (a kick, a PBX restart) retry about every second; a link
            # down longer, or a login Asterisk refuses, backs off to backoff_max
            recent = loop.time() - last_up < self.fast_retry_window and not refused
            ceiling = min(self.fast_retry_max, self.backoff_max) if recent else self.backoff_max
            backoff = min(backoff * 2, ceiling)

    async def _note_failure(
        self, state: str, message: str, backoff: float, *, refused: bool = False
    ) -> None:
        """Log a failure to (re)connect once per state change, without a traceback."""
        if state == self._failure_state:
            log.debug("%s; retrying in about %.1f s", message, backoff)
            return
        self._failure_state = state
        log.warning("%s; retrying in about %.1f s", message, backoff)
        if refused:
            self.refused = True
            ep = self.endpoint
            await self._emit(
                [
                    AmiDisconnected(
                        at=self.clock.now(), pbx=ep.name, host=ep.host, port=ep.port, reason=message
                    )
                ]
            )

    async def _connect_and_read(self) -> None:
        ep = self.endpoint
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ep.host, ep.port), 5.0)
        self.ingest.new_connection()
        self._writer = writer
        self.connected = True  # the socket is up; login decides whether we keep it
        reader_task = asyncio.create_task(self._read(reader), name=f"ami-read-{ep.name}")
        try:
            asked = self.events_enabled
            login = await self.send_action(
                {
                    "Action": "Login",
                    "Username": ep.username,
                    "Secret": ep.secret,
                    "Events": "on" if asked else "off",
                }
            )
            if login.get("Response") != "Success":
                raise _LoginRefused(ep.username, login.get("Message"))
            self._logged_in = True
            self._failure_state = ""
            self.refused = False
            self.connects += 1
            metrics.AMI_RECONNECTS.labels(ep.name).inc()
            log.warning("AMI %s:%d connected and logged in as %s", ep.host, ep.port, ep.username)
            await self._emit(
                [AmiConnected(at=self.clock.now(), pbx=ep.name, host=ep.host, port=ep.port)]
            )
            self._up = True
            if self.events_enabled != asked:
                # set_events() ran while the login was unanswered (a lease won or lost at
                # that moment): the login asked for the old state, so ask for the new one
                await self.send_action(
                    {"Action": "Events", "EventMask": "on" if self.events_enabled else "off"}
                )
            if self.events_enabled:
                await self._catch_up()
            self._ready.set()
            pinger = asyncio.create_task(self._ping(), name=f"ami-ping-{ep.name}")
            try:
                await reader_task
            finally:
                pinger.cancel()
                # asyncio.wait lets our own stop() cancellation through; suppressing
                # CancelledError around `await pinger` swallowed it and kept reconnecting.
                await asyncio.wait([pinger])
        finally:
            if not reader_task.done():
                reader_task.cancel()
                await asyncio.wait([reader_task])
            if not reader_task.cancelled() and reader_task.exception() is not None:
                # retrieved here: the error that ends the session is the one raised above
                # (a refused login closes the socket too: no "exception never retrieved")
                log.debug("AMI %s: reader ended: %s", ep.name, reader_task.exception())

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            await self._read_frames(reader)
        except (OSError, ConnectionError) as exc:
            # answers that cannot come any more fail now, not at their timeout (a login
            # answered by a close waited action_timeout before)
            self._fail_waiting(str(exc) or type(exc).__name__)
            raise

    async def _read_frames(self, reader: asyncio.StreamReader) -> None:
        pbx = self.endpoint.name
        ingest = self.ingest
        queue = self._queue
        read_counter = metrics.AMI_EVENTS.labels(pbx)
        bad_counter = metrics.AMI_BAD_FRAMES.labels(pbx)
        while True:
            try:
                data = await asyncio.wait_for(reader.read(65536), self.watchdog)
            except TimeoutError as exc:
                raise ConnectionError(
                    f"no traffic for {self.watchdog:.0f} s (half-open socket?)"
                ) from exc
            if not data:
                raise ConnectionError("closed by Asterisk")
            at = self.clock.now()
            if self.events_enabled and self._up:  # not a refused login's answer
                self._last_event_at = at
            events_before, bad_before = ingest.events, ingest.bad_frames
            events = ingest.feed_bytes(data, at)  # the one ingest path (docs/adr/0066)
            if events:
                queue.put_nowait(events)
            if ingest.events != events_before:
                read_counter.inc(ingest.events - events_before)
            if ingest.bad_frames != bad_before:
                bad_counter.inc(ingest.bad_frames - bad_before)

    def _answer(self, msg: AmiMessage) -> bool:
        """A frame that answers an action: True when it is the transport's alone."""
        h = msg.headers
        action_id = h.get("ActionID")
        if "Response" in h and "Event" not in h:  # OriginateResponse events carry Response too
            future = self._pending.get(action_id or "")
            if future is not None and not future.done():
                future.set_result(msg)
            elif action_id:
                log.info("AMI: response to an unknown ActionID %r ignored", action_id)
            return True
        if action_id and action_id in self._lists:
            collector = self._lists[action_id]
            if h.get("EventList") == "Complete":
                if not collector.done.done():
                    collector.done.set_result(collector.items)
            else:
                collector.items.append(msg)
            return True
        if action_id and h.get("Event") == "OriginateResponse":
            waiter = self._originates.pop(action_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
        return False  # an event: the tracker's too

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            try:
                await self.send_action({"Action": "Ping"}, timeout=min(self.watchdog, 5.0))
            except TelephonyError as exc:
                log.error("AMI %s: ping unanswered (%s); reconnecting", self.endpoint.name, exc)
                if self._writer is not None:
                    self._writer.transport.abort()
                return

    async def _catch_up(self) -> None:
        if self.catch_up is not None:
            await self.catch_up(self, self._events_lost_at)
        self._events_lost_at = None  # used: the next gap starts from the next last event

    def post(self, job: Job) -> None:
        """Queue `job` behind the events read so far; its events leave in that order."""
        self._queue.put_nowait(job)

    async def _drop(self, reason: str, *, announce: bool = True) -> None:
        was = self._up
        if was and self.events_enabled:
            self._events_lost_at = self._events_lost_at or self._last_event_at
        self._up = False
        self.connected = False
        self._ready.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        self._fail_waiting(reason)
        if was and announce:
            ep = self.endpoint
            log.error("AMI %s:%d disconnected: %s", ep.host, ep.port, reason)
            await self._emit(
                [
                    AmiDisconnected(
                        at=self.clock.now(),
                        pbx=ep.name,
                        host=ep.host,
                        port=ep.port,
                        reason=reason,
                    )
                ]
            )

    def _fail_waiting(self, reason: str) -> None:
        for futures in (self._pending, self._originates):
            for future in futures.values():
                if not future.done():
                    future.set_exception(
                        TelephonyError("ami-unavailable", f"AMI connection lost: {reason}")
                    )
            futures.clear()
        for collector in self._lists.values():
            if not collector.done.done():
                collector.done.set_exception(TelephonyError("ami-unavailable", reason))

    def health(self) -> tuple[bool, str]:
        """(healthy, detail) for `/readyz` when the registry starts after the client."""
        ep = self.endpoint
        if self._up:
            return True, f"connected to {ep.host}:{ep.port}"
        if self.refused:
            return False, f"{self.last_error} at {ep.host}:{ep.port}"
        return False, self.last_error or "not connected yet"

    # --- ordered event consumer ------------
    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                events = item if isinstance(item, list) else await item()
                if events:
                    await self._emit(events)
            except Exception:  # a bad event or handler must never stop the stream
                what = "events" if isinstance(item, list) else "a catch-up read"
                log.exception("AMI %s: handling %s failed; continuing", self.endpoint.name, what)

    async def _emit(self, events: list[DomainEvent]) -> None:
        try:
            await self.on_events(events)
        except Exception:
            log.exception("AMI %s: event sink failed; continuing", self.endpoint.name)
