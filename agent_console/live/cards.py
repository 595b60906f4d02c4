"""Customer cards: the customer, recent calls, open cases and callbacks, read from the
CRM for a screen pop (ADR 0019) and the card API; the read is audited."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from agent_console.web.deps import ConsoleDeps
from agent_console.web.serializers import callback_json, case_json, customer_json, iso
from crm_core.domain.models import AuditEntry, CallbackStatus, Customer, Role, User
from crm_core.ports.repositories import CallFilter

# (campaign id, customer's number) → what the agent's card shows of the campaign
CampaignCard = Callable[[int, str], Awaitable[dict[str, Any] | None]]


class CustomerCards:
    def __init__(self, deps: ConsoleDeps) -> None:
        self._deps = deps
        self._customers: OrderedDict[str, Customer | None] = OrderedDict()  # phone -> customer
        # set by the campaign routes: what a campaign call's card shows (name, script,
        # dispositions, the contact's attempts)
        self.campaign_card: CampaignCard | None = None

    def known(self, phone: str) -> Customer | None:
        """The customer last seen with this number, from memory (no database read)."""
        return self._customers.get(phone)

    def remember_customer(self, phone: str, customer: Customer | None) -> None:
        self._customers[phone] = customer
        self._customers.move_to_end(phone)
        while len(self._customers) > 5000:
            self._customers.popitem(last=False)

    async def add_campaign(self, payload: dict[str, Any], campaign_id: int, phone: str) -> None:
        """A campaign call's card also shows the campaign (set by the campaign routes)."""
        if self.campaign_card is not None:
            payload["campaign"] = await self.campaign_card(campaign_id, phone)

    async def customer_card(
        self,
        user: User,
        *,
        phone: str | None = None,
        customer_id: int | None = None,
        call_id: str | None = None,
    ) -> dict[str, Any]:
        """Customer, last calls, open cases, open callbacks; the read is audited."""
        db = self._deps.db
        customer: Customer | None = None
        if customer_id is not None:
            customer = await db.customers.get(customer_id)
        elif phone:
            customer = await db.customers.find_by_phone(phone)
        if phone:
            self.remember_customer(phone, customer)
        calls: list[dict[str, Any]] = []
        cases: list[dict[str, Any]] = []
        callbacks: list[dict[str, Any]] = []
        if customer is not None:
            recent = await db.calls.list(CallFilter(customer_id=customer.id, limit=6))
            calls = [
                {
                    "call_id": r.call_id,
                    "started_at": iso(r.started_at),
                    "agent": r.agent,
                    "outcome": r.outcome.value,
                    "disposition": r.disposition,
                    # wrap-up notes are the handling agent's own; leads and managers
                    # read every note, an agent only the notes of their own calls
                    "notes": r.wrapup_notes
                    if user.role is not Role.AGENT or r.agent == user.member_name
                    else None,
                }
                for r in recent
                if r.call_id != call_id
            ][:5]
            cases = [
                case_json(c) for c in await db.cases.list(customer_id=customer.id, open_only=True)
            ]
            await db.audit.record(
                AuditEntry(
                    id=None,
                    at=self._deps.clock.now(),
                    actor_user_id=user.id,
                    actor=user.username,
                    action="customer.read",
                    subject=f"customer:{customer.id}",
                    detail=f"screen pop for call {call_id}" if call_id else "customer card",
                )
            )
        phones = {p.e164 for p in customer.phones} if customer else set()
        if phone:
            phones.add(self.normalize(phone))
        for e164 in phones:
            cb = await db.callbacks.open_for_phone(e164)
            if cb is not None and cb.status in (CallbackStatus.OPEN, CallbackStatus.OVERDUE):
                callbacks.append(callback_json(cb))
        return {
            "customer": customer_json(customer) if customer else None,
            "known": customer is not None,
            "recent_calls": calls,
            "open_cases": cases,
            "open_callbacks": callbacks,
        }

    def normalize(self, phone: str) -> str:
        if self._deps.normalize_phone is None:
            return phone
        try:
            return self._deps.normalize_phone(phone)
        except ValueError:
            return phone
