"""Domain objects as JSON that several features share (the REST API and WebSocket)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_core.domain.models import Callback, Case, Customer
from crm_core.phones import display_phone
from crm_core.services.callbacks import question_problem


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def customer_json(c: Customer) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "company": c.company,
        "title": c.title,
        "vip_level": c.vip_level,
        "notes": c.notes,
        "language": c.language,
        "phones": [{"e164": p.e164, "raw": p.raw, "label": p.label} for p in c.phones],
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
    }


def case_json(c: Case) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind.value,
        "status": c.status.value,
        "subject": c.subject,
        "created_at": iso(c.created_at),
        "customer_id": c.customer_id,
        "owner_user_id": c.owner_user_id,
        "department": c.department,
        "call_id": c.call_id,
        "promised_reply_at": iso(c.promised_reply_at),
    }


def _question_code(question: str) -> dict[str, Any]:
    found = question_problem(question)
    if found is None:
        return {"question_code": None, "question_params": None}
    return {"question_code": found[0], "question_params": found[1]}


def callback_json(c: Callback, region: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "phone": c.phone_e164,
        # what the agent reads (13800138000); `phone` is what is dialled and stored
        "phone_display": display_phone(c.phone_e164, region),
        "reason": c.reason.value,
        "status": c.status.value,
        "created_at": iso(c.created_at),
        "due_at": iso(c.due_at),
        "customer_id": c.customer_id,
        "owner_user_id": c.owner_user_id,
        "queue": c.queue,
        "call_id": c.call_id,
        "question": c.question,
        # a question the rules wrote, as a message code the console renders in the user's
        # language (None: the agent's own words)
        **_question_code(c.question),
        "outcome": c.outcome,
        "closed_at": iso(c.closed_at),
        "next_attempt_at": iso(c.next_attempt_at),
        "attempts": [
            {"at": iso(a.at), "result": a.result.value, "note": a.note, "by_user_id": a.by_user_id}
            for a in c.attempts
        ],
    }
