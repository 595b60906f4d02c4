"""`callcenter pbx-config --out DIR`: the Asterisk configuration the service expects.

Reads the settings and the CRM (queues: the standard ones, every agent's skills and every
campaign's queue) and writes a directory `asterisk -C DIR/etc/asterisk.conf` runs from
as is (CONTRACTS.md, ADR 0040).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from callcenter.settings import Settings
from crm_core.db import open_database
from crm_core.db import tables as t
from telephony.pbx_config import PbxPlan, queue_plans, write

STANDARD_QUEUES = ("support", "sales", "vip")


async def crm_queues(database_url: str) -> set[str]:
    """Every queue the CRM knows: configured queues, agents' skills, campaigns' queues."""
    db = await open_database(database_url)
    try:
        names: set[str] = set()
        async with db.engine.connect() as conn:
            names |= {r.name for r in (await conn.execute(select(t.queues.c.name))).all()}
            for row in (await conn.execute(select(t.users.c.queues))).all():
                names |= {str(q) for q in (row.queues or ())}
            campaign_queues = select(t.campaigns.c.queue).where(t.campaigns.c.queue.is_not(None))
            names |= {r.queue for r in (await conn.execute(campaign_queues)).all()}
        return names
    finally:
        await db.close()


def plan_from(settings: Settings, args: argparse.Namespace, queues: set[str]) -> PbxPlan:
    return PbxPlan(
        phones=args.phones,
        ami_host=args.ami_host or "127.0.0.1",
        ami_port=args.ami_port if args.ami_port is not None else settings.ami_port,
        ami_username=settings.ami_username,
        ami_secret=settings.ami_secret,
        ami_permit=settings.ami_permit,
        agi_host=args.agi_host or settings.agi_host,
        agi_port=args.agi_port if args.agi_port is not None else settings.agi_port,
        did=settings.pbx_did,
        queues=queue_plans({*STANDARD_QUEUES, *queues}),
        ring_limit_seconds=settings.ring_limit_seconds,
        outbound_ring_seconds=settings.dialer_ring_seconds,
        language=settings.ivr_language,
        cdr_database_url="" if settings.is_sqlite else settings.database_url,
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.ami_secret:
        print(
            "callcenter pbx-config: CALLCENTER_AMI_SECRET is empty; the AMI user needs a secret",
            file=sys.stderr,
        )
        return 2
    try:
        queues = asyncio.run(crm_queues(settings.database_url))
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).splitlines()[0]
        print(f"callcenter pbx-config: cannot read the CRM: {first}", file=sys.stderr)
        return 1
    out = Path(args.out)
    written = write(plan_from(settings, args, queues), out)
    print(f"wrote {len(written)} files to {out.resolve()}; start with:")
    print(f"  asterisk -C {out.resolve()}/etc/asterisk.conf -g")
    return 0
