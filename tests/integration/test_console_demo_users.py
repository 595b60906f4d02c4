"""The demo logins of CONTRACTS.md, created by the wiring on the demo database only."""

from __future__ import annotations

from pathlib import Path

from callcenter.demo_seed import create_demo_users
from crm_core.db import open_database
from crm_core.domain.models import Role
from crm_core.passwords import verify_password


async def test_demo_users_are_created_once_with_the_contract_shape(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        await create_demo_users(db)
        await create_demo_users(db)  # a second start reuses them
        agents = await db.users.list(role=Role.AGENT)
        assert [a.username for a in agents] == [f"agent{n}" for n in range(1, 7)]
        agent3 = await db.users.get_by_username("agent3")
        assert agent3 is not None
        assert agent3.member_name == "Agent 1003"
        assert agent3.interface == "Local/1003@agents/n"
        assert set(agent3.queues) == {"support", "sales"}
        lead = await db.users.get_by_username("lead1")
        assert lead is not None
        assert lead.role is Role.LEAD
        assert lead.interface == "Local/9001@phone-sim/n"  # listen-in can be tried
        team = next(t for t in await db.users.teams() if t.id == agent3.team_id)
        assert team.lead_user_id == lead.id
        for name in ("agent1", "lead1", "manager1", "admin"):
            stored = await db.users.password_hash(name)
            assert stored is not None
            assert verify_password(stored, "demo")
    finally:
        await db.close()


def test_two_demos_can_run_side_by_side_on_their_own_ports(tmp_path: Path) -> None:
    from callcenter.cli import build_parser
    from callcenter.commands.demo import demo_settings
    from callcenter.settings import load_settings

    args = build_parser().parse_args(["demo", "--port", "8090", "--agi-port", "0"])
    settings = demo_settings(load_settings(environ={}), tmp_path / "d.db", agi_port=args.agi_port)
    assert args.port == 8090
    assert settings.agi_port == 0  # any free port: the banner prints the one bound
    default = demo_settings(load_settings(environ={}), tmp_path / "d.db")
    assert default.agi_port == 4573
