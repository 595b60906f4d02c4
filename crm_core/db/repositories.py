"""SQLAlchemy implementations of the repository ports. Each method is one transaction
and returns domain objects (crm_core.domain.models), never rows."""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Row,
    Select,
    and_,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.db import tables as t
from crm_core.db.phone_lookup import PgPhoneLookup
from crm_core.domain.models import (
    AttemptResult,
    AuditEntry,
    Callback,
    CallbackAttempt,
    CallbackReason,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Campaign,
    CampaignContact,
    CampaignKind,
    CampaignStatus,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    ContactStatus,
    Customer,
    DialMode,
    Direction,
    IvrStep,
    Offer,
    OfferResult,
    PhoneNumber,
    Role,
    Satisfaction,
    SurveyAnswer,
    Team,
    User,
    Violation,
    ViolationKind,
)
from crm_core.phones import InvalidPhoneNumber, normalize, try_normalize
from crm_core.ports.repositories import CallFilter, Conflict, NewCustomer, NotFound

# rows per bulk statement: 2,000 x 12 columns stays under the 32,766 bind parameters
# SQLite and PostgreSQL (asyncpg) allow, and keeps each stretch of work on the loop short
BULK_ROWS = 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class _Repo:
    def __init__(self, engine: AsyncEngine, region: str = "CN") -> None:
        self.engine = engine
        self.region = region
        # single-statement reads on PostgreSQL skip BEGIN/ROLLBACK: one round trip, not three
        self.read_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )


# --- customers ---------------------------------------------------------------------------


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


_BY_PHONE = _by_phone_statement()


class CustomerRepo(_Repo):
    _FIELDS = ("name", "company", "title", "vip_level", "notes", "language")

    def __init__(
        self, engine: AsyncEngine, region: str = "CN", *, fast: PgPhoneLookup | None = None
    ) -> None:
        super().__init__(engine, region)
        self.fast = fast

    async def _load(self, conn: AsyncConnection, ids: Sequence[int]) -> builtins.list[Customer]:
        if not ids:
            return []
        rows = (await conn.execute(select(t.customers).where(t.customers.c.id.in_(ids)))).all()
        phones = (
            await conn.execute(
                select(t.customer_phones)
                .where(t.customer_phones.c.customer_id.in_(ids))
                .order_by(t.customer_phones.c.id)
            )
        ).all()
        by_customer: dict[int, builtins.list[PhoneNumber]] = {}
        for p in phones:
            by_customer.setdefault(p.customer_id, []).append(
                PhoneNumber(e164=p.e164, raw=p.raw, label=p.label)
            )
        found = {
            r.id: Customer(
                id=r.id,
                name=r.name,
                company=r.company,
                title=r.title,
                vip_level=r.vip_level,
                notes=r.notes,
                language=r.language,
                phones=tuple(by_customer.get(r.id, ())),
                created_at=r.created_at,
                updated_at=r.updated_at,
            )
            for r in rows
        }
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
                rows = [r._mapping for r in (await conn.execute(_BY_PHONE, {"e164": e164})).all()]
        if not rows:
            return None
        r = rows[0]
        return Customer(
            id=r["id"],
            name=r["name"],
            company=r["company"],
            title=r["title"],
            vip_level=r["vip_level"],
            notes=r["notes"],
            language=r["language"],
            phones=tuple(PhoneNumber(e164=x["e164"], raw=x["raw"], label=x["label"]) for x in rows),
            created_at=_aware(r["created_at"]),
            updated_at=_aware(r["updated_at"]),
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
        now = _now()
        try:
            async with self.engine.begin() as conn:
                cid = (
                    await conn.execute(
                        insert(t.customers)
                        .values(
                            name=name,
                            company=company,
                            title=title,
                            vip_level=vip_level,
                            notes=notes,
                            language=language,
                            created_at=now,
                            updated_at=now,
                        )
                        .returning(t.customers.c.id)
                    )
                ).scalar_one()
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
            result = await conn.execute(
                update(t.customers)
                .where(t.customers.c.id == customer_id)
                .values(**values, updated_at=_now())
            )
            if result.rowcount == 0:
                raise NotFound(f"no customer {customer_id}")
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
            rows = await conn.execute(_PG_IDS, {"numbers": list(numbers)})
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
        now = _now()
        ids = await self._new_ids(conn, len(people))
        if conn.dialect.name == "postgresql":
            # three arrays per statement, not a parameter per value: asyncpg encodes them
            # in C, and the server expands them with unnest()
            await conn.execute(
                _PG_NEW_CUSTOMERS,
                {
                    "ids": ids,
                    "names": [p.name or p.e164 for p in people],
                    "companies": [p.company for p in people],
                    "now": now,
                },
            )
            await conn.execute(_PG_NEW_PHONES, {"ids": ids, "numbers": [p.e164 for p in people]})
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
                    "created_at": now,
                    "updated_at": now,
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


# --- users --------------------------------------------------------------------------------


def _user(r: Row[Any]) -> User:
    return User(
        id=r.id,
        username=r.username,
        display_name=r.display_name,
        role=Role(r.role),
        team_id=r.team_id,
        member_name=r.member_name,
        interface=r.interface,
        queues=tuple(r.queues or ()),
        language=r.language,
        active=r.active,
    )


class UserRepo(_Repo):
    async def _one(self, cond: Any) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(cond))).first()
        return _user(row) if row else None

    async def get(self, user_id: int) -> User:
        found = await self._one(t.users.c.id == user_id)
        if found is None:
            raise NotFound(f"no user {user_id}")
        return found

    async def get_by_username(self, username: str) -> User | None:
        return await self._one(t.users.c.username == username)

    async def get_by_member_name(self, member_name: str) -> User | None:
        return await self._one(t.users.c.member_name == member_name)

    async def password_hash(self, username: str) -> str | None:
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(t.users.c.password_hash).where(t.users.c.username == username)
                )
            ).scalar()
        return str(value) if value is not None else None

    async def create(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password_hash: str,
        team_id: int | None = None,
        member_name: str | None = None,
        interface: str | None = None,
        queues: Sequence[str] = (),
        language: str = "",
    ) -> User:
        try:
            async with self.engine.begin() as conn:
                uid = (
                    await conn.execute(
                        insert(t.users)
                        .values(
                            username=username,
                            display_name=display_name,
                            role=Role(role).value,
                            password_hash=password_hash,
                            team_id=team_id,
                            member_name=member_name,
                            interface=interface,
                            queues=list(queues),
                            language=language,
                            active=True,
                            created_at=_now(),
                        )
                        .returning(t.users.c.id)
                    )
                ).scalar_one()
        except IntegrityError as exc:
            raise Conflict(f"user {username!r} or member {member_name!r} exists already") from exc
        return await self.get(uid)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.users).where(t.users.c.id == user_id).values(password_hash=password_hash)
            )

    async def set_language(self, user_id: int, language: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.users).where(t.users.c.id == user_id).values(language=language)
            )

    async def list(
        self, *, role: Role | None = None, team_id: int | None = None
    ) -> builtins.list[User]:
        stmt = select(t.users).order_by(t.users.c.id)
        if role is not None:
            stmt = stmt.where(t.users.c.role == Role(role).value)
        if team_id is not None:
            stmt = stmt.where(t.users.c.team_id == team_id)
        async with self.engine.connect() as conn:
            return [_user(r) for r in (await conn.execute(stmt)).all()]

    async def get_or_create_team(self, name: str) -> Team:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.teams).where(t.teams.c.name == name))).first()
            if row is None:
                tid = (
                    await conn.execute(insert(t.teams).values(name=name).returning(t.teams.c.id))
                ).scalar_one()
                return Team(id=tid, name=name)
            return Team(id=row.id, name=row.name, lead_user_id=row.lead_user_id)

    async def set_team_lead(self, team_id: int, lead_user_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.teams).where(t.teams.c.id == team_id).values(lead_user_id=lead_user_id)
            )

    async def teams(self) -> builtins.list[Team]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.teams).order_by(t.teams.c.id))).all()
        return [Team(id=r.id, name=r.name, lead_user_id=r.lead_user_id) for r in rows]


# --- calls --------------------------------------------------------------------------------


def _ivr_to_json(steps: Sequence[IvrStep]) -> builtins.list[dict[str, Any]]:
    return [
        {"flow": s.flow, "step": s.step, "at": s.at.isoformat(), "input": s.input} for s in steps
    ]


def _ivr_from_json(data: Any) -> tuple[IvrStep, ...]:
    return tuple(
        IvrStep(
            flow=d["flow"],
            step=d["step"],
            at=datetime.fromisoformat(d["at"]),
            input=d.get("input"),
        )
        for d in data or ()
    )


class CallRepo(_Repo):
    _KEEP = ("disposition", "wrapup_notes", "customer_id", "recording", "transferred_to")

    def _row_values(self, r: CallRecord) -> dict[str, Any]:
        ring = max((o.ring_seconds for o in r.offers), default=0.0)
        return {
            "call_id": r.call_id,
            "pbx": r.pbx,
            "direction": r.direction.value,
            "caller_number": r.caller_number,
            "caller_e164": try_normalize(r.caller_number, self.region),
            "caller_name": r.caller_name,
            "dialed_number": r.dialed_number,
            "customer_id": r.customer_id,
            "queue": r.queue,
            "agent": r.agent,
            "agent_interface": r.agent_interface,
            "started_at": r.started_at,
            "answered_at": r.answered_at,
            "ended_at": r.ended_at,
            "wait_seconds": r.wait_seconds,
            "ring_seconds": ring,
            "talk_seconds": r.talk_seconds,
            "hold_seconds": r.hold_seconds,
            "outcome": r.outcome.value,
            "rule_violations": list(r.rule_violations),
            "callback_due_at": r.callback_due_at,
            "transferred_to": r.transferred_to,
            "recording": r.recording,
            "disposition": r.disposition,
            "wrapup_notes": r.wrapup_notes,
            "ivr_path": _ivr_to_json(r.ivr_path),
            "campaign_id": r.campaign_id,
            "written_at": _now(),
        }

    async def save_many(self, records: Iterable[CallRecord]) -> int:
        records = list(records)
        if not records:
            return 0
        async with self.engine.begin() as conn:
            ids = [r.call_id for r in records]
            existing = {
                row.call_id: row
                for row in (
                    await conn.execute(select(t.calls).where(t.calls.c.call_id.in_(ids)))
                ).all()
            }
            for record in records:
                values = self._row_values(record)
                old = existing.get(record.call_id)
                pk = None if old is not None else await self._insert_new(conn, values)
                if pk is None:
                    # The row exists: read above, or inserted since by another writer (every
                    # instance writes the calls it hears of) or earlier in this batch.
                    for key in self._KEEP:
                        # CRM-side fields set by people win. Decided inside the UPDATE, not
                        # from the row read above: an agent's wrap-up may commit in between.
                        new = values.pop(key, None)
                        if new is not None:
                            values[key] = func.coalesce(t.calls.c[key], new)
                    pk = (
                        await conn.execute(
                            update(t.calls)
                            .where(t.calls.c.call_id == record.call_id)
                            .values(**values)
                            .returning(t.calls.c.id)
                        )
                    ).scalar_one()
                    await conn.execute(delete(t.call_offers).where(t.call_offers.c.call_pk == pk))
                if record.offers:
                    await conn.execute(
                        insert(t.call_offers),
                        [
                            {
                                "call_pk": pk,
                                "seq": n,
                                "agent": o.agent,
                                "interface": o.interface,
                                "queue": o.queue,
                                "ring_started_at": o.ring_started_at,
                                "ring_ended_at": o.ring_ended_at,
                                "ring_seconds": o.ring_seconds,
                                "result": o.result.value,
                            }
                            for n, o in enumerate(record.offers)
                        ],
                    )
        return len(records)

    @staticmethod
    async def _insert_new(conn: AsyncConnection, values: dict[str, Any]) -> int | None:
        """INSERT the call unless its call_id is already there (committed meanwhile by
        another writer): the new row's id, or None. ON CONFLICT DO NOTHING instead of a
        failing INSERT, so one duplicate never rolls back the rest of the batch."""
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stmt = (
            dialect_insert(t.calls)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[t.calls.c.call_id])
            .returning(t.calls.c.id)
        )
        pk: int | None = (await conn.execute(stmt)).scalar_one_or_none()
        return pk

    async def _records(
        self, conn: AsyncConnection, rows: Sequence[Row[Any]]
    ) -> builtins.list[CallRecord]:
        if not rows:
            return []
        pks = [r.id for r in rows]
        offers: dict[int, builtins.list[Offer]] = {}
        for o in (
            await conn.execute(
                select(t.call_offers)
                .where(t.call_offers.c.call_pk.in_(pks))
                .order_by(t.call_offers.c.call_pk, t.call_offers.c.seq)
            )
        ).all():
            offers.setdefault(o.call_pk, []).append(
                Offer(
                    agent=o.agent,
                    interface=o.interface,
                    queue=o.queue,
                    ring_started_at=o.ring_started_at,
                    ring_ended_at=o.ring_ended_at,
                    ring_seconds=o.ring_seconds,
                    result=OfferResult(o.result),
                )
            )
        return [
            CallRecord(
                call_id=r.call_id,
                pbx=r.pbx,
                direction=Direction(r.direction),
                caller_number=r.caller_number,
                caller_name=r.caller_name,
                dialed_number=r.dialed_number,
                customer_id=r.customer_id,
                queue=r.queue,
                agent=r.agent,
                agent_interface=r.agent_interface,
                started_at=r.started_at,
                answered_at=r.answered_at,
                ended_at=r.ended_at,
                wait_seconds=r.wait_seconds,
                talk_seconds=r.talk_seconds,
                hold_seconds=r.hold_seconds,
                offers=tuple(offers.get(r.id, ())),
                outcome=CallOutcome(r.outcome),
                rule_violations=tuple(r.rule_violations or ()),
                callback_due_at=r.callback_due_at,
                transferred_to=r.transferred_to,
                recording=r.recording,
                disposition=r.disposition,
                wrapup_notes=r.wrapup_notes,
                ivr_path=_ivr_from_json(r.ivr_path),
                campaign_id=r.campaign_id,
            )
            for r in rows
        ]

    async def get(self, call_id: str) -> CallRecord:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.calls).where(t.calls.c.call_id == call_id))).all()
            found = await self._records(conn, rows)
        if not found:
            raise NotFound(f"no call {call_id}")
        return found[0]

    async def list(self, flt: CallFilter) -> builtins.list[CallRecord]:
        c = t.calls.c
        conds = []
        if flt.since is not None:
            conds.append(c.started_at >= flt.since)
        if flt.until is not None:
            conds.append(c.started_at < flt.until)
        if flt.agent is not None:
            conds.append(c.agent == flt.agent)
        if flt.agents is not None:
            conds.append(c.agent.in_(flt.agents))
        if flt.queue is not None:
            conds.append(c.queue == flt.queue)
        if flt.outcome is not None:
            conds.append(c.outcome == flt.outcome)
        if flt.customer_id is not None:
            conds.append(c.customer_id == flt.customer_id)
        stmt = (
            select(t.calls)
            .where(and_(true(), *conds))
            .order_by(c.started_at.desc(), c.id.desc())
            .limit(flt.limit)
            .offset(flt.offset)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
            return await self._records(conn, rows)

    async def save_wrapup(
        self,
        call_id: str,
        *,
        disposition: str | None,
        notes: str | None,
        customer_id: int | None = None,
    ) -> CallRecord:
        values: dict[str, Any] = {"disposition": disposition, "wrapup_notes": notes}
        if customer_id is not None:
            values["customer_id"] = customer_id
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.calls).where(t.calls.c.call_id == call_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"no call {call_id}")
        return await self.get(call_id)

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(t.calls))).scalar_one())

    async def check_reachable(self) -> None:
        """Raise the driver's error when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(select(1))


# --- callbacks ------------------------------------------------------------------------------

_OPEN = (CallbackStatus.OPEN.value, CallbackStatus.OVERDUE.value)


class CallbackRepo(_Repo):
    async def _load(
        self, conn: AsyncConnection, rows: Sequence[Row[Any]]
    ) -> builtins.list[Callback]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        attempts: dict[int, builtins.list[CallbackAttempt]] = {}
        for a in (
            await conn.execute(
                select(t.callback_attempts)
                .where(t.callback_attempts.c.callback_id.in_(ids))
                .order_by(t.callback_attempts.c.id)
            )
        ).all():
            attempts.setdefault(a.callback_id, []).append(
                CallbackAttempt(
                    at=a.at,
                    result=AttemptResult(a.result),
                    by_user_id=a.by_user_id,
                    call_id=a.call_id,
                    note=a.note,
                )
            )
        return [
            Callback(
                id=r.id,
                phone_e164=r.phone_e164,
                reason=CallbackReason(r.reason),
                status=CallbackStatus(r.status),
                created_at=r.created_at,
                due_at=r.due_at,
                customer_id=r.customer_id,
                owner_user_id=r.owner_user_id,
                queue=r.queue,
                call_id=r.call_id,
                question=r.question,
                outcome=r.outcome,
                closed_at=r.closed_at,
                reminded_at=r.reminded_at,
                escalated_at=r.escalated_at,
                next_attempt_at=r.next_attempt_at,
                attempts=tuple(attempts.get(r.id, ())),
                merged_count=r.merged_count,
            )
            for r in rows
        ]

    async def create(
        self,
        *,
        phone_e164: str,
        reason: CallbackReason,
        due_at: datetime,
        created_at: datetime,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        queue: str | None = None,
        call_id: str | None = None,
        question: str = "",
    ) -> Callback:
        async with self.engine.begin() as conn:
            cid = (
                await conn.execute(
                    insert(t.callbacks)
                    .values(
                        phone_e164=phone_e164,
                        reason=CallbackReason(reason).value,
                        status=CallbackStatus.OPEN.value,
                        created_at=created_at,
                        due_at=due_at,
                        customer_id=customer_id,
                        owner_user_id=owner_user_id,
                        queue=queue,
                        call_id=call_id,
                        question=question,
                        merged_count=0,
                    )
                    .returning(t.callbacks.c.id)
                )
            ).scalar_one()
        return await self.get(cid)

    async def get(self, callback_id: int) -> Callback:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(select(t.callbacks).where(t.callbacks.c.id == callback_id))
            ).all()
            found = await self._load(conn, rows)
        if not found:
            raise NotFound(f"no callback {callback_id}")
        return found[0]

    async def open_for_phone(self, phone_e164: str) -> Callback | None:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.callbacks)
                    .where(t.callbacks.c.phone_e164 == phone_e164, t.callbacks.c.status.in_(_OPEN))
                    .order_by(t.callbacks.c.due_at)
                    .limit(1)
                )
            ).all()
            found = await self._load(conn, rows)
        return found[0] if found else None

    async def list(
        self,
        *,
        status: Sequence[CallbackStatus] | None = None,
        owner_user_id: int | None = None,
        limit: int = 500,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> builtins.list[Callback]:
        stmt = select(t.callbacks).order_by(t.callbacks.c.due_at).limit(limit)
        if call_id is not None:
            stmt = stmt.where(t.callbacks.c.call_id == call_id)
        if status is not None:
            stmt = stmt.where(t.callbacks.c.status.in_([CallbackStatus(s).value for s in status]))
        if owner_user_id is not None:
            stmt = stmt.where(t.callbacks.c.owner_user_id == owner_user_id)
        if customer_id is not None:
            stmt = stmt.where(t.callbacks.c.customer_id == customer_id)
        async with self.engine.connect() as conn:
            return await self._load(conn, (await conn.execute(stmt)).all())

    _FIELDS = frozenset(
        {
            "status",
            "due_at",
            "owner_user_id",
            "queue",
            "customer_id",
            "question",
            "outcome",
            "closed_at",
            "reminded_at",
            "escalated_at",
            "next_attempt_at",
            "merged_count",
        }
    )

    async def update(self, callback_id: int, **fields: object) -> Callback:
        unknown = set(fields) - self._FIELDS
        if unknown:
            raise ValueError(f"unknown callback fields: {sorted(unknown)}")
        values = {k: (v.value if isinstance(v, CallbackStatus) else v) for k, v in fields.items()}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.callbacks).where(t.callbacks.c.id == callback_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"no callback {callback_id}")
        return await self.get(callback_id)

    async def claim(self, callback_id: int, marker: str, at: datetime, **extra: object) -> bool:
        """Atomically set `marker` (reminded_at / escalated_at) if it is still unset.

        Exactly one caller wins, across processes and instances: the deadline fires once.
        """
        if marker not in ("reminded_at", "escalated_at"):
            raise ValueError(marker)
        col = t.callbacks.c[marker]
        values: dict[str, Any] = {marker: at}
        values.update(
            {k: (v.value if isinstance(v, CallbackStatus) else v) for k, v in extra.items()}
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.callbacks)
                .where(
                    t.callbacks.c.id == callback_id, col.is_(None), t.callbacks.c.status.in_(_OPEN)
                )
                .values(**values)
            )
            return bool(result.rowcount == 1)

    async def claim_retry(self, callback_id: int, retry_at: datetime) -> bool:
        """Consume the pending retry reminder set for `retry_at` (clears `next_attempt_at`).

        Conditional on the very time scheduled: a newer retry time, a closed callback or
        another instance's claim makes this a no-op, so each retry reminder fires once.
        """
        c = t.callbacks.c
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.callbacks)
                .where(c.id == callback_id, c.next_attempt_at == retry_at, c.status.in_(_OPEN))
                .values(next_attempt_at=None)
            )
            return bool(result.rowcount == 1)

    async def retry_rows(self) -> builtins.list[tuple[int, datetime]]:
        """(id, next_attempt_at) of open callbacks waiting for a retry reminder."""
        c = t.callbacks.c
        stmt = select(c.id, c.next_attempt_at).where(
            c.status.in_(_OPEN), c.next_attempt_at.is_not(None)
        )
        async with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in (await conn.execute(stmt)).all()]

    async def add_attempt(
        self,
        callback_id: int,
        *,
        at: datetime,
        result: AttemptResult,
        by_user_id: int | None = None,
        call_id: str | None = None,
        note: str = "",
    ) -> Callback:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(t.callback_attempts).values(
                    callback_id=callback_id,
                    at=at,
                    result=AttemptResult(result).value,
                    by_user_id=by_user_id,
                    call_id=call_id,
                    note=note,
                )
            )
        return await self.get(callback_id)

    async def deadline_rows(self) -> builtins.list[tuple[int, datetime, bool, bool]]:
        """(id, due_at, reminder pending, escalation pending) of every open callback:
        what the deadline scheduler loads at start-up, without building whole objects."""
        c = t.callbacks.c
        stmt = (
            select(c.id, c.due_at, c.reminded_at.is_(None), c.escalated_at.is_(None))
            .where(c.status.in_(_OPEN))
            .where(or_(c.escalated_at.is_(None), c.reminded_at.is_(None)))
        )
        async with self.engine.connect() as conn:
            result = await conn.execute(stmt)
            return [(r[0], r[1], bool(r[2]), bool(r[3])) for r in result.all()]

    async def pending_deadlines(self) -> builtins.list[Callback]:
        stmt = (
            select(t.callbacks)
            .where(t.callbacks.c.status.in_(_OPEN))
            .where(or_(t.callbacks.c.escalated_at.is_(None), t.callbacks.c.reminded_at.is_(None)))
            .order_by(t.callbacks.c.due_at)
        )
        async with self.engine.connect() as conn:
            return await self._load(conn, (await conn.execute(stmt)).all())


# --- cases ----------------------------------------------------------------------------------


class CaseRepo(_Repo):
    async def _load(self, conn: AsyncConnection, rows: Sequence[Row[Any]]) -> builtins.list[Case]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        history: dict[int, builtins.list[CaseEvent]] = {}
        for e in (
            await conn.execute(
                select(t.case_events)
                .where(t.case_events.c.case_id.in_(ids))
                .order_by(t.case_events.c.id)
            )
        ).all():
            history.setdefault(e.case_id, []).append(
                CaseEvent(
                    at=e.at, status=CaseStatus(e.status), by_user_id=e.by_user_id, note=e.note
                )
            )
        return [
            Case(
                id=r.id,
                kind=CaseKind(r.kind),
                status=CaseStatus(r.status),
                subject=r.subject,
                created_at=r.created_at,
                customer_id=r.customer_id,
                owner_user_id=r.owner_user_id,
                department=r.department,
                call_id=r.call_id,
                description=r.description,
                promised_reply_at=r.promised_reply_at,
                closed_at=r.closed_at,
                history=tuple(history.get(r.id, ())),
            )
            for r in rows
        ]

    async def closed_matters(
        self, *, until: datetime, limit: int = 100_000
    ) -> builtins.list[tuple[int, int, datetime]]:
        """(customer id, case id, closed at) of every closed case of a known customer."""
        c = t.cases.c
        stmt = (
            select(c.customer_id, c.id, c.closed_at)
            .where(c.closed_at.is_not(None), c.closed_at < until, c.customer_id.is_not(None))
            .order_by(c.closed_at)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [(r.customer_id, r.id, r.closed_at) for r in (await conn.execute(stmt)).all()]

    async def create(
        self,
        *,
        kind: CaseKind,
        subject: str,
        created_at: datetime,
        customer_id: int | None,
        owner_user_id: int | None,
        department: str | None = None,
        call_id: str | None = None,
        description: str = "",
        promised_reply_at: datetime | None = None,
    ) -> Case:
        status = CaseStatus.ESCALATED if kind == CaseKind.ESCALATION else CaseStatus.OPEN
        async with self.engine.begin() as conn:
            cid = (
                await conn.execute(
                    insert(t.cases)
                    .values(
                        kind=CaseKind(kind).value,
                        status=status.value,
                        subject=subject,
                        created_at=created_at,
                        customer_id=customer_id,
                        owner_user_id=owner_user_id,
                        department=department,
                        call_id=call_id,
                        description=description,
                        promised_reply_at=promised_reply_at,
                    )
                    .returning(t.cases.c.id)
                )
            ).scalar_one()
            await conn.execute(
                insert(t.case_events).values(
                    case_id=cid,
                    at=created_at,
                    status=status.value,
                    by_user_id=owner_user_id,
                    note="opened",
                )
            )
        return await self.get(cid)

    async def get(self, case_id: int) -> Case:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.cases).where(t.cases.c.id == case_id))).all()
            found = await self._load(conn, rows)
        if not found:
            raise NotFound(f"no case {case_id}")
        return found[0]

    async def list(
        self,
        *,
        customer_id: int | None = None,
        owner_user_id: int | None = None,
        open_only: bool = False,
        limit: int = 200,
    ) -> builtins.list[Case]:
        stmt = select(t.cases).order_by(t.cases.c.created_at.desc()).limit(limit)
        if customer_id is not None:
            stmt = stmt.where(t.cases.c.customer_id == customer_id)
        if owner_user_id is not None:
            stmt = stmt.where(t.cases.c.owner_user_id == owner_user_id)
        if open_only:
            stmt = stmt.where(
                t.cases.c.status.notin_([CaseStatus.RESOLVED.value, CaseStatus.CLOSED.value])
            )
        async with self.engine.connect() as conn:
            return await self._load(conn, (await conn.execute(stmt)).all())

    async def set_status(
        self,
        case_id: int,
        status: CaseStatus,
        *,
        at: datetime,
        by_user_id: int | None,
        note: str = "",
    ) -> Case:
        closed = status in (CaseStatus.RESOLVED, CaseStatus.CLOSED)
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.cases)
                .where(t.cases.c.id == case_id)
                .values(status=CaseStatus(status).value, closed_at=at if closed else None)
            )
            if result.rowcount == 0:
                raise NotFound(f"no case {case_id}")
            await conn.execute(
                insert(t.case_events).values(
                    case_id=case_id,
                    at=at,
                    status=CaseStatus(status).value,
                    by_user_id=by_user_id,
                    note=note,
                )
            )
        return await self.get(case_id)

    async def reassign(
        self, case_id: int, owner_user_id: int, *, at: datetime, by_user_id: int | None
    ) -> Case:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.cases).where(t.cases.c.id == case_id))).first()
            if row is None:
                raise NotFound(f"no case {case_id}")
            await conn.execute(
                update(t.cases).where(t.cases.c.id == case_id).values(owner_user_id=owner_user_id)
            )
            await conn.execute(
                insert(t.case_events).values(
                    case_id=case_id,
                    at=at,
                    status=row.status,
                    by_user_id=by_user_id,
                    note=f"handed over to user {owner_user_id}",
                )
            )
        return await self.get(case_id)


# --- violations, dnc, surveys, audit ------------------------------------------------------------


class ViolationRepo(_Repo):
    async def add(self, violation: Violation) -> Violation:
        async with self.engine.begin() as conn:
            vid = (
                await conn.execute(
                    insert(t.violations)
                    .values(
                        kind=violation.kind.value,
                        at=violation.at,
                        agent=violation.agent,
                        call_id=violation.call_id,
                        ring_seconds=violation.ring_seconds,
                        queue=violation.queue,
                        detail=violation.detail,
                    )
                    .returning(t.violations.c.id)
                )
            ).scalar_one()
        return Violation(
            id=vid,
            kind=violation.kind,
            at=violation.at,
            agent=violation.agent,
            call_id=violation.call_id,
            ring_seconds=violation.ring_seconds,
            queue=violation.queue,
            detail=violation.detail,
        )

    async def list(
        self, *, since: datetime | None = None, agent: str | None = None, limit: int = 500
    ) -> builtins.list[Violation]:
        stmt = select(t.violations).order_by(t.violations.c.at.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(t.violations.c.at >= since)
        if agent is not None:
            stmt = stmt.where(t.violations.c.agent == agent)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            Violation(
                id=r.id,
                kind=ViolationKind(r.kind),
                at=r.at,
                agent=r.agent,
                call_id=r.call_id,
                ring_seconds=r.ring_seconds,
                queue=r.queue,
                detail=r.detail,
            )
            for r in rows
        ]


class DoNotCallRepo(_Repo):
    async def contains(self, phone_e164: str) -> bool:
        async with self.engine.connect() as conn:
            found = (
                await conn.execute(
                    select(t.dnc.c.phone_e164).where(t.dnc.c.phone_e164 == phone_e164)
                )
            ).first()
        return found is not None

    async def add(self, phone_e164: str, reason: str = "", at: datetime | None = None) -> None:
        if await self.contains(phone_e164):
            return
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    insert(t.dnc).values(
                        phone_e164=phone_e164, reason=reason, added_at=at or _now()
                    )
                )
        except IntegrityError:
            return  # added concurrently: the number is on the list, which is what was asked

    async def remove(self, phone_e164: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(t.dnc).where(t.dnc.c.phone_e164 == phone_e164))

    async def all_numbers(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.execute(select(t.dnc.c.phone_e164))).scalars().all())


class SurveyRepo(_Repo):
    async def add(self, answer: SurveyAnswer) -> SurveyAnswer:
        async with self.engine.begin() as conn:
            sid = (
                await conn.execute(
                    insert(t.survey_answers)
                    .values(
                        call_id=answer.call_id,
                        customer_id=answer.customer_id,
                        score=int(answer.score),
                        at=answer.at,
                        campaign_id=answer.campaign_id,
                        agent=answer.agent,
                        comment=answer.comment,
                    )
                    .returning(t.survey_answers.c.id)
                )
            ).scalar_one()
        return SurveyAnswer(
            id=sid,
            call_id=answer.call_id,
            customer_id=answer.customer_id,
            score=answer.score,
            at=answer.at,
            campaign_id=answer.campaign_id,
            agent=answer.agent,
            comment=answer.comment,
        )

    async def for_call(self, call_id: str) -> builtins.list[SurveyAnswer]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.survey_answers).where(t.survey_answers.c.call_id == call_id)
                )
            ).all()
        return [
            SurveyAnswer(
                id=r.id,
                call_id=r.call_id,
                customer_id=r.customer_id,
                score=Satisfaction(r.score),
                at=r.at,
                campaign_id=r.campaign_id,
                agent=r.agent,
                comment=r.comment,
            )
            for r in rows
        ]


class AuditRepo(_Repo):
    async def record(self, entry: AuditEntry) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(t.audit_log).values(
                    at=entry.at,
                    actor_user_id=entry.actor_user_id,
                    actor=entry.actor,
                    action=entry.action,
                    subject=entry.subject,
                    remote=entry.remote,
                    detail=entry.detail,
                )
            )

    async def list(
        self, *, since: datetime | None = None, actor: str | None = None, limit: int = 500
    ) -> builtins.list[AuditEntry]:
        stmt = select(t.audit_log).order_by(t.audit_log.c.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(t.audit_log.c.at >= since)
        if actor is not None:
            stmt = stmt.where(t.audit_log.c.actor == actor)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(stmt)).all()
        return [
            AuditEntry(
                id=r.id,
                at=r.at,
                actor_user_id=r.actor_user_id,
                actor=r.actor,
                action=r.action,
                subject=r.subject,
                remote=r.remote,
                detail=r.detail,
            )
            for r in rows
        ]


# --- campaigns ---------------------------------------------------------------------------------


def _campaign(r: Row[Any]) -> Campaign:
    return Campaign(
        id=r.id,
        name=r.name,
        kind=CampaignKind(r.kind),
        mode=DialMode(r.mode),
        status=CampaignStatus(r.status),
        queue=r.queue,
        team_id=r.team_id,
        script=r.script,
        caller_id=r.caller_id,
        calling_hours_start=r.calling_hours_start,
        calling_hours_end=r.calling_hours_end,
        timezone=r.timezone,
        max_attempts=r.max_attempts,
        retry_busy_minutes=r.retry_busy_minutes,
        retry_no_answer_minutes=r.retry_no_answer_minutes,
        retry_failed_minutes=r.retry_failed_minutes,
        dispositions=tuple(r.dispositions or ()),
        amd_enabled=r.amd_enabled,
        created_at=r.created_at,
    )


def _contact(r: Row[Any]) -> CampaignContact:
    return CampaignContact(
        id=r.id,
        campaign_id=r.campaign_id,
        phone_e164=r.phone_e164,
        name=r.name,
        customer_id=r.customer_id,
        timezone=r.timezone,
        status=ContactStatus(r.status),
        attempts=r.attempts,
        next_attempt_at=r.next_attempt_at,
        last_result=r.last_result,
        disposition=r.disposition,
        disposition_reason=r.disposition_reason,
        extra=dict(r.extra or {}),
    )


# PostgreSQL bulk inserts from arrays (unnest): new contacts, skipping numbers the
# campaign has; new customers and their numbers
_PG_NEW_CONTACTS = text(
    "INSERT INTO campaign_contacts (campaign_id, phone_e164, name, customer_id, timezone,"
    " status, attempts, extra)"
    " SELECT u.campaign_id, u.phone, u.name, u.customer_id, u.zone, 'pending', 0,"
    " CAST(u.extra AS json)"
    " FROM unnest(CAST(:campaigns AS bigint[]), CAST(:phones AS text[]),"
    " CAST(:names AS text[]), CAST(:customers AS bigint[]), CAST(:zones AS text[]),"
    " CAST(:extras AS text[])) AS u(campaign_id, phone, name, customer_id, zone, extra)"
    " ON CONFLICT (campaign_id, phone_e164) DO NOTHING RETURNING phone_e164"
)
_PG_NEW_CUSTOMERS = text(
    "INSERT INTO customers (id, name, company, title, vip_level, notes, language,"
    " created_at, updated_at)"
    " SELECT u.id, u.name, u.company, '', 0, '', '', :now, :now"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:names AS text[]),"
    " CAST(:companies AS text[])) AS u(id, name, company)"
)
_PG_IDS = text(
    "SELECT e164, customer_id FROM customer_phones WHERE e164 = ANY(CAST(:numbers AS text[]))"
)
_PG_NEW_PHONES = text(
    "INSERT INTO customer_phones (customer_id, e164, raw, label)"
    " SELECT u.id, u.e164, u.e164, 'mobile'"
    " FROM unnest(CAST(:ids AS bigint[]), CAST(:numbers AS text[])) AS u(id, e164)"
)


def _contact_row(c: CampaignContact) -> dict[str, Any]:
    return {
        "campaign_id": c.campaign_id,
        "phone_e164": c.phone_e164,
        "name": c.name,
        "customer_id": c.customer_id,
        "timezone": c.timezone,
        "status": c.status.value,
        "attempts": c.attempts,
        "next_attempt_at": c.next_attempt_at,
        "last_result": c.last_result,
        "disposition": c.disposition,
        "disposition_reason": c.disposition_reason,
        "extra": dict(c.extra),
    }


class CampaignRepo(_Repo):
    async def create(self, campaign: Campaign) -> Campaign:
        async with self.engine.begin() as conn:
            cid = (
                await conn.execute(
                    insert(t.campaigns)
                    .values(
                        name=campaign.name,
                        kind=campaign.kind.value,
                        mode=campaign.mode.value,
                        status=campaign.status.value,
                        queue=campaign.queue,
                        team_id=campaign.team_id,
                        script=campaign.script,
                        caller_id=campaign.caller_id,
                        calling_hours_start=campaign.calling_hours_start,
                        calling_hours_end=campaign.calling_hours_end,
                        timezone=campaign.timezone,
                        max_attempts=campaign.max_attempts,
                        retry_busy_minutes=campaign.retry_busy_minutes,
                        retry_no_answer_minutes=campaign.retry_no_answer_minutes,
                        retry_failed_minutes=campaign.retry_failed_minutes,
                        dispositions=list(campaign.dispositions),
                        amd_enabled=campaign.amd_enabled,
                        created_at=campaign.created_at or _now(),
                    )
                    .returning(t.campaigns.c.id)
                )
            ).scalar_one()
        return await self.get(cid)

    async def get(self, campaign_id: int) -> Campaign:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(t.campaigns).where(t.campaigns.c.id == campaign_id))
            ).first()
        if row is None:
            raise NotFound(f"no campaign {campaign_id}")
        return _campaign(row)

    async def list(self) -> builtins.list[Campaign]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.campaigns).order_by(t.campaigns.c.id))).all()
        return [_campaign(r) for r in rows]

    async def update(self, campaign_id: int, **fields: object) -> Campaign:
        values = {
            k: (v.value if hasattr(v, "value") else list(v) if isinstance(v, tuple) else v)
            for k, v in fields.items()
        }
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.campaigns).where(t.campaigns.c.id == campaign_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"no campaign {campaign_id}")
        return await self.get(campaign_id)

    async def add_contacts(self, contacts: Sequence[CampaignContact]) -> int:
        if not contacts:
            return 0
        rows = [_contact_row(c) for c in contacts]
        async with self.engine.begin() as conn:
            for start in range(0, len(rows), 5000):
                await conn.execute(insert(t.campaign_contacts), rows[start : start + 5000])
        return len(rows)

    async def add_new_contacts(self, contacts: Sequence[CampaignContact]) -> builtins.set[str]:
        stored: builtins.set[str] = set()
        if self.engine.dialect.name == "postgresql" and all(
            c.status is ContactStatus.PENDING
            and c.attempts == 0
            and c.next_attempt_at is None
            and c.last_result is None
            and c.disposition is None
            and c.disposition_reason is None
            for c in contacts
        ):
            for start in range(0, len(contacts), BULK_ROWS):
                chunk = contacts[start : start + BULK_ROWS]
                async with self.engine.begin() as conn:
                    result = await conn.execute(
                        _PG_NEW_CONTACTS,
                        {
                            "campaigns": [c.campaign_id for c in chunk],
                            "phones": [c.phone_e164 for c in chunk],
                            "names": [c.name for c in chunk],
                            "customers": [c.customer_id for c in chunk],
                            "zones": [c.timezone for c in chunk],
                            "extras": [json.dumps(c.extra, ensure_ascii=False) for c in chunk],
                        },
                    )
                    stored.update(result.scalars())
            return stored
        base = (pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert)(
            t.campaign_contacts
        )
        # executemany of one cached statement: SQLAlchemy sends it as batches of
        # multi-row VALUES ("insertmanyvalues"); `.values(list)` recompiled every chunk
        stmt = base.on_conflict_do_nothing(index_elements=["campaign_id", "phone_e164"]).returning(
            t.campaign_contacts.c.phone_e164
        )
        for start in range(0, len(contacts), BULK_ROWS):
            rows = [_contact_row(c) for c in contacts[start : start + BULK_ROWS]]
            async with self.engine.begin() as conn:
                result = await conn.execute(
                    stmt, rows, execution_options={"insertmanyvalues_page_size": BULK_ROWS}
                )
                stored.update(result.scalars())
        return stored

    async def contacts(
        self, campaign_id: int, *, status: str | None = None, limit: int = 1000
    ) -> builtins.list[CampaignContact]:
        stmt = (
            select(t.campaign_contacts)
            .where(t.campaign_contacts.c.campaign_id == campaign_id)
            .order_by(t.campaign_contacts.c.id)
            .limit(limit)
        )
        if status is not None:
            stmt = stmt.where(t.campaign_contacts.c.status == status)
        async with self.engine.connect() as conn:
            return [_contact(r) for r in (await conn.execute(stmt)).all()]

    async def update_contact(self, contact_id: int, **fields: object) -> CampaignContact:
        values = {k: (v.value if hasattr(v, "value") else v) for k, v in fields.items()}
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(t.campaign_contacts)
                .where(t.campaign_contacts.c.id == contact_id)
                .values(**values)
            )
            if result.rowcount == 0:
                raise NotFound(f"no contact {contact_id}")
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(t.campaign_contacts.c.id == contact_id)
                )
            ).one()
        return _contact(row)

    async def contact(self, contact_id: int) -> CampaignContact:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(t.campaign_contacts.c.id == contact_id)
                )
            ).one_or_none()
        if row is None:
            raise NotFound(f"no contact {contact_id}")
        return _contact(row)

    async def contact_by_phone(self, campaign_id: int, phone_e164: str) -> CampaignContact | None:
        c = t.campaign_contacts.c
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t.campaign_contacts).where(
                        c.campaign_id == campaign_id, c.phone_e164 == phone_e164
                    )
                )
            ).one_or_none()
        return _contact(row) if row is not None else None

    async def due_contacts(
        self, campaign_id: int, now: datetime, *, limit: int
    ) -> builtins.list[CampaignContact]:
        """Contacts waiting for a first or a next attempt that is due; oldest first."""
        c = t.campaign_contacts.c
        stmt = (
            select(t.campaign_contacts)
            .where(
                c.campaign_id == campaign_id,
                c.status.in_((ContactStatus.PENDING.value, ContactStatus.RETRY.value)),
                or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now),
            )
            .order_by(c.next_attempt_at.is_not(None), c.next_attempt_at, c.id)
            .limit(limit)
        )
        async with self.engine.connect() as conn:
            return [_contact(r) for r in (await conn.execute(stmt)).all()]

    async def claim_contact(self, contact_id: int, *, by: str) -> bool:
        """Mark a waiting contact as being dialed; False when someone else got there first
        (another instance's dialer, another agent's preview)."""
        c = t.campaign_contacts.c
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(c.extra).where(c.id == contact_id))).one_or_none()
            if row is None:
                return False
            extra = {**(row.extra or {}), "claimed_by": by}
            result = await conn.execute(
                update(t.campaign_contacts)
                .where(
                    c.id == contact_id,
                    c.status.in_((ContactStatus.PENDING.value, ContactStatus.RETRY.value)),
                )
                .values(status=ContactStatus.DIALING.value, extra=extra)
            )
        return bool(result.rowcount)

    async def release_dialing(self, campaign_id: int, *, by: str | None = None) -> int:
        """Contacts left "dialing" by a crash or a restart go back to the waiting list."""
        c = t.campaign_contacts.c
        stmt = update(t.campaign_contacts).where(
            c.campaign_id == campaign_id, c.status == ContactStatus.DIALING.value
        )
        async with self.engine.begin() as conn:
            if by is not None:
                ids = [
                    r.id
                    for r in (
                        await conn.execute(
                            select(c.id, c.extra).where(
                                c.campaign_id == campaign_id,
                                c.status == ContactStatus.DIALING.value,
                            )
                        )
                    ).all()
                    if (r.extra or {}).get("claimed_by") == by
                ]
                if not ids:
                    return 0
                stmt = stmt.where(c.id.in_(ids))
            result = await conn.execute(stmt.values(status=ContactStatus.RETRY.value))
        return int(result.rowcount or 0)


__all__ = [
    "AuditRepo",
    "CallRepo",
    "CallbackRepo",
    "CampaignRepo",
    "CaseRepo",
    "CustomerRepo",
    "DoNotCallRepo",
    "InvalidPhoneNumber",
    "SurveyRepo",
    "UserRepo",
    "ViolationRepo",
]
