"""The AMI connection: login, keep-alive, watchdog, reconnect, resync, actions.

We drive the socket ourselves with our bytes-safe framing instead of panoramisk's
Manager (docs/adr/0008-own-ami-client.md), and neutralise each of its known hazards:
- an action sent while disconnected fails at once (`ami-unavailable`), and every
  action has a timeout (`ami-timeout`): nothing waits forever;
- unanswered actions are failed on disconnect, never re-sent: an Originate cannot be
  placed twice (see also the request ids in `telephony.commands`);
- a half-open socket is noticed: pings are answered or the link is dropped, and no
  traffic at all within `watchdog` seconds also drops it;
- Originate is always sent with `Async: true`;
- events go to an ordered queue consumed by their own task, so a slow or failing
  handler never stalls reading (Asterisk drops clients that do not read).
After every (re)connect the tracker is resynced from `CoreShowChannels` and
`QueueStatus`, so a call in progress across a gap still ends as one record.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crm_core import metrics
from crm_core.domain.events import AmiConnected, AmiDisconnected, DomainEvent
from crm_core.domain.models import PbxLeg
from crm_core.ports.clock import Clock
from crm_core.ports.telephony import TelephonyError
from crm_core.services.rules import check_queue_ring_timeouts
from telephony.ami.framing import AmiFrameParser, AmiMessage, serialize_action
from telephony.tracker import CallTracker

log = logging.getLogger(__name__)

EventSink = Callable[[list[DomainEvent]], Awaitable[None]]
# the PBX's own records (CDRs by Linkedid) of calls that ended while we were away
GapRecovery = Callable[[list[str]], Awaitable[Mapping[str, list[PbxLeg]]]]


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
        tracker: CallTracker,
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
        recover: GapRecovery | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.tracker = tracker
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
        self.recover = recover
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, asyncio.Future[AmiMessage]] = {}
        self._lists: dict[str, _ListCollector] = {}
        self._originates: dict[str, asyncio.Future[AmiMessage]] = {}
        self._ids = itertools.count(1)
        self._queue: asyncio.Queue[tuple[str, Any, datetime]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._ready = asyncio.Event()
        self.connected = False
        self.ring_timeout_warnings: list[str] = []
        self._up = False  # logged in and announced
        self.last_error = ""
        self.refused = False  # the last login was refused by Asterisk
        self._logged_in = False  # this connection attempt logged in
        self._failure_state = ""  # the failure last logged (logged once per change)
        self.events_read = 0
        self.connects = 0
        self.bad_frames = 0

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
    def backlog(self) -> int:
        """Events read from the socket that the tracker has not handled yet (reader lag)."""
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
                await self._resync()
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
        parser = AmiFrameParser()
        self._writer = writer
        self.connected = True  # the socket is up; login decides whether we keep it
        reader_task = asyncio.create_task(self._read(reader, parser), name=f"ami-read-{ep.name}")
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
                await self._resync()
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

    async def _read(self, reader: asyncio.StreamReader, parser: AmiFrameParser) -> None:
        try:
            await self._read_frames(reader, parser)
        except (OSError, ConnectionError) as exc:
            # answers that cannot come any more fail now, not at their timeout (a login
            # answered by a close waited action_timeout before)
            self._fail_waiting(str(exc) or type(exc).__name__)
            raise

    async def _read_frames(self, reader: asyncio.StreamReader, parser: AmiFrameParser) -> None:
        pbx = self.endpoint.name
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
            before = parser.errors
            wanted = self.tracker.wanted_events
            for raw in parser.feed_frames(data):
                if raw.startswith(b"Event: ") and b"ActionID:" not in raw:
                    # dialplan noise the tracker ignores is skipped unparsed (the hot path)
                    eol = raw.find(b"\n", 7)
                    name = raw[7:eol].rstrip(b"\r") if eol > 0 else raw[7:]
                    if name not in wanted or (
                        name == b"VarSet"
                        and b"Variable: CC_" not in raw
                        and b"MIXMONITOR" not in raw
                    ):
                        self.events_read += 1
                        continue
                msg = parser.parse(raw)
                if msg is not None:
                    self._route(msg, at)
            if parser.errors != before:
                self.bad_frames += parser.errors - before
                metrics.AMI_BAD_FRAMES.labels(pbx).inc(parser.errors - before)

    def _route(self, msg: AmiMessage, at: datetime) -> None:
        h = msg.headers
        action_id = h.get("ActionID")
        if "Response" in h and "Event" not in h:  # OriginateResponse events carry Response too
            future = self._pending.get(action_id or "")
            if future is not None and not future.done():
                future.set_result(msg)
            elif action_id:
                log.info("AMI: response to an unknown ActionID %r ignored", action_id)
            return
        if action_id and action_id in self._lists:
            collector = self._lists[action_id]
            if h.get("EventList") == "Complete":
                if not collector.done.done():
                    collector.done.set_result(collector.items)
            else:
                collector.items.append(msg)
            return
        if action_id and h.get("Event") == "OriginateResponse":
            waiter = self._originates.pop(action_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(msg)
        self.events_read += 1
        self._queue.put_nowait(("event", msg, at))

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

    async def _resync(self) -> None:
        asked_at = self.clock.now()
        channels = await self.send_list_action({"Action": "CoreShowChannels"})
        members = await self.send_list_action({"Action": "QueueStatus"})
        answers = await self._answer_times(channels)
        self._queue.put_nowait(("resync", (channels, members, answers, asked_at), self.clock.now()))
        timeouts = {
            m.get("Queue"): float(m.get("Timeout"))
            for m in members
            if m.event == "QueueParams" and m.get("Timeout").replace(".", "", 1).isdigit()
        }
        self.ring_timeout_warnings = check_queue_ring_timeouts(timeouts, self.tracker.ring_limit)
        for warning in self.ring_timeout_warnings:
            log.warning("AMI %s: %s", self.endpoint.name, warning)

    async def _answer_times(self, channels: list[AmiMessage]) -> dict[str, datetime]:
        """When each bridged leg of a call not known as answered was answered.

        CoreShowChannels tells who is bridged, not since when; the leg's CDR does
        (`CDR(answer,u)`, epoch with microseconds), so a call answered while we were
        away keeps its true answer time (docs/adr/0043).
        """
        wanted: list[AmiMessage] = []
        for item in channels:
            h = item.headers
            lid, uid = h.get("Linkedid"), h.get("Uniqueid")
            if not h.get("BridgeId") or not uid or uid == lid:
                continue
            call = self.tracker.calls.get(lid or "")
            if call is None or call.answered_at is None:
                wanted.append(item)
        gate = asyncio.Semaphore(16)

        async def one(item: AmiMessage) -> tuple[str, datetime | None]:
            async with gate:
                reply = await self.send_action(
                    {
                        "Action": "Getvar",
                        "Channel": item.get("Channel"),
                        "Variable": "CDR(answer,u)",
                    }
                )
            try:
                epoch = float(reply.get("Value") or 0)
            except ValueError:
                epoch = 0.0
            when = datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None
            return item.get("Uniqueid"), when

        results = await asyncio.gather(*(one(item) for item in wanted))
        return {uid: when for uid, when in results if when is not None}

    async def _drop(self, reason: str, *, announce: bool = True) -> None:
        was = self._up
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
        counter = metrics.AMI_EVENTS.labels(self.endpoint.name)
        while True:
            kind, payload, at = await self._queue.get()
            try:
                if kind == "event":
                    counter.inc()
                    events = self.tracker.handle(payload, at)
                else:
                    channels, members, answers, asked_at = payload
                    events = []
                    for item in members:  # members first: resync names agents by interface
                        events += self.tracker.handle(item, at)
                    events += self.tracker.resync_queues(members, at)
                    events += self.tracker.resync(channels, at, answers, asked_at)
                    if self.tracker.gap_ended:
                        legs = await self._recover(list(self.tracker.gap_ended))
                        events += self.tracker.finish_gap(legs, at)
                if events:
                    await self._emit(events)
            except Exception:  # a bad event or handler must never stop the stream
                log.exception("AMI %s: handling %s failed; continuing", self.endpoint.name, kind)

    async def _recover(self, linkedids: list[str]) -> Mapping[str, list[PbxLeg]]:
        """The PBX's CDRs of calls that ended in the gap ({} when there is no source)."""
        if self.recover is None:
            return {}
        try:
            return await asyncio.wait_for(self.recover(linkedids), self.action_timeout)
        except Exception as exc:  # no CDRs: those calls end with what we saw, no callback
            log.error(
                "AMI %s: reading the PBX's records of %d calls that ended in the gap failed: %s",
                self.endpoint.name,
                len(linkedids),
                exc,
            )
            return {}

    async def _emit(self, events: list[DomainEvent]) -> None:
        try:
            await self.on_events(events)
        except Exception:
            log.exception("AMI %s: event sink failed; continuing", self.endpoint.name)
