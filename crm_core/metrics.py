"""Prometheus metrics of the service, in one registry of our own.

Counters are incremented where things happen (AMI reader, hub, writer); gauges
that mirror state (open callbacks, outbox depth) are read at scrape time through
callbacks registered by their owners.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

AMI_EVENTS = Counter(
    "callcenter_ami_events", "AMI events read from Asterisk", ["pbx"], registry=REGISTRY
)
AMI_RECONNECTS = Counter(
    "callcenter_ami_reconnects", "AMI (re)connections made", ["pbx"], registry=REGISTRY
)
AMI_BAD_FRAMES = Counter(
    "callcenter_ami_bad_frames", "malformed AMI frames skipped", ["pbx"], registry=REGISTRY
)
POPS_SENT = Counter("callcenter_pops_sent", "screen pops pushed to consoles", registry=REGISTRY)
POP_LATENCY = Histogram(
    "callcenter_pop_latency_seconds",
    "AMI offer event received -> screen pop written to the agent's socket",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
CALLS_ENDED = Counter("callcenter_calls_ended", "finished call records", registry=REGISTRY)
RECORDS_WRITTEN = Counter(
    "callcenter_records_written", "call records written to the CRM", registry=REGISTRY
)
WS_CONNECTIONS = Gauge(
    "callcenter_ws_connections", "open console WebSocket connections", registry=REGISTRY
)
WS_SLOW_CLOSED = Counter(
    "callcenter_ws_slow_clients_closed", "consoles closed for not reading", registry=REGISTRY
)

_OUTBOX_DEPTH = Gauge(
    "callcenter_outbox_depth", "call records waiting for the CRM database", registry=REGISTRY
)


_SET_ASIDE = Gauge(
    "callcenter_records_set_aside",
    "call records the CRM refused for good (dead letters in the outbox file)",
    registry=REGISTRY,
)


def watch_set_aside(read: Callable[[], float]) -> None:
    _SET_ASIDE.set_function(read)


def watch_outbox_depth(read: Callable[[], float]) -> None:
    _OUTBOX_DEPTH.set_function(read)


def render() -> bytes:
    return generate_latest(REGISTRY)
