"""A console user as JSON."""

from __future__ import annotations

from typing import Any

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
