"""The subcommands of `callcenter`, each in its own module.

`runner(name)` imports a command's module only when that command runs, so `--help`
and light commands (`pbx-config`, `user`) do not pay for aiohttp, SQLAlchemy and the
console. The table is ordinary imports, so mypy and import-linter see every edge."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from callcenter.settings import Settings

Runner = Callable[[argparse.Namespace, Settings], int]


def runner(command: str) -> Runner:
    match command:
        case "demo":
            from callcenter.commands import demo

            return demo.run
        case "serve":
            from callcenter.commands import serve

            return serve.run
        case "migrate":
            from callcenter.commands import migrate

            return migrate.run
        case "user":
            from callcenter.commands import user

            return user.run
        case "replay":
            from callcenter.commands import replay

            return replay.run
        case "watch":
            from callcenter.commands import watch

            return watch.run
        case "tail":
            from callcenter.commands import tail

            return tail.run
        case "sim":
            from callcenter.commands import sim

            return sim.run
        case "pbx-config":
            from callcenter.commands import pbx_config

            return pbx_config.run
        case "bench":
            from callcenter.commands import bench

            return bench.run
    raise ValueError(f"no such command: {command}")
