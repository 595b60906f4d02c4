"""Users (agents, leads, admins) and teams."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from operator import eq
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm_core.db import tables as t
from crm_core.db.repos._base import Repo, as_tuple, from_row, insert_id, now, where_given
from crm_core.domain.models import Role, Team, User
from crm_core.ports.repositories import Conflict, NotFound

_USER = {"queues": as_tuple}


class UserRepo(Repo):
    async def _one(self, cond: Any) -> User | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(t.users).where(cond))).first()
        return from_row(User, row, _USER) if row else None

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
                uid = await insert_id(
                    conn,
                    t.users,
                    {
                        "username": username,
                        "display_name": display_name,
                        "role": Role(role).value,
                        "password_hash": password_hash,
                        "team_id": team_id,
                        "member_name": member_name,
                        "interface": interface,
                        "queues": list(queues),
                        "language": language,
                        "active": True,
                        "created_at": now(),
                    },
                )
        except IntegrityError as exc:
            raise Conflict(f"user {username!r} or member {member_name!r} exists already") from exc
        return await self.get(uid)

    async def _set(self, user_id: int, **values: object) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(t.users).where(t.users.c.id == user_id).values(**values))

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        await self._set(user_id, password_hash=password_hash)

    async def set_language(self, user_id: int, language: str) -> None:
        await self._set(user_id, language=language)

    async def list(
        self, *, role: Role | None = None, team_id: int | None = None
    ) -> builtins.list[User]:
        c = t.users.c
        role_value = Role(role).value if role is not None else None
        stmt = where_given(
            select(t.users).order_by(c.id), (c.role, eq, role_value), (c.team_id, eq, team_id)
        )
        async with self.engine.connect() as conn:
            return [from_row(User, r, _USER) for r in (await conn.execute(stmt)).all()]

    async def get_or_create_team(self, name: str) -> Team:
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.teams).where(t.teams.c.name == name))).first()
            if row is None:
                return Team(id=await insert_id(conn, t.teams, {"name": name}), name=name)
            return from_row(Team, row)

    async def set_team_lead(self, team_id: int, lead_user_id: int) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(t.teams).where(t.teams.c.id == team_id).values(lead_user_id=lead_user_id)
            )

    async def teams(self) -> builtins.list[Team]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.teams).order_by(t.teams.c.id))).all()
        return [from_row(Team, r) for r in rows]
