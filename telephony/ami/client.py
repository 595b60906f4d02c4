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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_core import metrics
from crm_core.domain.events import AmiConnected, AmiDisconnected, CallEnded, DomainEvent
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
# the PBX's records of calls that ended since a time and that the CRM lacks (calls that
# began and ended while nobody read the events: docs/adr/0058)
GapSweep = Callable[[datetime], Awaitable[Mapping[str, list[PbxLeg]]]]


@dataclass(slots=True)
class ChannelTimes:
    """Exact times of live legs by Uniqueid, read from their CDRs at a resync."""

    answers: dict[str, datetime] = field(default_factory=dict)
    starts: dict[str, datetime] = field(default_factory=dict)
    queued: dict[str, datetime] = field(default_factory=dict)


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
        recover_since: GapSweep | None = None,
        recover_lookback: float = 120.0,
        gap_retries: tuple[float, ...] = (1.0, 3.0),
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
        self.recover_since = recover_since
        # how far back a reader that never read this PBX (start, takeover) looks for
        # calls nobody recorded; a reconnect looks back to its last event
        self.recover_lookback = recover_lookback
        # the CDR of a call that ended just before the resync may be written a few ms
        # after our read: read again after these delays (seconds after the resync)
        self.gap_retries = gap_retries
        self._last_event_at: datetime | None = None  # last read while reading events
        # the last event before the link went down, kept until a resync has used it
        self._events_lost_at: datetime | None = None
        self._resyncs = 0
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
            if self.events_enabled and self._up:  # not a refused login's answer
                self._last_event_at = at
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
        last = self._events_lost_at
        # calls that ended since we last read events (a few seconds of margin: a
        # half-open link is noticed late), or, for a reader new to this PBX, lately
        since = (
            last - timedelta(seconds=5)
            if last
            else asked_at - timedelta(seconds=self.recover_lookback)
        )
        channels = await self.send_list_action({"Action": "CoreShowChannels"})
        members = await self.send_list_action({"Action": "QueueStatus"})
        times = await self._exact_times(channels)
        self._resyncs += 1
        payload = (channels, members, times, asked_at, since, self._resyncs)
        self._queue.put_nowait(("resync", payload, self.clock.now()))
        self._events_lost_at = None
        timeouts = {
            m.get("Queue"): float(m.get("Timeout"))
            for m in members
            if m.event == "QueueParams" and m.get("Timeout").replace(".", "", 1).isdigit()
        }
        self.ring_timeout_warnings = check_queue_ring_timeouts(timeouts, self.tracker.ring_limit)
        for warning in self.ring_timeout_warnings:
            log.warning("AMI %s: %s", self.endpoint.name, warning)

    async def _exact_times(self, channels: list[AmiMessage]) -> ChannelTimes:
        """When legs of calls we do not fully know began, were queued, were answered.

        CoreShowChannels tells who is bridged, not since when, and gives ages in whole
        seconds; each leg's CDR has the exact times (`CDR(answer,u)`, `CDR(start,u)`,
        epoch with microseconds; `CDR(cc_queued)` set by the dialplan on entering the
        queue). Asked for bridged legs of calls not known as answered (docs/adr/0043)
        and for every leg of calls we never saw (a takeover, docs/adr/0058).
        """
        asks: list[tuple[str, str, str]] = []  # (uniqueid, channel, variable)
        for item in channels:
            h = item.headers
            lid, uid, name = h.get("Linkedid"), h.get("Uniqueid"), h.get("Channel")
            if not uid or not name:
                continue
            call = self.tracker.calls.get(lid or "")
            if call is None:
                asks.append((uid, name, "CDR(start,u)"))
                if uid == lid:
                    asks.append((uid, name, "CDR(cc_queued)"))
            if h.get("BridgeId") and uid != lid and (call is None or call.answered_at is None):
                asks.append((uid, name, "CDR(answer,u)"))
        gate = asyncio.Semaphore(16)

        async def one(uid: str, channel: str, variable: str) -> tuple[str, str, datetime | None]:
            async with gate:
                try:
                    reply = await self.send_action(
                        {"Action": "Getvar", "Channel": channel, "Variable": variable}
                    )
                except TelephonyError:
                    return uid, variable, None  # hung up meanwhile
            try:
                epoch = float(reply.get("Value") or 0)
            except ValueError:
                epoch = 0.0
            return uid, variable, datetime.fromtimestamp(epoch, UTC) if epoch > 0 else None

        times = ChannelTimes()
        for uid, variable, when in await asyncio.gather(*(one(*ask) for ask in asks)):
            if when is None:
                continue
            if variable == "CDR(answer,u)":
                times.answers[uid] = when
            elif variable == "CDR(start,u)":
                times.starts[uid] = when
            else:
                times.queued[uid] = when
        return times

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
        counter = metrics.AMI_EVENTS.labels(self.endpoint.name)
        while True:
            kind, payload, at = await self._queue.get()
            try:
                if kind == "event":
                    counter.inc()
                    events = self.tracker.handle(payload, at)
                elif kind == "resync":
                    channels, members, times, asked_at, since, generation = payload
                    events = []
                    for item in members:  # members first: resync names agents by interface
                        events += self.tracker.handle(item, at)
                    events += self.tracker.resync_queues(members, at)
                    events += self.tracker.resync(
                        channels,
                        at,
                        times.answers,
                        asked_at,
                        starts=times.starts,
                        queued=times.queued,
                    )
                    events += await self._after_gap(since, asked_at, generation, 0, at)
                else:  # "gap": read the PBX's records again (late CDRs)
                    since, asked_at, generation, attempt = payload
                    events = await self._after_gap(since, asked_at, generation, attempt, at)
                if events:
                    await self._emit(events)
            except Exception:  # a bad event or handler must never stop the stream
                log.exception("AMI %s: handling %s failed; continuing", self.endpoint.name, kind)

    async def _after_gap(
        self, since: datetime, asked_at: datetime, generation: int, attempt: int, at: datetime
    ) -> list[DomainEvent]:
        """Finish the calls that ended while we did not read, from the PBX's records.

        Calls we knew that are gone (`tracker.gap_ended`) and calls we never saw that
        ended since `since` (begun before the resync asked: later ones are in our
        stream). Read at the resync and again after each of `gap_retries`: Asterisk
        writes a CDR a few ms after the hang-up, and a call still without one at the
        last read is finished with what we saw (docs/adr/0043, 0058).
        """
        if generation != self._resyncs:
            return []  # a newer resync took over (another gap): it reads for itself
        final = attempt >= len(self.gap_retries)
        events: list[DomainEvent] = []
        if self.tracker.gap_ended:
            legs = await self._recover(list(self.tracker.gap_ended))
            events += self.tracker.finish_gap(legs, at, final=final)
        if self.recover_since is not None:
            found = await self._recover_window(since)
            unseen = self.tracker.recover_unseen(found, before=asked_at)
            ended = sum(isinstance(e, CallEnded) for e in unseen)
            log.log(
                logging.WARNING if ended else logging.DEBUG,
                "AMI %s: %d calls begun and ended since %s while nobody read the PBX "
                "recovered from its CDRs (%d candidates)",
                self.endpoint.name,
                ended,
                since.isoformat(timespec="seconds"),
                len(found),
            )
            events += unseen
        if not final:
            delay = self.gap_retries[attempt] - (self.gap_retries[attempt - 1] if attempt else 0)
            item = ("gap", (since, asked_at, generation, attempt + 1), at)
            asyncio.get_running_loop().call_later(max(delay, 0.0), self._queue.put_nowait, item)
        return events

    async def _recover_window(self, since: datetime) -> Mapping[str, list[PbxLeg]]:
        assert self.recover_since is not None
        try:
            return await asyncio.wait_for(self.recover_since(since), self.action_timeout)
        except Exception as exc:  # the reconcile timer repairs them later
            log.error(
                "AMI %s: reading the PBX's records of calls since %s failed: %s",
                self.endpoint.name,
                since.isoformat(),
                exc,
            )
            return {}

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
