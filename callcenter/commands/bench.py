"""`callcenter bench NAME`: dispatch to the benchmark `callcenter.bench.runner` names.

Every benchmark prints figures for people and, as its last line, one JSON object
with the headline figures (CONTRACTS.md)."""

from __future__ import annotations

import argparse

from callcenter.bench import runner
from callcenter.settings import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    return runner(args.name)(args, settings)
