"""A campaign's settings: the request fields, their schema and their checks."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from agent_console.web.errors import ApiError
from agent_console.web.openapi import BOOL, ID, TEXT, TIME, json_object, one_of, text, whole
from crm_core.domain.models import CampaignKind, DialMode

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


_CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


_INTS = {
    "max_attempts": (1, 20),
    "retry_busy_minutes": (1, 7 * 24 * 60),
    "retry_no_answer_minutes": (1, 7 * 24 * 60),
    "retry_failed_minutes": (1, 7 * 24 * 60),
}


CAMPAIGN_FIELDS: dict[str, dict[str, Any]] = {
    "name": text(200, 1),
    "script": text(10_000),
    "caller_id": text(60),
    "queue": {**text(80, 1), "nullable": True},
    "mode": one_of(*(m.value for m in DialMode)),
    "kind": one_of(*(k.value for k in CampaignKind)),
    "calling_hours_start": {**TEXT, "pattern": _HHMM.pattern},
    "calling_hours_end": {**TEXT, "pattern": _HHMM.pattern},
    "timezone": text(60),
    **{name: whole(low, high) for name, (low, high) in _INTS.items()},
    "dispositions": {
        "type": "array",
        "items": {**TEXT, "pattern": _CODE.pattern},
        "minItems": 1,
        "maxItems": 30,
    },
    "amd_enabled": BOOL,
    "team_id": {**ID, "nullable": True},
}


FOLLOWUPS_BODY = json_object(
    "queue", queue=text(80, 1), start=TIME, end=TIME, name=TEXT, script=TEXT
)


def campaign_settings(body: dict[str, Any], *, partial: bool) -> dict[str, object]:
    """Validated campaign fields from a request body; the error names the field."""
    out: dict[str, object] = {}

    def bad(field: str, expected: str) -> ApiError:
        return ApiError(400, "bad-campaign", f"{field}: expected {expected}")

    if "name" in body or not partial:
        name = str(body.get("name") or "").strip()
        if not 1 <= len(name) <= 200:
            raise bad("name", "a name of 1–200 characters")
        out["name"] = name
    for field, limit in (("script", 10_000), ("caller_id", 60)):
        if field in body:
            value = body[field]
            if not isinstance(value, str) or len(value) > limit:
                raise bad(field, f"text of at most {limit} characters")
            out[field] = value
    if "queue" in body:
        queue = body["queue"]
        if queue is not None and (not isinstance(queue, str) or not 0 < len(queue) <= 80):
            raise bad("queue", "a queue name")
        out["queue"] = queue or None
    for field, enum_type in (("mode", DialMode), ("kind", CampaignKind)):
        if field in body:
            try:
                out[field] = enum_type(body[field])
            except ValueError as exc:
                raise bad(field, " or ".join(m.value for m in enum_type)) from exc
    for field in ("calling_hours_start", "calling_hours_end"):
        if field in body:
            if not isinstance(body[field], str) or not _HHMM.match(body[field]):
                raise bad(field, "a time HH:MM")
            out[field] = body[field]
    start = out.get("calling_hours_start")
    end = out.get("calling_hours_end")
    if isinstance(start, str) and isinstance(end, str) and start >= end:
        raise bad("calling_hours_end", "a time after calling_hours_start")
    if "timezone" in body:
        try:
            if not isinstance(body["timezone"], str) or len(body["timezone"]) > 60:
                raise ValueError(body["timezone"])
            zoneinfo.ZoneInfo(body["timezone"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise bad("timezone", "an IANA time zone such as Asia/Shanghai") from exc
        out["timezone"] = str(body["timezone"])
    for field, (low, high) in _INTS.items():
        if field in body:
            value = body[field]
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise bad(field, f"a whole number from {low} to {high}")
            out[field] = value
    if "dispositions" in body:
        codes = body["dispositions"]
        if (
            not isinstance(codes, list)
            or not 1 <= len(codes) <= 30
            or not all(isinstance(c, str) and _CODE.match(c) for c in codes)
        ):
            raise bad("dispositions", "1–30 codes of lower-case letters, digits and _")
        out["dispositions"] = tuple(dict.fromkeys(codes))
    if "amd_enabled" in body:
        if not isinstance(body["amd_enabled"], bool):
            raise bad("amd_enabled", "true or false")
        out["amd_enabled"] = body["amd_enabled"]
    if "team_id" in body:
        team = body["team_id"]
        if team is not None and (not isinstance(team, int) or isinstance(team, bool)):
            raise bad("team_id", "a team id")
        out["team_id"] = team
    return out
