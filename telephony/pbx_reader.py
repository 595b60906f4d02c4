"""One PBX's reader, composed: transport, ingest path and catch-up (docs/adr/0095).

`AmiClient` only talks to the socket; `Ingest` turns bytes into domain events through
the tracker; `CatchUp` asks the PBX what happened while nobody read. Every reader of a
live PBX (`serve`, `demo`, `watch`, the tests) is built here, so they are built alike.
"""

from __future__ import annotations

from typing import TypedDict, Unpack

from crm_core.ports.clock import Clock
from telephony.ami.client import AmiClient, Endpoint, EventSink
from telephony.catch_up import CatchUp, CdrsOfCalls, CdrsSince
from telephony.ingest import Ingest
from telephony.tracker import CallTracker


class TransportOptions(TypedDict, total=False):
    """`AmiClient`'s timing and reading options (see its constructor)."""

    action_timeout: float
    ping_interval: float
    watchdog: float
    backoff_min: float
    backoff_max: float
    fast_retry_max: float
    fast_retry_window: float
    events: bool


def pbx_reader(
    endpoint: Endpoint,
    *,
    tracker: CallTracker,
    on_events: EventSink,
    clock: Clock,
    recover: CdrsOfCalls | None = None,
    recover_since: CdrsSince | None = None,
    recover_lookback: float = 120.0,
    gap_retries: tuple[float, ...] = (1.0, 3.0),
    **transport: Unpack[TransportOptions],
) -> AmiClient:
    """An AMI client feeding `tracker`, catching up after every gap.

    `recover` reads the CDRs of calls that ended while the link was down, and
    `recover_since` those of calls that began and ended meanwhile (docs/adr/0043, 0058).
    """
    ingest = Ingest(tracker)
    catch_up = CatchUp(
        ingest,
        clock=clock,
        recover=recover,
        recover_since=recover_since,
        lookback=recover_lookback,
        gap_retries=gap_retries,
        timeout=transport.get("action_timeout", 10.0),
    )
    return AmiClient(
        endpoint, ingest=ingest, on_events=on_events, clock=clock, catch_up=catch_up, **transport
    )
