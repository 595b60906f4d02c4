"""Every `error_id` the service answers with, its HTTP status and its message code; the
user-visible texts as codes with parameters (ADR 0077).

An error or a text a person reads is a `Problem`: a message code and its parameters,
`Problem("callback.abandoned_after", {"seconds": 8, "queue": "support"})`. The words live in
`i18n/problems.<language>.json` (zh-CN and English, the same parameters in both); the
console renders them server-side (`render`) or in the browser from `code` + `params`.

Raise `ProblemError` where a handler refuses a request:

    raise ProblemError("no-such-call", params={"call_id": call_id})
    raise ProblemError("bad-reason", Problem("agent.bad_pause_reason", {"reasons": "…"}))

The status comes from the catalogue, never from the raise site. `ProblemError` is an
`ApiError`, so a route not yet on `agent_console.web.declared` still answers the old shape
`{"error_id", "message"}` (the English text).

Known discrepancies of the handlers before this catalogue (kept until they are converted;
the catalogue names the status they converge on):
- `CallbackError` (a `ValueError`) reaches the client as 400 whatever its id, so
  `callback-closed` is 400 from the service but 409 from the lead view → 409, and
  `ami-unavailable` from the callback dialler is 400 → 503.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

from agent_console.web.errors import ApiError

LANGUAGES: Final = ("zh-CN", "en")
_DIR = Path(__file__).parent.parent / "i18n"

# a parameter is what a template can print; nothing richer crosses into a message
Param = str | int | float


@dataclass(frozen=True, slots=True)
class Problem:
    """A text a person reads, as a message code and its parameters."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    error_id: str
    status: int
    code: str  # the default message code of this error

    def problem(self, params: Mapping[str, Param] | None = None) -> Problem:
        return Problem(self.code, dict(params or {}))


def _catalogue(*rows: tuple[str, int]) -> dict[str, CatalogueEntry]:
    table: dict[str, CatalogueEntry] = {}
    for error_id, status in rows:
        if error_id in table:
            raise ValueError(f"error_id {error_id} catalogued twice")
        table[error_id] = CatalogueEntry(error_id, status, "error." + error_id.replace("-", "_"))
    return table


# one line per error_id; the message code is `error.<error_id with _>`
ERRORS: Final[Mapping[str, CatalogueEntry]] = _catalogue(
    # the edge (ADR 0062) and the request as a whole
    ("bad-request", 400),
    ("bad-event", 400),  # a domain event that does not decode (crm_core.domain.events)
    ("bad-json", 400),
    ("bad-text", 400),
    ("bad-field", 400),
    ("bad-parameter", 400),
    ("out-of-range", 400),
    ("bad-date", 400),
    ("bad-idempotency-key", 400),
    ("too-large", 413),
    ("method-not-allowed", 405),
    ("rate-limited", 429),
    ("internal", 500),
    ("conflict", 409),
    ("not-found", 404),
    ("idempotency-in-progress", 409),
    ("idempotency-retry", 409),
    ("idempotency-key-reused", 422),
    # who may do it
    ("unauthenticated", 401),
    ("bad-credentials", 401),
    ("forbidden", 403),
    ("csrf", 403),
    ("bad-origin", 403),
    ("other-team", 403),
    # field values a handler refuses
    ("bad-action", 400),
    ("bad-campaign", 400),
    ("bad-contact-file", 400),
    ("bad-customer", 400),
    ("bad-department", 400),
    ("bad-disposition", 400),
    ("bad-kind", 400),
    ("bad-language", 400),
    ("bad-mode", 400),
    ("bad-name", 400),
    ("bad-number", 400),
    ("bad-reason", 400),
    ("bad-result", 400),
    ("bad-satisfaction", 400),
    ("bad-target", 400),
    ("bad-window", 400),
    ("invalid-phone", 400),
    ("outcome-required", 400),
    ("promise-too-late", 400),
    ("no-such-user", 400),
    # what is not there
    ("no-such-agent", 404),
    ("no-such-call", 404),
    ("no-such-callback", 404),
    ("no-such-campaign", 404),
    ("no-such-case", 404),
    ("no-such-contact", 404),
    ("no-such-report", 404),
    # the state does not allow it
    ("bad-campaign-state", 409),
    ("call-active", 409),
    ("call-not-up", 409),
    ("callback-closed", 409),
    ("case-closed", 409),
    ("do-not-call", 409),
    ("no-phone", 409),
    ("no-queue", 409),
    ("not-your-contact", 409),
    ("pbx-refused", 409),
    ("spy-replaced", 409),
    ("no-such-channel", 409),
    # the PBX and other collaborators
    ("action-failed", 502),
    ("originate-failed", 502),
    ("logout-failed", 502),
    ("spy-failed", 502),
    ("ami-unavailable", 503),
    ("pbx-unavailable", 503),
    ("reports-unavailable", 503),
    ("ami-timeout", 504),
    ("no-cases", 501),
)

# WebSocket frames (`{"type": "error", "error_id"}`), not HTTP answers: catalogued for
# their texts; the status is what the same refusal would be over HTTP
SOCKET_ERRORS: Final[Mapping[str, CatalogueEntry]] = _catalogue(
    ("bad-message", 400),
    ("unknown-type", 400),
)

# texts that are not errors: reasons, rejections, page titles; each is a message code
TEXTS: Final = (
    "callback.abandoned_after",
    "callback.campaign_no_agent",
    "import.no_phone_column",
    "import.not_utf8_or_gbk",
    "import.empty_file",
    "import.bad_line",
    "import.rejected.empty_row",
    "import.rejected.invalid_phone",
    "import.rejected.bad_timezone",
    "import.rejected.do_not_call",
    "import.rejected.duplicate",
    "import.rejected.already_in_campaign",
    "dial.do_not_call",
    "dial.attempts_exhausted",
    "dial.not_due",
    "dial.outside_calling_hours",
    "validation.missing",
    "validation.invalid",
    "validation.choice",
    "validation.range",
    "validation.too_long",
    "validation.too_short",
    "validation.date",
    "validation.text",
    "page.back",
    "page.title",
    "customer.search_needs_phone_or_text",
    "customer.needs_name",
    "report.periods",
)


def entry(error_id: str) -> CatalogueEntry:
    """The catalogue's entry; an id outside it is a programming error."""
    found = ERRORS.get(error_id) or SOCKET_ERRORS.get(error_id)
    if found is None:
        raise KeyError(f"error_id {error_id!r} is not in agent_console.web.error_catalogue")
    return found


def status_of(error_id: str) -> int:
    return entry(error_id).status


def all_codes() -> tuple[str, ...]:
    return (
        *(e.code for e in ERRORS.values()),
        *(e.code for e in SOCKET_ERRORS.values()),
        *TEXTS,
    )


@cache
def messages(language: str) -> Mapping[str, str]:
    """The message texts of one language (`i18n/problems.<language>.json`)."""
    path = _DIR / f"problems.{language}.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


def parameters(template: str) -> frozenset[str]:
    """The parameter names a message template prints."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class _Keep(dict[str, Param]):
    def __missing__(self, key: str) -> str:  # a parameter the raise site did not give
        return "{" + key + "}"


def render(problem: Problem, language: str) -> str:
    """The problem's text in `language` (English where a language lacks the code; the
    code itself where both do)."""
    language = language if language in LANGUAGES else "en"
    template = messages(language).get(problem.code) or messages("en").get(problem.code)
    if template is None:
        return problem.code
    return template.format_map(_Keep(problem.params))


class ProblemError(ApiError):
    """A catalogued refusal: status from the catalogue, text from a message code."""

    def __init__(
        self,
        error_id: str,
        problem: Problem | None = None,
        *,
        params: Mapping[str, Param] | None = None,
        detail: str | None = None,
    ) -> None:
        found = entry(error_id)
        self.problem = problem if problem is not None else found.problem(params)
        self.detail = detail
        super().__init__(found.status, error_id, detail or render(self.problem, "en"))


def problem_of(exc: ApiError) -> tuple[Problem, str | None]:
    """The problem an `ApiError` reports, and the technical detail a plain `ApiError`'s
    English message adds (a `ProblemError`'s own `detail`, if it was given one)."""
    if isinstance(exc, ProblemError):
        return exc.problem, exc.detail
    found = ERRORS.get(exc.error_id)
    code = found.code if found is not None else "error.bad_request"
    return Problem(code), exc.message


def payload(exc: ApiError, language: str) -> dict[str, object]:
    """The JSON error body: `error_id` and `message` (the contract), `code` and `params`
    for the console to render itself, `detail` for a plain `ApiError`'s own text."""
    problem, detail = problem_of(exc)
    body: dict[str, object] = {
        "error_id": exc.error_id,
        "message": render(problem, language),
        "code": problem.code,
        "params": dict(problem.params),
    }
    if detail is not None and detail != body["message"]:
        body["detail"] = detail
    return body
