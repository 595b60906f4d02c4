"""Agent sessions: sign in to the queues, pause with a reason, resume, sign out — by the
agent, or forced on them by a lead, manager or admin. One implementation (ADR 0081).

    sessions = AgentSessions(commands=..., seats=..., audit=..., directory=..., clock=...,
                             pause_reasons=("break", "meal"))
    await sessions.change(Actor(agent), SessionAction.PAUSE, "break")
    await sessions.force(Actor(lead), "Agent 1001", SessionAction.SIGN_OUT)

The behaviour:
- a pause needs a reason: the agent picks one of `pause_reasons`; a lead may give any short
  reason and gets "supervisor" without one;
- sign-in and sign-out go queue by queue and tolerate a queue the PBX refuses, as long as
  one queue succeeds; sign-out covers the agent's configured queues and every queue the
  projection last saw them in (the PBX already answers "not there" as done);
- a lead acts on their own team only; the audit log records every attempt that passed
  validation, before the PBX is asked;
- the projection (the console's seat board) is set right after the command, and the
  agent's console hears the outcome once.

Errors are `AgentSessionError`s; the console maps each to its catalogued `error_id`.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Final

from crm_core.domain.models import AgentStatus, AuditEntry, Role, User
from crm_core.ports.agent_state import AgentDirectory, AgentStateProjection
from crm_core.ports.clock import Clock
from crm_core.ports.repositories import AuditLog
from crm_core.ports.telephony import TelephonyCommands, TelephonyError

SUPERVISOR_REASON: Final = "supervisor"  # a lead's pause without a reason
MAX_REASON_LENGTH: Final = 200
# the PBX did not answer; every other TelephonyError is the PBX saying no
UNAVAILABLE: Final = frozenset({"ami-unavailable", "ami-timeout"})


class SessionAction(enum.StrEnum):
    SIGN_IN = "sign_in"
    PAUSE = "pause"
    RESUME = "resume"
    SIGN_OUT = "sign_out"


# --------------------------------------------------------------------- errors


class AgentSessionError(Exception):
    """A state change refused; `detail` is technical English for logs and the API's
    `detail` field."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NoPhone(AgentSessionError):
    """The user has no phone interface / queue member name to sign in with."""


class BadPauseReason(AgentSessionError):
    def __init__(self, reason: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"pause reason must be one of {list(allowed)}, not {reason!r}")
        self.reason = reason
        self.allowed = allowed


class NoSuchAgent(AgentSessionError):
    def __init__(self, member: str) -> None:
        super().__init__(f"no agent {member!r}")
        self.member = member


class NotSupervisor(AgentSessionError):
    """Only leads, managers and admins force a state on someone else."""


class OtherTeam(AgentSessionError):
    """A team lead acts on their own team only."""


class PbxRefused(AgentSessionError):
    """The PBX answered no (e.g. resume while in no queue, a queue that does not exist)."""

    def __init__(self, action: SessionAction, detail: str) -> None:
        super().__init__(f"{action}: {detail}")
        self.action = action


class SignOutFailed(AgentSessionError):
    """Every queue refused the removal: the agent may still be signed in."""

    def __init__(self, refusals: list[str]) -> None:
        super().__init__("sign out failed: " + "; ".join(refusals))
        self.refusals = refusals


class PbxUnavailable(AgentSessionError):
    """The PBX did not answer; `error_id` is ami-unavailable, ami-timeout or
    pbx-unavailable (the connection itself failed)."""

    def __init__(self, error_id: str, detail: str) -> None:
        super().__init__(detail)
        self.error_id = error_id


# --------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks: the signed-in user and the address they ask from (for the audit log)."""

    user: User
    remote: str = ""


@dataclass(frozen=True, slots=True)
class SessionOutcome:
    username: str
    member: str
    action: SessionAction
    status: AgentStatus
    paused: bool
    reason: str
    # sign-in: the queues joined; sign-out: the queues left; otherwise empty
    queues: tuple[str, ...] = ()


# --------------------------------------------------------------------- the use case


class AgentSessions:
    def __init__(
        self,
        *,
        commands: TelephonyCommands,
        seats: AgentStateProjection,
        audit: AuditLog,
        directory: AgentDirectory,
        clock: Clock,
        pause_reasons: tuple[str, ...],
    ) -> None:
        self._commands = commands
        self._seats = seats
        self._audit = audit
        self._directory = directory
        self._clock = clock
        self._pause_reasons = pause_reasons

    async def change(self, actor: Actor, action: SessionAction, reason: str = "") -> SessionOutcome:
        """The signed-in agent changes their own state."""
        user = actor.user
        if not user.interface or not user.member_name:
            raise NoPhone("this login has no phone interface to sign in with")
        if action is SessionAction.PAUSE and reason not in self._pause_reasons:
            raise BadPauseReason(reason, self._pause_reasons)
        reason = reason if action is SessionAction.PAUSE else ""
        await self._record(actor, f"agent.{action}", f"user:{user.username}", reason)
        return await self._apply(user, action, reason)

    async def force(
        self, actor: Actor, member: str, action: SessionAction, reason: str = ""
    ) -> SessionOutcome:
        """A lead (own team), manager or admin changes the state of agent `member`."""
        lead = actor.user
        if lead.role not in (Role.LEAD, Role.MANAGER, Role.ADMIN):
            raise NotSupervisor("only leads, managers and admins act on other agents")
        target = await self._directory.get_by_member_name(member)
        if target is None or not target.interface or not target.member_name:
            raise NoSuchAgent(member)
        if lead.role is Role.LEAD and target.team_id != lead.team_id:
            raise OtherTeam("a team lead acts on their own team only")
        reason = (reason or SUPERVISOR_REASON) if action is SessionAction.PAUSE else ""
        if len(reason) > MAX_REASON_LENGTH:
            raise BadPauseReason(reason[:20] + "…", (f"up to {MAX_REASON_LENGTH} characters",))
        lead_action = "logout" if action is SessionAction.SIGN_OUT else str(action)
        await self._record(actor, f"lead.{lead_action}", f"agent:{member}", reason)
        return await self._apply(target, action, reason)

    # ----------------------------------------------------------------- the one path

    async def _apply(self, user: User, action: SessionAction, reason: str) -> SessionOutcome:
        assert user.interface is not None
        assert user.member_name is not None
        interface, seats = user.interface, self._seats
        with seats.command(user.username):
            if action is SessionAction.SIGN_IN:
                joined = await self._each_queue(action, sorted(user.queues), user)
                seats.set_state(user.username, status=AgentStatus.AVAILABLE, queues=set(joined))
                return self._outcome(user, action, AgentStatus.AVAILABLE, queues=joined)
            if action is SessionAction.PAUSE:
                await self._pbx(action, self._commands.queue_pause(interface, True, reason))
                seats.set_state(
                    user.username, status=AgentStatus.PAUSED, paused=True, reason=reason
                )
                return self._outcome(user, action, AgentStatus.PAUSED, reason=reason)
            if action is SessionAction.RESUME:
                await self._pbx(action, self._commands.queue_pause(interface, False))
                seats.set_state(user.username, status=AgentStatus.AVAILABLE)
                return self._outcome(user, action, AgentStatus.AVAILABLE)
            queues = sorted(set(user.queues) | seats.queues_of(user.username))
            left = await self._each_queue(action, queues, user)
            seats.set_state(user.username, status=AgentStatus.LOGGED_OUT, queues=set())
            return self._outcome(user, action, AgentStatus.LOGGED_OUT, queues=left)

    async def _each_queue(self, action: SessionAction, queues: list[str], user: User) -> list[str]:
        """Join or leave each queue; a queue the PBX refuses is skipped, unless all are."""
        assert user.interface is not None
        assert user.member_name is not None
        done: list[str] = []
        refusals: list[str] = []
        for queue in queues:
            if action is SessionAction.SIGN_IN:
                step = self._commands.queue_add(queue, user.interface, user.member_name)
            else:
                step = self._commands.queue_remove(queue, user.interface)
            try:
                await self._pbx(action, step)
            except PbxRefused as exc:
                refusals.append(f"{queue}: {exc.detail}")
                continue
            done.append(queue)
        if refusals and not done:
            if action is SessionAction.SIGN_OUT:
                raise SignOutFailed(refusals)
            raise PbxRefused(action, "; ".join(refusals))
        return done

    async def _pbx(self, action: SessionAction, step: Awaitable[None]) -> None:
        try:
            await step
        except TelephonyError as exc:
            if exc.error_id in UNAVAILABLE:
                raise PbxUnavailable(exc.error_id, f"{action}: {exc.message}") from exc
            raise PbxRefused(action, exc.message) from exc
        except (ConnectionError, TimeoutError) as exc:
            raise PbxUnavailable(
                "pbx-unavailable", f"{action}: the PBX is not reachable ({exc})"
            ) from exc

    def _outcome(
        self,
        user: User,
        action: SessionAction,
        status: AgentStatus,
        *,
        reason: str = "",
        queues: list[str] | None = None,
    ) -> SessionOutcome:
        return SessionOutcome(
            username=user.username,
            member=user.member_name or "",
            action=action,
            status=status,
            paused=status is AgentStatus.PAUSED,
            reason=reason,
            queues=tuple(queues or ()),
        )

    async def _record(self, actor: Actor, action: str, subject: str, detail: str) -> None:
        await self._audit.record(
            AuditEntry(
                id=None,
                at=self._clock.now(),
                actor_user_id=actor.user.id,
                actor=actor.user.username,
                action=action,
                subject=subject,
                remote=actor.remote,
                detail=detail,
            )
        )
