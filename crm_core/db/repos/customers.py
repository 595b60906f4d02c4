"""Customers and their phone numbers."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, false, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.phone_lookup import PgPhoneLookup
from crm_core.db.repos._base import (
    BULK_ROWS,
    Repo,
    aggregate,
    aware,
    from_row,
    insert_id,
    now,
    update_one,
)
from crm_core.domain.models import Customer, PhoneNumber
from crm_core.phones import normalize, try_normalize
from crm_core.ports.repositories import Conflict, NewCustomer, NotFound

# PostgreSQL bulk inserts from arrays (unnest): new customers and their numbers
PG_NEW_CUSTOMERS = text(
    "INSERT INTO customers (id, name, company, title, vip_level, notes, language,"
    " created_at, updated_at)"
    " SELECT u.id, u.name, u.company, '', 0, '', '', :now, :now"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:names AS text[]),"
    " CAST(:companies AS text[])) AS u(id, name, company)"
)
PG_IDS = text(
    "SELECT e164, customer_id FROM customer_phones WHERE e164 = ANY(CAST(:numbers AS text[]))"
)
PG_NEW_PHONES = text(
    "INSERT INTO customer_phones (customer_id, e164, raw, label)"
    " SELECT u.id, u.e164, u.e164, 'mobile'"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS text[])) AS u(id, e164)"
)


def _by_phone_statement() -> Select[Any]:
    """The customer and all their numbers in one round trip (the screen-pop hot path).

    Built once: constructing the aliases per call cost more than the query itself.
    """
    p = t.customer_phones.alias("p")
    mine = t.customer_phones.alias("mine")
    c = t.customers
    return (
        select(c, mine.c.e164, mine.c.raw, mine.c.label)
        .select_from(p.join(c, c.c.id == p.c.customer_id))
        .join(mine, mine.c.customer_id == c.c.id)
        .where(p.c.e164 == bindparam("e164"))
        .order_by(mine.c.id)
    )


BY_PHONE = _by_phone_statement()

_with_phones = aggregate(
    Customer, "phones", (t.customer_phones, "customer_id", (t.customer_phones.c.id,)), PhoneNumber
)


class CustomerRepo(Repo):
    _FIELDS = ("name", "company", "title", "vip_level", "notes", "language")

    def __init__(
        self, engine: AsyncEngine, region: str = "CN", *, fast: PgPhoneLookup | None = None
    ) -> None:
        super().__init__(engine, region)
        self.fast = fast

    @staticmethod
    async def _load(conn: AsyncConnection, ids: Sequence[int]) -> builtins.list[Customer]:
        """The customers `ids`, in that order (unknown ids left out)."""
        if not ids:
            return []
        rows = (await conn.execute(select(t.customers).where(t.customers.c.id.in_(ids)))).all()
        found = {c.id: c for c in await _with_phones(conn, rows)}
        return [found[i] for i in ids if i in found]

    async def get(self, customer_id: int) -> Customer:
        async with self.engine.connect() as conn:
            found = await self._load(conn, [customer_id])
        if not found:
            raise NotFound(f"no customer {customer_id}")
        return found[0]

    async def find_by_phone(self, phone: str) -> Customer | None:
        e164 = try_normalize(phone, self.region)
        if e164 is None:
            return None
        rows: Sequence[Any] | None = None
        if self.fast is not None:
            rows = await self.fast.fetch(e164)
        if rows is None:
            async with self.read_engine.connect() as conn:
                rows = [r._mapping for r in (await conn.execute(BY_PHONE, {"e164": e164})).all()]
        if not rows:
            return None
        return from_row(
            Customer,
            rows[0],
            {"created_at": aware, "updated_at": aware},
            phones=tuple(PhoneNumber(e164=x["e164"], raw=x["raw"], label=x["label"]) for x in rows),
        )

    async def create(
        self,
        *,
        name: str,
        phones: Sequence[str] = (),
        company: str = "",
        title: str = "",
        vip_level: int = 0,
        notes: str = "",
        language: str = "",
    ) -> Customer:
        normalized = [(normalize(p, self.region), p) for p in phones]
        stamp = now()
        try:
            async with self.engine.begin() as conn:
                cid = await insert_id(
                    conn,
                    t.customers,
                    {
                        "name": name,
                        "company": company,
                        "title": title,
                        "vip_level": vip_level,
                        "notes": notes,
                        "language": language,
                        "created_at": stamp,
                        "updated_at": stamp,
                    },
                )
                for e164, raw in dict((e, r) for e, r in normalized).items():
                    await conn.execute(
                        insert(t.customer_phones).values(customer_id=cid, e164=e164, raw=raw)
                    )
        except IntegrityError as exc:
            raise Conflict(f"phone number already belongs to another customer: {phones}") from exc
        return await self.get(cid)

    async def update(self, customer_id: int, **fields: object) -> Customer:
        values = {k: v for k, v in fields.items() if k in self._FIELDS}
        unknown = set(fields) - set(self._FIELDS)
        if unknown:
            raise ValueError(f"unknown customer fields: {sorted(unknown)}")
        async with self.engine.begin() as conn:
            await update_one(
                conn, t.customers, customer_id, {**values, "updated_at": now()}, "customer"
            )
        return await self.get(customer_id)

    async def add_phone(self, customer_id: int, phone: str, label: str = "mobile") -> Customer:
        e164 = normalize(phone, self.region)
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(t.customer_phones).values(
                        customer_id=customer_id, e164=e164, raw=phone, label=label
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"{phone} already belongs to a customer") from exc
        return await self.get(customer_id)

    async def ids_by_phones(
        self, people: Sequence[NewCustomer], *, create: bool = True
    ) -> dict[str, int]:
        wanted: dict[str, NewCustomer] = {}
        for person in people:
            wanted.setdefault(person.e164, person)
        numbers = list(wanted)
        found: dict[str, int] = {}
        for start in range(0, len(numbers), BULK_ROWS):
            chunk = numbers[start : start + BULK_ROWS]
            for attempt in range(3):
                try:
                    async with self.engine.begin() as conn:
                        if create:
                            await self._write_lock(conn)
                        known = await self._ids(conn, chunk)
                        missing = [wanted[n] for n in chunk if n not in known]
                        if create and missing:
                            known.update(await self._create_many(conn, missing))
                    break
                except IntegrityError:
                    # another writer gave one of these numbers a customer meanwhile:
                    # match the chunk again (its own inserts were rolled back)
                    if attempt == 2:
                        raise
            found.update(known)
        return found

    @staticmethod
    async def _ids(conn: AsyncConnection, numbers: Sequence[str]) -> dict[str, int]:
        p = t.customer_phones
        if conn.dialect.name == "postgresql":  # one array parameter, not one per number
            rows = await conn.execute(PG_IDS, {"numbers": list(numbers)})
        else:
            rows = await conn.execute(
                select(p.c.e164, p.c.customer_id).where(p.c.e164.in_(numbers))
            )
        return {e164: customer_id for e164, customer_id in rows.all()}

    @staticmethod
    async def _new_ids(conn: AsyncConnection, count: int) -> builtins.list[int]:
        """`count` fresh customer ids, reserved for this transaction. PostgreSQL: from the
        id sequence. SQLite: past the largest id, under the write lock taken first (by
        `_write_lock`), so no other writer can take them meanwhile."""
        if conn.dialect.name == "postgresql":
            rows = await conn.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence('customers', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": count},
            )
            return sorted(rows.scalars())
        top = (await conn.execute(select(func.max(t.customers.c.id)))).scalar() or 0
        return list(range(top + 1, top + 1 + count))

    @staticmethod
    async def _write_lock(conn: AsyncConnection) -> None:
        """SQLite: take the database's write lock now, before reading (a deferred
        transaction that read first could not write after another writer)."""
        if conn.dialect.name == "sqlite":
            await conn.execute(update(t.customers).where(false()).values(name=""))

    async def _create_many(
        self, conn: AsyncConnection, people: Sequence[NewCustomer]
    ) -> dict[str, int]:
        stamp = now()
        ids = await self._new_ids(conn, len(people))
        if conn.dialect.name == "postgresql":
            # three arrays per statement, not a parameter per value: asyncpg encodes them
            # in C, and the server expands them with unnest()
            await conn.execute(
                PG_NEW_CUSTOMERS,
                {
                    "ids": ids,
                    "names": [p.name or p.e164 for p in people],
                    "companies": [p.company for p in people],
                    "now": stamp,
                },
            )
            await conn.execute(PG_NEW_PHONES, {"ids": ids, "numbers": [p.e164 for p in people]})
            return {p.e164: cid for cid, p in zip(ids, people, strict=True)}
        # executemany of one cached statement without RETURNING: the driver's fast path
        await conn.execute(
            insert(t.customers),
            [
                {
                    "id": cid,
                    "name": p.name or p.e164,
                    "company": p.company,
                    "title": "",
                    "vip_level": 0,
                    "notes": "",
                    "language": "",
                    "created_at": stamp,
                    "updated_at": stamp,
                }
                for cid, p in zip(ids, people, strict=True)
            ],
        )
        await conn.execute(
            insert(t.customer_phones),
            [
                {"customer_id": cid, "e164": p.e164, "raw": p.e164, "label": "mobile"}
                for cid, p in zip(ids, people, strict=True)
            ],
        )
        return {p.e164: cid for cid, p in zip(ids, people, strict=True)}

    async def search(self, text: str, limit: int = 20) -> builtins.list[Customer]:
        e164 = try_normalize(text, self.region)
        pattern = f"%{text}%"
        async with self.engine.connect() as conn:
            cond = or_(t.customers.c.name.like(pattern), t.customers.c.company.like(pattern))
            if e164:
                cond = or_(
                    cond,
                    t.customers.c.id.in_(
                        select(t.customer_phones.c.customer_id).where(
                            t.customer_phones.c.e164 == e164
                        )
                    ),
                )
            ids = (
                (await conn.execute(select(t.customers.c.id).where(cond).limit(limit)))
                .scalars()
                .all()
            )
            return await self._load(conn, list(ids))
