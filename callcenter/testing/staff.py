"""The staff the test stacks sign in as (the integration cluster, the console and PBX
harnesses): agents of a team, members of support and sales through
`Local/EXT@agents/n`, and the team's lead."""

from __future__ import annotations

from collections.abc import Mapping

from crm_core.domain.models import Role, User
from crm_core.ports.repositories import UserRepository


def numbered_agents(last: int, first: int = 1) -> dict[str, tuple[str, str]]:
    """agent1 … agentN: username → (extension 100N, member name "Agent 100N")."""
    return {f"agent{n}": (f"100{n}", f"Agent 100{n}") for n in range(first, last + 1)}


async def create_agents(
    users: UserRepository,
    team_id: int,
    agents: Mapping[str, tuple[str, str]],
    password_hash: str,
) -> dict[str, User]:
    """Agents (username → (extension, member name)) of the team, created in that order."""
    made: dict[str, User] = {}
    for username, (ext, member) in agents.items():
        made[username] = await users.create(
            username=username,
            display_name=member,
            role=Role.AGENT,
            password_hash=password_hash,
            team_id=team_id,
            member_name=member,
            interface=f"Local/{ext}@agents/n",
            queues=("support", "sales"),
        )
    return made


async def create_lead(
    users: UserRepository, team_id: int, password_hash: str, *, interface: str | None = None
) -> User:
    """lead1 ("Lead 1"), the team's lead; `interface`: a phone of their own."""
    lead = await users.create(
        username="lead1",
        display_name="Lead 1",
        role=Role.LEAD,
        password_hash=password_hash,
        team_id=team_id,
        interface=interface,
    )
    await users.set_team_lead(team_id, lead.id)
    return lead
