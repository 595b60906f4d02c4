"""`callcenter migrate`: create or upgrade the CRM core schema (Alembic)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sqlalchemy.exc import SQLAlchemyError

from callcenter.settings import Settings
from crm_core.db.migrate import head_revision, upgrade_async


def run(args: argparse.Namespace, settings: Settings) -> int:
    url = args.database_url or settings.database_url
    shown = url.split("@")[-1] if "@" in url else url
    try:
        before = asyncio.run(upgrade_async(url, args.revision))
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).splitlines()[0]
        print(f"callcenter migrate: cannot reach the database {shown}: {first}", file=sys.stderr)
        return 1
    target = head_revision() if args.revision == "head" else args.revision
    if before == target:
        print(f"CRM schema at {shown} is up to date (revision {target})")
    else:
        print(f"CRM schema at {shown} upgraded from {before or 'empty'} to {target}")
    return 0
