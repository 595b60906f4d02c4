"""A rule violation as JSON."""

from __future__ import annotations

from typing import Any

from agent_console.web.serializers import iso
from crm_core.domain.models import Violation


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
