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
from telephony.pbx_pjsip import SipPlan, extensions_of

STANDARD_QUEUES = ("support", "sales", "vip")


async def crm_queues_and_phones(database_url: str) -> tuple[set[str], list[str | None]]:
    """Every queue the CRM knows (configured queues, agents' skills, campaigns' queues)
    and every user's phone interface."""
    db = await open_database(database_url)
    try:
        names: set[str] = set()
        async with db.engine.connect() as conn:
            rows = (await conn.execute(select(t.users.c.interface, t.users.c.active))).all()
            interfaces = [r.interface for r in rows if r.active]
            names |= {r.name for r in (await conn.execute(select(t.queues.c.name))).all()}
            for row in (await conn.execute(select(t.users.c.queues))).all():
                names |= {str(q) for q in (row.queues or ())}
            campaign_queues = select(t.campaigns.c.queue).where(t.campaigns.c.queue.is_not(None))
            names |= {r.queue for r in (await conn.execute(campaign_queues)).all()}
        return names, interfaces
    finally:
        await db.close()


def plan_from(
    settings: Settings, args: argparse.Namespace, queues: set[str], interfaces: list[str | None]
) -> PbxPlan:
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
        agi_secret=settings.agi_secret,
        cdr_database_url="" if settings.is_sqlite else settings.database_url,
        sip=SipPlan(
            extensions=extensions_of(interfaces),
            secret_key=settings.secret_key,
            carrier_host=settings.sip_carrier_host,
            carrier_username=settings.sip_carrier_username,
            carrier_password=settings.sip_carrier_password,
            external_address=settings.sip_external_address,
        ),
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.ami_secret:
        print(
            "callcenter pbx-config: CALLCENTER_AMI_SECRET is empty; the AMI user needs a secret",
            file=sys.stderr,
        )
        return 2
    try:
        queues, interfaces = asyncio.run(crm_queues_and_phones(settings.database_url))
    except (SQLAlchemyError, OSError) as exc:
        first = str(exc).splitlines()[0]
        print(f"callcenter pbx-config: cannot read the CRM: {first}", file=sys.stderr)
        return 1
    out = Path(args.out)
    if args.phones == "pjsip" and len(settings.secret_key) < 16:
        print(
            "callcenter pbx-config: CALLCENTER_SECRET_KEY (>= 16 characters) derives the "
            "phones' SIP passwords; set it as for `serve`",
            file=sys.stderr,
        )
        return 2
    root = Path(args.root) if args.root else out.resolve()
    plan = plan_from(settings, args, queues, interfaces)
    written = write(plan, out, root=root)
    print(f"wrote {len(written)} files to {out.resolve()}; start with:")
    print(f"  asterisk -C {root}/etc/asterisk.conf -g")
    if args.phones == "pjsip":
        print(f"phones' SIP passwords: {out.resolve()}/phone-secrets.txt (keep it private)")
    return 0
