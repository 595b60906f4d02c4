"""Catching up after a gap: what the PBX says is live, and what ended while we were away.

The AMI client is transport only (connect, login, actions, watchdog). Each time it
starts reading events — a (re)connect, or becoming the reader of a PBX after a
failover — it calls `CatchUp` with its link and the time it last read. `CatchUp` asks
the PBX (`CoreShowChannels`, `QueueStatus`, the live legs' CDR times, the CDRs of
calls that ended meanwhile) and hands the answers to the ingest, which decides; the
events that follow are posted to the client's ordered queue, so they leave behind the
events read before and ahead of those read after (docs/adr/0043, 0058, 0066, 0095).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol

from crm_core.domain.events import CallEnded, DomainEvent
from crm_core.domain.models import PbxLeg
from crm_core.ports.clock import Clock
from crm_core.ports.telephony import TelephonyError
from telephony.ami.framing import AmiMessage
from telephony.ingest import ChannelTimes, Ingest

log = logging.getLogger(__name__)

# the PBX's own records (CDRs by Linkedid) of calls that ended while we were away
CdrsOfCalls = Callable[[list[str]], Awaitable[Mapping[str, list[PbxLeg]]]]
# the PBX's records of calls that ended since a time and that the CRM lacks (calls that
# began and ended while nobody read the events: docs/adr/0058)
CdrsSince = Callable[[datetime], Awaitable[Mapping[str, list[PbxLeg]]]]
# work for the client's ordered event queue: the events it returns leave in turn
Job = Callable[[], Awaitable[list[DomainEvent]]]


class AmiLink(Protocol):
    """What catching up needs of the transport (`telephony.ami.client.AmiClient`)."""

    async def send_action(
        self, headers: dict[str, str] | list[tuple[str, str]], timeout: float | None = None
    ) -> AmiMessage: ...

    async def send_list_action(
        self, headers: dict[str, str], timeout: float | None = None
    ) -> list[AmiMessage]: ...

    def post(self, job: Job) -> None:
        """Queue `job` behind the events read so far; its events leave in that order."""


class CatchUp:
    def __init__(
        self,
        ingest: Ingest,
        *,
        clock: Clock,
        recover: CdrsOfCalls | None = None,
        recover_since: CdrsSince | None = None,
        lookback: float = 120.0,
        gap_retries: tuple[float, ...] = (1.0, 3.0),
        timeout: float = 10.0,
    ) -> None:
        self.ingest = ingest
        self.clock = clock
        self.recover = recover
        self.recover_since = recover_since
        # how far back a reader that never read this PBX (start, takeover) looks for
        # calls nobody recorded; a reconnect looks back to its last event
        self.lookback = lookback
        # the CDR of a call that ended just before the resync may be written a few ms
        # after our read: read again after these delays (seconds after the resync)
        self.gap_retries = gap_retries
        self.timeout = timeout
        self.generation = 0  # resyncs so far; a newer one takes over the older's reads

    @property
    def pbx(self) -> str:
        return self.ingest.tracker.pbx

    async def __call__(self, link: AmiLink, lost_at: datetime | None) -> None:
        """Resync with the PBX; `lost_at` is the last event read before the gap (None:
        this reader never read this PBX, or another reader did meanwhile)."""
        asked_at = self.clock.now()
        # calls that ended since we last read events (a few seconds of margin: a
        # half-open link is noticed late), or, for a reader new to this PBX, lately
        since = (
            lost_at - timedelta(seconds=5)
            if lost_at
            else asked_at - timedelta(seconds=self.lookback)
        )
        channels = await link.send_list_action({"Action": "CoreShowChannels"})
        members = await link.send_list_action({"Action": "QueueStatus"})
        times = await self._exact_times(link, channels)
        self.generation += 1
        generation = self.generation
        at = self.clock.now()
        # the ingest reduces the answers now, in order with the events read so far; what
        # it says leaves in that order, after the CDRs of calls that ended meanwhile
        reduced = self.ingest.resync(channels, at, members=members, times=times, asked_at=asked_at)

        async def first_read() -> list[DomainEvent]:
            return reduced + await self._after_gap(link, since, asked_at, generation, 0, at)

        link.post(first_read)

    async def _exact_times(self, link: AmiLink, channels: list[AmiMessage]) -> ChannelTimes:
        """Read the CDR times the ingest wants of legs of calls it does not fully know."""
        asks = self.ingest.times_wanted(channels)  # (uniqueid, channel, variable)
        gate = asyncio.Semaphore(16)

        async def one(uid: str, channel: str, variable: str) -> tuple[str, str, datetime | None]:
            async with gate:
                try:
                    reply = await link.send_action(
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

    async def _after_gap(
        self,
        link: AmiLink,
        since: datetime,
        asked_at: datetime,
        generation: int,
        attempt: int,
        at: datetime,
    ) -> list[DomainEvent]:
        """Finish the calls that ended while we did not read, from the PBX's records.

        Calls we knew that are gone (`tracker.gap_ended`) and calls we never saw that
        ended since `since` (begun before the resync asked: later ones are in our
        stream). Read at the resync and again after each of `gap_retries`: Asterisk
        writes a CDR a few ms after the hang-up, and a call still without one at the
        last read is finished with what we saw (docs/adr/0043, 0058).
        """
        if generation != self.generation:
            return []  # a newer resync took over (another gap): it reads for itself
        final = attempt >= len(self.gap_retries)
        events: list[DomainEvent] = []
        gone = self.ingest.gap_calls()
        if gone:
            legs = await self._recover(gone)
            events += self.ingest.finish_gap(legs, at, final=final)
        if self.recover_since is not None:
            found = await self._recover_window(since)
            unseen = self.ingest.recover_unseen(found, before=asked_at)
            ended = sum(isinstance(e, CallEnded) for e in unseen)
            log.log(
                logging.WARNING if ended else logging.DEBUG,
                "AMI %s: %d calls begun and ended since %s while nobody read the PBX "
                "recovered from its CDRs (%d candidates)",
                self.pbx,
                ended,
                since.isoformat(timespec="seconds"),
                len(found),
            )
            events += unseen
        if not final:
            delay = self.gap_retries[attempt] - (self.gap_retries[attempt - 1] if attempt else 0)

            async def read_again() -> list[DomainEvent]:
                return await self._after_gap(link, since, asked_at, generation, attempt + 1, at)

            asyncio.get_running_loop().call_later(max(delay, 0.0), link.post, read_again)
        return events

    async def _recover_window(self, since: datetime) -> Mapping[str, list[PbxLeg]]:
        assert self.recover_since is not None
        try:
            return await asyncio.wait_for(self.recover_since(since), self.timeout)
        except Exception as exc:  # the reconcile timer repairs them later
            log.error(
                "AMI %s: reading the PBX's records of calls since %s failed: %s",
                self.pbx,
                since.isoformat(),
                exc,
            )
            return {}

    async def _recover(self, linkedids: list[str]) -> Mapping[str, list[PbxLeg]]:
        """The PBX's CDRs of calls that ended in the gap ({} when there is no source)."""
        if self.recover is None:
            return {}
        try:
            return await asyncio.wait_for(self.recover(linkedids), self.timeout)
        except Exception as exc:  # no CDRs: those calls end with what we saw, no callback
            log.error(
                "AMI %s: reading the PBX's records of %d calls that ended in the gap failed: %s",
                self.pbx,
                len(linkedids),
                exc,
            )
            return {}
