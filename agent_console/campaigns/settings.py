"""A campaign's settings as request models: the fields, their limits and their checks.

Every refusal of a setting answers `bad-campaign` (as before the models), the field named
in the message's parameters."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from agent_console.web.edge import MAX_YEAR, MIN_YEAR
from agent_console.web.error_catalogue import Problem, ProblemError
from agent_console.web.models import Body, Id, Text, refuse_as
from crm_core.domain.models import CampaignKind, DialMode

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
_CODE = r"^[a-z][a-z0-9_]{0,39}$"
_WEEK_MINUTES = 7 * 24 * 60
# a new campaign's disposition codes (crm_core.domain.models.Campaign)
DISPOSITIONS = (
    "sale",
    "interested",
    "not_interested",
    "call_back_later",
    "wrong_number",
    "do_not_call",
)

BAD = refuse_as("bad-campaign")


def _name(value: str) -> str:
    name = value.strip()
    if not 1 <= len(name) <= 200:
        raise PydanticCustomError("bad-campaign", "expected a name of 1–200 characters")
    return name


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise PydanticCustomError(
            "bad-campaign", "expected an IANA time zone such as Asia/Shanghai"
        ) from exc
    return value


CampaignName = Annotated[Text, Field(min_length=1, max_length=200), AfterValidator(_name), BAD]
QueueName = Annotated[Text, Field(min_length=1, max_length=80)]
Hhmm = Annotated[str, Field(pattern=_HHMM), BAD]
RetryMinutes = Annotated[int, Field(ge=1, le=_WEEK_MINUTES), BAD]
DispositionCode = Annotated[str, Field(pattern=_CODE)]


class CampaignChange(Body):
    """The settings a PATCH may change; a field left out keeps its value (the defaults
    are a new campaign's). Calling hours in order: `hours_in_order`, once the stored
    settings are known."""

    name: CampaignName = "campaign"
    script: Annotated[Text, Field(max_length=10_000), BAD] = ""
    caller_id: Annotated[Text, Field(max_length=60), BAD] = ""
    queue: Annotated[QueueName | None, BAD] = None
    mode: Annotated[DialMode, BAD] = DialMode.PROGRESSIVE
    kind: Annotated[CampaignKind, BAD] = CampaignKind.SALES
    calling_hours_start: Hhmm = "09:00"
    calling_hours_end: Hhmm = "21:00"
    timezone: Annotated[str, Field(max_length=60), AfterValidator(_zone), BAD] = "Asia/Shanghai"
    max_attempts: Annotated[int, Field(ge=1, le=20), BAD] = 3
    retry_busy_minutes: RetryMinutes = 10
    retry_no_answer_minutes: RetryMinutes = 60
    retry_failed_minutes: RetryMinutes = 30
    dispositions: Annotated[list[DispositionCode], Field(min_length=1, max_length=30), BAD] = Field(
        default_factory=lambda: list(DISPOSITIONS)
    )
    amd_enabled: Annotated[bool, BAD] = False
    team_id: Annotated[Id | None, BAD] = None

    def hours_in_order(self, start: str, end: str) -> None:
        """Refuse calling hours that end before they start (`bad-campaign`)."""
        if start >= end:
            raise ProblemError(
                "bad-campaign",
                Problem("validation.invalid", {"field": "calling_hours_end"}),
                detail="calling_hours_end: expected a time after calling_hours_start",
            )

    def fields(self) -> dict[str, object]:
        """The settings given, as `CampaignRepository.update` takes them."""
        out: dict[str, object] = {}
        for name in self.model_fields_set:
            value: object = getattr(self, name)
            if name == "dispositions":
                value = tuple(dict.fromkeys(self.dispositions))
            out[name] = value
        return out


class NewCampaign(CampaignChange):
    """A new campaign (a draft): a name, and any other setting."""

    # required; missing, it is refused as the field's (`bad-campaign`, naming it)
    model_config = ConfigDict(json_schema_extra={"required": ["name"]})

    name: Annotated[CampaignName, Field(validate_default=True)] = ""


def moment(value: str | None) -> datetime | None:
    """An ISO 8601 time with its UTC offset, 1970–2100; "" or None: None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PydanticCustomError("bad-parameter", "expected an ISO 8601 time") from exc
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:  # year 1 at +14:00 overflows on conversion
        raise PydanticCustomError("bad-date", f"a time from {MIN_YEAR} to {MAX_YEAR}")
    if parsed.tzinfo is None:
        raise PydanticCustomError("bad-parameter", "expected a time with its UTC offset")
    return parsed


def _moment(value: str | None) -> str | None:
    moment(value)
    return value


# a time with its UTC offset ("" or null: the default), refused as `bad-parameter` as
# before the models; text in the model because `refuse_as` on a datetime would read
# JSON text as Python input, which strict mode refuses
def _as_time_refusal(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """Any refusal of a time is `bad-parameter`, but a year out of range stays `bad-date`
    (as the API answered before the models)."""
    try:
        return handler(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        error_id = "bad-date" if first["type"] == "bad-date" else "bad-parameter"
        raise PydanticCustomError(error_id, "{detail}", {"detail": first["msg"]}) from exc


When = Annotated[
    str | None,
    Field(max_length=64, json_schema_extra={"format": "date-time"}),
    AfterValidator(_moment),
    WrapValidator(_as_time_refusal),
]


class FollowupsBody(Body):
    """A follow-up (回访) campaign of the customers due a visit between `start` (default
    now) and `end` (default 30 days later)."""

    # required; missing, it is refused as the field's (`bad-campaign`, naming it)
    model_config = ConfigDict(json_schema_extra={"required": ["queue"]})

    queue: Annotated[QueueName, BAD, Field(validate_default=True)] = ""
    start: When = None
    end: When = None
    name: Annotated[Text, Field(max_length=1000)] = ""
    script: Annotated[Text, Field(max_length=100_000)] = ""
