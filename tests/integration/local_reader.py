"""Our AMI reader on an AMI server of this machine (the simulator, a proxy in front of
it, the flood generator), signed in as the service's user and on the system clock."""

from __future__ import annotations

from typing import Unpack

from crm_core.clock import SystemClock
from telephony.ami.client import AmiClient, Endpoint, EventSink
from telephony.pbx_reader import TransportOptions, pbx_reader
from telephony.tracker import CallTracker


def local_reader(
    port: int,
    secret: str,
    tracker: CallTracker,
    on_events: EventSink,
    **transport: Unpack[TransportOptions],
) -> AmiClient:
    """Not started yet: the caller starts it when its scenario is ready."""
    return pbx_reader(
        Endpoint("127.0.0.1", port, "callcenter", secret),
        tracker=tracker,
        on_events=on_events,
        clock=SystemClock(),
        **transport,
    )
