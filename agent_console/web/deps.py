"""`ConsoleDeps`: what the console needs from the rest of the product, handed in by the
wiring (a dependency bundle; the use cases themselves live in `crm_core.services`).

The console imports only `crm_core`; the PBX is reached through the
`TelephonyCommands` port and the database through the repository Protocols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_console.web.auth import Revocations
from agent_console.web.throttle import LoginLimiter
from crm_core.ports.bus import EventBus
from crm_core.ports.callbacks import CallbackPromiser
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import (
    AuditLog,
    CallbackRepository,
    CallRepository,
    CaseRepository,
    CustomerRepository,
    UserRepository,
    ViolationRepository,
)
from crm_core.ports.telephony import TelephonyCommands


class ConsoleRepositories(Protocol):
    """The slice of the CRM database the console reads and writes."""

    @property
    def users(self) -> UserRepository: ...
    @property
    def customers(self) -> CustomerRepository: ...
    @property
    def calls(self) -> CallRepository: ...
    @property
    def callbacks(self) -> CallbackRepository: ...
    @property
    def cases(self) -> CaseRepository: ...
    @property
    def violations(self) -> ViolationRepository: ...
    @property
    def audit(self) -> AuditLog: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleConfig:
    company_name: str = "示例科技"
    secret_key: str = ""
    ring_limit_seconds: float = 15.0
    callback_window_minutes: float = 30.0
    pause_reasons: tuple[str, ...] = ("break", "meal", "training", "after_call_work")
    trust_forwarded_headers: bool = False
    default_language: str = ""  # "" = browser default
    session_ttl_seconds: float = 12 * 3600.0  # one shift
    dispositions: tuple[str, ...] = (
        "resolved",
        "information",
        "complaint",
        "order",
        "technical",
        "wrong_number",
        "other",
    )
    departments: tuple[str, ...] = ("billing", "technical", "logistics", "complaints")
    dial_context: str = "outbound"  # dialplan context for click-to-dial
    # how click-to-dial hands the number to the carrier (crm_core.phones.carrier_digits)
    phone_region: str = "CN"
    carrier_number_format: str = "national"
    # origins besides the page's own host that may open /ws (e.g. the public URL behind
    # a proxy that rewrites Host), lower case, no trailing slash
    allowed_origins: tuple[str, ...] = ()
    heartbeat_seconds: float = 15.0
    ws_buffer_size: int = 500
    ws_socket_queue: int = 256
    login_max_failures: int = 5  # per account, from any address
    login_max_failures_per_address: int = 30  # per source address, any usernames
    login_window_seconds: float = 300.0


@dataclass(kw_only=True)
class ConsoleDeps:
    db: ConsoleRepositories
    bus: EventBus
    commands: TelephonyCommands
    clock: Clock
    config: ConsoleConfig
    callbacks: CallbackPromiser  # the rules' callbacks (crm_core.ports.callbacks)
    normalize_phone: Callable[[str], str] | None = None  # to E.164; None: digits as given
    # the SQL engine behind `db`: the reports' queries and the idempotency keys every
    # instance shares; None: no reports (503), idempotency keys in this process only
    engine: AsyncEngine | None = None
    extra_setup: list[Callable[[web.Application], None]] = field(default_factory=list)
    # shared across instances (Redis) when set; None: this process only
    revocations: Revocations | None = None
    login_limiter: LoginLimiter | None = None


DEPS_KEY = web.AppKey("console_deps", ConsoleDeps)
