"""Domain objects as the console's JSON (the REST API and WebSocket share these)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_core.domain.models import Callback, CallRecord, Case, Customer, User, Violation


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


def callback_json(c: Callback) -> dict[str, Any]:
    return {
        "id": c.id,
        "phone": c.phone_e164,
        "reason": c.reason.value,
        "status": c.status.value,
        "created_at": iso(c.created_at),
        "due_at": iso(c.due_at),
        "customer_id": c.customer_id,
        "owner_user_id": c.owner_user_id,
        "queue": c.queue,
        "call_id": c.call_id,
        "question": c.question,
        "outcome": c.outcome,
        "closed_at": iso(c.closed_at),
        "next_attempt_at": iso(c.next_attempt_at),
        "attempts": [
            {"at": iso(a.at), "result": a.result.value, "note": a.note, "by_user_id": a.by_user_id}
            for a in c.attempts
        ],
    }


def call_json(r: CallRecord) -> dict[str, Any]:
    """The CONTRACTS.md call object plus the CRM's own fields."""
    return {
        **r.to_contract(),
        "customer_id": r.customer_id,
        "transferred_to": r.transferred_to,
        "recording": r.recording,
        "disposition": r.disposition,
        "wrapup_notes": r.wrapup_notes,
        "campaign_id": r.campaign_id,
        "agent_interface": r.agent_interface,
        # where the caller went in the IVR (CC_IVR_STEP), the survey included
        "ivr_path": [
            {"flow": s.flow, "step": s.step, "input": s.input, "at": iso(s.at)} for s in r.ivr_path
        ],
    }


def violation_json(v: Violation) -> dict[str, Any]:
    return {
        "id": v.id,
        "kind": v.kind.value,
        "at": iso(v.at),
        "agent": v.agent,
        "call_id": v.call_id,
        "ring_seconds": v.ring_seconds,
        "queue": v.queue,
        "detail": v.detail,
    }


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
