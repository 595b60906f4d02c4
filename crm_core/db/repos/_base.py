"""What every repository shares: the engines, the clock, and the one mapping between a
table row and a domain dataclass (by field name), in both directions."""

from __future__ import annotations

import enum
import functools
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm_core.ports.repositories import NotFound

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# rows per bulk statement: 2,000 x 12 columns stays under the 32,766 bind parameters
# SQLite and PostgreSQL (asyncpg) allow, and keeps each stretch of work on the loop short
BULK_ROWS = 2000

T = TypeVar("T", bound="DataclassInstance")
C = TypeVar("C", bound="DataclassInstance")
Convert = Callable[[Any], Any]
Load = Callable[[AsyncConnection, Sequence[Row[Any]]], Awaitable[list[T]]]


def now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def as_tuple(value: Any) -> tuple[Any, ...]:
    """A JSON list column (NULL reads as empty) as the dataclass's tuple."""
    return tuple(value or ())


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON object column (NULL reads as empty) as a fresh dict."""
    return dict(value or {})


@functools.cache
def _enum_fields(cls: type[Any]) -> dict[str, type[enum.Enum]]:
    """The fields of the dataclass `cls` typed with an enum, and that enum."""
    return {
        name: hint
        for name, hint in typing.get_type_hints(cls).items()
        if isinstance(hint, type) and issubclass(hint, enum.Enum)
    }


def from_row(
    cls: type[T], row: Any, convert: Mapping[str, Convert] | None = None, **given: Any
) -> T:
    """The dataclass `cls` from a row (a SQLAlchemy Row, a RowMapping or an asyncpg
    Record): each field from the column of its name, through `convert[name]` when given
    (JSON), else through its enum when the field is typed with one; fields in `given` are
    taken as they are (children loaded apart)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    conv: Mapping[str, Convert] = {**_enum_fields(cls), **convert} if convert else _enum_fields(cls)
    values: dict[str, Any] = {}
    for name in _stored_fields(cls, ()):
        if name in given:
            values[name] = given[name]
            continue
        try:
            value = mapping[name]
        except KeyError:  # no such column: the field keeps its default
            continue
        values[name] = conv[name](value) if name in conv else value
    return cls(**values)


_PLAIN = frozenset({str, int, float, bool, type(None), datetime})


def column_value(value: Any) -> Any:
    """A domain value as a column stores it: enums by value, tuples as JSON lists, dicts
    copied."""
    if type(value) in _PLAIN:  # the common case, checked first: bulk inserts call this a lot
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def column_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: column_value(v) for k, v in values.items()}


@functools.cache
def _stored_fields(cls: type[Any], exclude: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in exclude)


def to_values(obj: DataclassInstance, *, exclude: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """A dataclass's fields as column values; `exclude` leaves out what the table does not
    store as it is."""
    return {name: column_value(getattr(obj, name)) for name in _stored_fields(type(obj), exclude)}


Compare = Callable[[Any, Any], Any]


def where_given(
    stmt: Select[Any], *conditions: tuple[ColumnElement[Any], Compare, object]
) -> Select[Any]:
    """`stmt` narrowed by each (column, comparison, value) whose value was given (is not
    None), e.g. `(c.at, operator.ge, since)`, `(c.agent, ColumnOperators.in_, agents)`."""
    return stmt.where(
        *[compare(col, value) for col, compare, value in conditions if value is not None]
    )


async def insert_id(conn: AsyncConnection, table: Table, values: Mapping[str, Any]) -> int:
    """INSERT one row; its new id."""
    new_id: int = (
        await conn.execute(insert(table).values(**values).returning(table.c.id))
    ).scalar_one()
    return new_id


class Repo:
    def __init__(self, engine: AsyncEngine, region: str = "CN") -> None:
        self.engine = engine
        self.region = region
        # single-statement reads on PostgreSQL skip BEGIN/ROLLBACK: one round trip, not three
        self.read_engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else engine
        )

    async def rows(self, stmt: Select[Any]) -> Sequence[Row[Any]]:
        """All rows `stmt` selects, in a connection of their own."""
        async with self.engine.connect() as conn:
            rows: Sequence[Row[Any]] = (await conn.execute(stmt)).all()
        return rows

    async def loaded(self, stmt: Select[Any], load: Load[T]) -> list[T]:
        """The aggregates `stmt` selects, their child rows loaded by `load` in the same
        connection."""
        async with self.engine.connect() as conn:
            return await load(conn, (await conn.execute(stmt)).all())

    async def loaded_one(self, stmt: Select[Any], load: Load[T], missing: str) -> T:
        found = await self.loaded(stmt, load)
        if not found:
            raise NotFound(missing)
        return found[0]


async def update_one(
    conn: AsyncConnection,
    table: Table,
    key: object,
    values: Mapping[str, Any],
    what: str,
    *,
    by: str = "id",
) -> None:
    """UPDATE the row whose `by` column is `key` with `values` (domain values: enums by
    value); NotFound("no <what> <key>") when there is none."""
    result = await conn.execute(
        update(table).where(table.c[by] == key).values(**column_values(values))
    )
    if result.rowcount == 0:
        raise NotFound(f"no {what} {key}")


async def load_children(
    conn: AsyncConnection,
    table: Table,
    parent: str,
    parent_ids: Sequence[int],
    cls: type[T],
    *,
    order_by: Sequence[ColumnElement[Any]],
) -> dict[int, list[T]]:
    """The child rows of `parent_ids` (e.g. a call's offers) as `cls`, grouped by parent."""
    grouped: dict[int, list[T]] = {}
    stmt = select(table).where(table.c[parent].in_(parent_ids)).order_by(*order_by)
    for row in (await conn.execute(stmt)).all():
        grouped.setdefault(row._mapping[parent], []).append(from_row(cls, row))
    return grouped


def aggregate(
    cls: type[T],
    field: str,
    children: tuple[Table, str, Sequence[ColumnElement[Any]]],
    child: type[C],
    convert: Mapping[str, Convert] | None = None,
) -> Load[T]:
    """A loader of `cls` rows whose tuple `field` holds `child` rows of the table
    `children` = (table, parent id column, order), fetched in one query for all rows."""
    table, parent, order_by = children

    async def load(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> list[T]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        grouped = await load_children(conn, table, parent, ids, child, order_by=order_by)
        return [from_row(cls, r, convert, **{field: tuple(grouped.get(r.id, ()))}) for r in rows]

    return load
