"""A console user and an agent's state as JSON (and as declared reply models)."""

from __future__ import annotations

from typing import Any

from agent_console.web.models import Reply
from crm_core.domain.models import User


def user_json(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "role": u.role.value,
        "team_id": u.team_id,
        "member_name": u.member_name,
        "interface": u.interface,
        "queues": list(u.queues),
        "language": u.language,
    }


class UserReply(Reply):
    id: int
    username: str
    display_name: str
    role: str
    team_id: int | None
    member_name: str | None
    interface: str | None
    queues: list[str]
    language: str

    @classmethod
    def of(cls, user: User) -> UserReply:
        return cls.model_validate(user_json(user))


class AgentStateReply(Reply):
    """The agent's state as their console shows it (the `agent_state` message)."""

    status: str
    paused: bool
    reason: str
    queues: list[str]
    since: str | None = None
