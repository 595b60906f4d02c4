"""`callcenter serve`: production; settings from CALLCENTER_* and/or `--config`."""

from __future__ import annotations

import argparse
import asyncio

from callcenter.commands.demo import serve_until_stopped
from callcenter.logs import configure_logging
from callcenter.settings import Settings, SettingsError
from callcenter.wiring import Runtime


def check_production_settings(settings: Settings) -> None:
    if len(settings.secret_key) < 16:
        raise SettingsError(
            "CALLCENTER_SECRET_KEY: expected a random secret of at least 16 characters "
            "(it signs the console's sessions)"
        )
    if not settings.ami_secret and not settings.ami_endpoints:
        raise SettingsError("CALLCENTER_AMI_SECRET: expected the AMI user's secret")


def run(args: argparse.Namespace, settings: Settings) -> int:
    check_production_settings(settings)
    configure_logging(
        level=settings.log_level, json_lines=settings.log_json, instance=settings.instance_id
    )
    runtime = Runtime(settings=settings, host=settings.http_host, port=settings.http_port)
    return asyncio.run(serve_until_stopped(runtime))
