"""Garbage-collector policy for the long-running service (ADR 0036).

CPython's cyclic collector stops the event loop while it walks a generation. After
start-up the service holds a large, long-lived heap (modules, SQLAlchemy metadata,
compiled templates, settings, the tracker's tables); every full collection walked all
of it again, and those pauses (tens of milliseconds) were the tail of the IVR and
screen-pop latencies. So once the service has started:

- everything alive then is moved to the permanent generation (`gc.freeze`), so later
  collections walk only what was allocated since;
- young collections run less often (a call's short-lived objects mostly die by
  reference counting before a collection would find them).

Cycles are still collected; nothing is switched off.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

# gen0 allocations before a young collection (CPython default 700), and how many
# collections of the younger generation trigger one of the next (defaults 10, 10).
THRESHOLDS = (20_000, 20, 20)


def settle_after_start() -> None:
    """Collect once, freeze the start-up heap, and space out later collections."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.debug("gc: %d start-up objects frozen; thresholds %s", gc.get_freeze_count(), THRESHOLDS)


def restore_defaults() -> None:
    """Undo `settle_after_start` (benchmarks that compare both policies in one process)."""
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
