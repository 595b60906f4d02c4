"""A call record as the console's JSON."""

from __future__ import annotations

from typing import Any

from agent_console.web.serializers import iso
from crm_core.domain.models import CallRecord


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
