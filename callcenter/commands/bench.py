"""`callcenter bench NAME`: dispatch to `callcenter.bench.<name>`.

Every benchmark prints figures for people and, as its last line, one JSON object
with the headline figures (CONTRACTS.md)."""

from __future__ import annotations

import argparse
import importlib
import sys

from callcenter.settings import Settings

# benchmark names that are not valid module names
MODULES = {"import": "imports"}


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        module = importlib.import_module(f"callcenter.bench.{MODULES.get(args.name, args.name)}")
    except ModuleNotFoundError:
        print(f"callcenter bench {args.name}: this benchmark is not built yet", file=sys.stderr)
        return 2
    code: int = module.run(args, settings)
    return code
