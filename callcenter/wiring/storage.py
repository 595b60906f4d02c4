"""The parts everything else stands on: the database (migrated and seeded in the demo)
and the event bus (in process, or Redis with several instances)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.demo_seed import create_demo_customers, create_demo_users
from callcenter.settings import Settings
from callcenter.wiring.owner import Owner
from crm_core.bus import InProcessBus
from crm_core.ports.bus import EventBus

if TYPE_CHECKING:
    from crm_core.db import Database

__all__ = ["open_database", "start_bus"]


async def open_database(owner: Owner, settings: Settings, demo_file: Path | None) -> Database:
    """`demo_file`: the demo's own database file, created, migrated and seeded here."""
    from crm_core.db import open_database as open_db
    from crm_core.db.migrate import upgrade_async

    url = settings.database_url
    if demo_file is not None:
        demo_file.parent.mkdir(parents=True, exist_ok=True)
        await upgrade_async(url)
    db = await open_db(url, phone_region=settings.phone_region)
    owner.own("database", db.close)
    if demo_file is not None:
        await create_demo_users(db)
        await create_demo_customers(db)
    return db


async def start_bus(owner: Owner, settings: Settings) -> EventBus:
    if not settings.redis_url:
        return InProcessBus()
    from crm_core.bus_redis import RedisBus

    redis_bus = RedisBus(settings.redis_url, instance_id=settings.instance_id or None)
    await redis_bus.start()
    owner.own("redis bus", redis_bus.stop)
    return redis_bus
