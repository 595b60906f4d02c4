"""`callcenter replay FILE`: one JSON call record per finished call, in end order."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from callcenter.settings import Settings
from crm_core.domain.events import CallEnded
from telephony.replay import replay_events
from telephony.tracker import CallTracker


def run(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"callcenter replay: no such file: {path}", file=sys.stderr)
        return 2
    rings = args.rings if args.rings is not None else settings.ring_count
    cycle = args.ring_cycle if args.ring_cycle is not None else settings.ring_cycle_seconds
    tracker = CallTracker(
        rings * cycle,
        abandon_threshold_seconds=settings.abandon_threshold_seconds,
    )
    try:
        for event in replay_events(path, tracker):
            if isinstance(event, CallEnded):
                line = json.dumps(event.record.to_contract(), ensure_ascii=False)
                sys.stdout.write(line + "\n")
    except (ValueError, KeyError) as exc:
        print(f"callcenter replay: {path} is not a capture file: {exc}", file=sys.stderr)
        return 2
    return 0
