"""The demo's seed data: the logins of CONTRACTS.md and a few known callers.

Only `callcenter demo` calls these, on its own database; `serve` never does (its
users come from `callcenter user add`). Both are idempotent: a second start of
the demo reuses what the first one created.
"""

from __future__ import annotations

from crm_core.db import Database
from crm_core.domain.models import Role
from crm_core.passwords import hash_password

DEMO_PASSWORD = "demo"  # noqa: S105 - the documented demo login, demo database only
DEMO_QUEUES = ("support", "sales")
DEMO_AGENTS = 6

DEMO_CUSTOMERS = (
    # number, name, company, title, VIP level, notes (numbers the demo traffic calls from)
    ("13800138000", "张三", "北京星河贸易有限公司", "采购经理", 2, "偏好下午来电"),
    ("13912345678", "李娜", "上海云帆电子", "行政主管", 0, ""),
    ("18612340000", "刘洋", "", "", 0, "上次咨询退货流程"),
    ("13722223333", "杨帆", "杭州远景物流", "运营总监", 3, "大客户，合同季度续签"),
    ("15899990000", "Emily Chen", "Pacific Trading Ltd", "Buyer", 1, "Prefers English"),
    ("02166668888", "上海华东物流有限公司", "上海华东物流有限公司", "", 2, "企业总机"),
)


def demo_interface(n: int) -> str:
    """Agent n's phone in the demo (and in the demo simulator's queues)."""
    return f"Local/100{n}@agents/n"


def demo_member(n: int) -> str:
    return f"Agent 100{n}"


async def create_demo_users(db: Database) -> None:
    """The demo logins of CONTRACTS.md (demo database only)."""
    users = db.users
    if await users.get_by_username("agent1") is not None:
        return
    hashed = hash_password(DEMO_PASSWORD)
    team = await users.get_or_create_team("Team A")
    for n in range(1, DEMO_AGENTS + 1):
        await users.create(
            username=f"agent{n}",
            display_name=demo_member(n),
            role=Role.AGENT,
            password_hash=hashed,
            team_id=team.id,
            member_name=demo_member(n),
            interface=demo_interface(n),
            queues=DEMO_QUEUES,
        )
    lead = await users.create(
        username="lead1",
        display_name="Team Lead 1",
        role=Role.LEAD,
        password_hash=hashed,
        team_id=team.id,
        # the lead's own phone, so listen / whisper / barge can be tried in the demo
        interface="Local/9001@phone-sim/n",
    )
    await users.set_team_lead(team.id, lead.id)
    await users.create(
        username="manager1", display_name="Manager 1", role=Role.MANAGER, password_hash=hashed
    )
    await users.create(
        username="admin", display_name="Administrator", role=Role.ADMIN, password_hash=hashed
    )


async def create_demo_customers(db: Database) -> None:
    """A few known callers so the demo's pops show customer cards (demo database only)."""
    if await db.customers.find_by_phone(DEMO_CUSTOMERS[0][0]) is not None:
        return
    for number, name, company, title, vip, notes in DEMO_CUSTOMERS:
        await db.customers.create(
            name=name, phones=[number], company=company, title=title, vip_level=vip, notes=notes
        )
