"""The request and reply models of declared operations and the constrained field
types they are written with (ADR 0076): ids within int64, text without control
characters, phones, report days, times with their offset. A refusal names its own
`error_id` where the catalogue has one (`refuse_as`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from agent_console.web import error_catalogue
from agent_console.web.edge import (
    INT64_MAX,
    INT64_MIN,
    MAX_REPORT_DAY,
    MAX_YEAR,
    MIN_REPORT_DAY,
    MIN_YEAR,
    check_text,
)
from agent_console.web.errors import ApiError

JsonSchema = dict[str, object]


class Body(BaseModel):
    """A request body. Unknown keys are ignored (clients send more than a route reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Query(BaseModel):
    """A query string. Unknown parameters are ignored; a list field takes repeats."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Reply(BaseModel):
    """A JSON response."""

    model_config = ConfigDict(populate_by_name=True)


class NoBody(Body):
    """The operation reads no body."""


class NoQuery(Query):
    """The operation reads no query parameter."""


def refuse_as(error_id: str) -> WrapValidator:
    """Field metadata: any refusal of this field answers `error_id` (e.g. `bad-mode`
    for a mode outside its enum). `Annotated[SpyMode, refuse_as("bad-mode")]`"""
    error_catalogue.entry(error_id)  # a typo fails at import, not at the first request

    def relabel(value: object, handler: ValidatorFunctionWrapHandler) -> object:
        try:
            return handler(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise PydanticCustomError(error_id, "{detail}", {"detail": first["msg"]}) from exc

    return WrapValidator(relabel)


def _no_control(value: str) -> str:
    try:
        return check_text(value, "text")
    except ApiError as exc:
        raise PydanticCustomError("bad-text", "text with a control character or NUL") from exc


def _sane_day(value: date) -> date:
    if not MIN_REPORT_DAY <= value <= MAX_REPORT_DAY:
        raise PydanticCustomError("bad-date", f"a day from {MIN_REPORT_DAY} to {MAX_REPORT_DAY}")
    return value


def _sane_moment(value: datetime) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise PydanticCustomError("bad-date", f"a time from {MIN_YEAR} to {MAX_YEAR}")
    return value


_INT64: Final = {"format": "int64"}

# a database id: a positive signed 64-bit integer
Id = Annotated[int, Field(ge=1, le=INT64_MAX, json_schema_extra=_INT64)]
# any whole number a 64-bit column holds
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, json_schema_extra=_INT64)]
# text a database stores: no NUL, no control character but tab/newline/CR; bound its length
# where it is used: `Annotated[Text, Field(max_length=80)]`, or one of the sizes below
Text = Annotated[str, AfterValidator(_no_control), Field(max_length=100_000)]
ShortText = Annotated[Text, Field(max_length=200)]
LongText = Annotated[Text, Field(max_length=2000)]
# a phone number as a person types it; `crm_core.phones.normalize` decides if it is one
Phone = Annotated[
    str,
    Field(min_length=3, max_length=32, pattern=r"^\+?[0-9()\- .]+$"),
    refuse_as("invalid-phone"),
]
# a day of the reports' range (2000–2100), as YYYY-MM-DD
Day = Annotated[date, AfterValidator(_sane_day)]
# a point in time with its UTC offset, 1970–2100 (ADR 0062)
Moment = Annotated[AwareDatetime, AfterValidator(_sane_moment)]
