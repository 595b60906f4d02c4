"""The edge validation layer (ADR 0062): what no handler, repository or database may be
handed, refused with 400 and an `error_id` before any handler runs.

- JSON bodies: nested deeper than `MAX_JSON_DEPTH` (counted on the raw text, without
  recursion), `NaN`/`Infinity`, or not an object → `bad-json`;
- text anywhere in a body, a query string or a path that no database stores (NUL, the
  other C0 control characters but tab, newline and carriage return, lone surrogates)
  → `bad-text`;
- whole numbers outside the signed 64-bit range anywhere in a body → `out-of-range`;
- per-field ranges (`check_int`) → `out-of-range`; dates and times outside the years the
  product can mean (`check_year`, `parse_day`) → `bad-date`;
- path ids that are not positive 64-bit integers → 404 (`path_id`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from aiohttp import web

from agent_console.web.errors import ApiError

MAX_JSON_DEPTH = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# times a request may name: filters, callbacks, follow-up windows (ADR 0062)
MIN_YEAR, MAX_YEAR = 1970, 2100
# report days (daily to annual statistics)
MIN_REPORT_DAY, MAX_REPORT_DAY = date(2000, 1, 1), date(2100, 12, 31)

# what PostgreSQL (NUL), UTF-8 (lone surrogates) or a sane record cannot hold
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_PATH_CONTROL = re.compile("[\x00-\x1f\x7f]")
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def bad_text(where: str) -> ApiError:
    return ApiError(400, "bad-text", f"{where}: text with a control character or NUL")


def check_text(value: str, where: str) -> str:
    if _BAD_TEXT.search(value):
        raise bad_text(where)
    return value


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when the JSON text nests arrays/objects deeper than `limit` (strings are
    skipped; an unbalanced text is left to the parser to refuse)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object that passed every check of this module."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "bad-json", "the body must be UTF-8 JSON") from exc
    if json_depth_exceeds(text):
        raise ApiError(400, "bad-json", f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        body = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "bad-json", "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "bad-json", "the body must be a JSON object")
    check_values(body)
    return body


def check_values(body: object) -> None:
    """Every string and whole number in a parsed JSON value, iteratively."""
    stack: list[tuple[str, object]] = [("body", body)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            check_text(value, where)
        elif isinstance(value, bool) or value is None or isinstance(value, float):
            continue
        elif isinstance(value, int):
            if not INT64_MIN <= value <= INT64_MAX:
                raise ApiError(400, "out-of-range", f"{where}: a number beyond 64 bits")
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, where)
                name = f"{where}.{key}" if where != "body" else key
                stack.append((name, item))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(value))


def check_int(value: object, field: str, low: int, high: int) -> int:
    """A whole number (not a bool) in [low, high]; `bad-field` for another type."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, "bad-field", f"{field} must be a whole number")
    if not low <= value <= high:
        raise ApiError(400, "out-of-range", f"{field} must be from {low} to {high}")
    return value


def check_year(year: int, field: str) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ApiError(400, "bad-date", f"{field}: a time from {MIN_YEAR} to {MAX_YEAR}")


def parse_day(
    raw: str, field: str, low: date = MIN_REPORT_DAY, high: date = MAX_REPORT_DAY
) -> date:
    try:
        day = date.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(400, "bad-parameter", f"{field}: expected YYYY-MM-DD") from exc
    if not low <= day <= high:
        raise ApiError(400, "bad-date", f"{field}: a day from {low} to {high}")
    return day


def is_id(raw: str) -> bool:
    """ASCII digits of a positive id that fits a signed 64-bit column (`"³".isdigit()` is
    true, `int("³")` fails)."""
    return 0 < len(raw) <= 19 and raw.isascii() and raw.isdigit() and 0 < int(raw) <= INT64_MAX


def path_id(request: web.Request, name: str, error_id: str = "not-found") -> int:
    raw = request.match_info[name]
    if not is_id(raw):
        raise ApiError(404, error_id, f"no such {name}")
    return int(raw)


@web.middleware
async def edge_checks(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Path and query text every route may pass on to a database (bodies: `json_body`)."""
    if _PATH_CONTROL.search(request.path):  # no line breaks either: ids and names only
        raise bad_text("path")
    check_text(request.path, "path")
    for key, value in request.query.items():
        check_text(key, "query")
        check_text(value, key)
    return await handler(request)
