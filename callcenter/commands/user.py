"""`callcenter user add NAME --role ...`: create a login (asks for the password)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from callcenter.settings import Settings
from crm_core.db import open_database
from crm_core.domain.models import Role
from crm_core.passwords import hash_password
from crm_core.ports.repositories import Conflict


def _password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.name}: ")
    if first != getpass.getpass("again: "):
        print("callcenter user add: the passwords differ", file=sys.stderr)
        return None
    return first


async def _add(args: argparse.Namespace, settings: Settings, password: str) -> int:
    db = await open_database(settings.database_url, phone_region=settings.phone_region)
    try:
        team_id = (await db.users.get_or_create_team(args.team)).id if args.team else None
        display = args.display_name or args.member_name or args.name
        user = await db.users.create(
            username=args.name,
            display_name=display,
            role=Role(args.role),
            password_hash=hash_password(password),
            team_id=team_id,
            member_name=args.member_name or (display if args.interface else None),
            interface=args.interface,
            queues=[q.strip() for q in (args.queues or "").split(",") if q.strip()],
        )
        if user.role == Role.LEAD and team_id is not None:
            await db.users.set_team_lead(team_id, user.id)
    except Conflict as exc:
        print(f"callcenter user add: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.close()
    print(
        f"created {user.role.value} {user.username}"
        + (f" in team {args.team}" if args.team else "")
    )
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.user_command != "add":
        return 2
    password = _password(args)
    if not password:
        print("callcenter user add: a password is required", file=sys.stderr)
        return 1
    if len(password) < 8 and not settings.database_url.endswith("demo.db"):
        print("callcenter user add: use at least 8 characters", file=sys.stderr)
        return 1
    return asyncio.run(_add(args, settings, password))
