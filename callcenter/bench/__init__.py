"""The benchmarks behind `callcenter bench NAME` (CONTRACTS.md): each prints figures for
people and, as its last line, one JSON object with the headline figures.

`runner(name)` imports a benchmark only when it runs (they pull in the simulator,
the database and the console); the table is ordinary imports that mypy checks."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from callcenter.settings import Settings

Runner = Callable[[argparse.Namespace, Settings], int]
NAMES = ("ami", "lookup", "screenpop", "rules", "ivr", "reports", "dialer", "cluster", "import")


def runner(name: str) -> Runner:
    match name:
        case "ami":
            from callcenter.bench import ami

            return ami.run
        case "lookup":
            from callcenter.bench import lookup

            return lookup.run
        case "screenpop":
            from callcenter.bench import screenpop

            return screenpop.run
        case "rules":
            from callcenter.bench import rules

            return rules.run
        case "ivr":
            from callcenter.bench import ivr

            return ivr.run
        case "reports":
            from callcenter.bench import reports

            return reports.run
        case "dialer":
            from callcenter.bench import dialer

            return dialer.run
        case "cluster":
            from callcenter.bench import cluster

            return cluster.run
        case "import":
            from callcenter.bench import imports

            return imports.run
    raise ValueError(f"no such benchmark: {name}")
