"""JSON errors `{"error_id", "message"}` with the right HTTP status, for every API path."""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Awaitable, Callable

from aiohttp import web

from crm_core.ports.repositories import Conflict, NotFound
from crm_core.ports.telephony import TelephonyError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message


def error_response(status: int, error_id: str, message: str) -> web.Response:
    return web.json_response({"error_id": error_id, "message": message}, status=status)


_STATUS_IDS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "too-large",
    429: "rate-limited",
}

_TELEPHONY_STATUS = {"ami-unavailable": 503, "ami-timeout": 504, "no-such-channel": 409}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith(("/api/", "/ws"))


# the same failure (type and place) logs its traceback once a window, its repeats one
# short line each: a flood of one bad request cannot fill the disk (ADR 0062)
TRACEBACK_WINDOW_SECONDS = 300.0
_MAX_SIGNATURES = 1000
_last_traceback: dict[tuple[str, str], float] = {}


def _signature(exc: BaseException) -> tuple[str, str]:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"
    return type(exc).__name__, where


def _log_unhandled(request: web.Request, exc: BaseException) -> None:
    from agent_console.web.auth import USER_KEY  # auth builds on this module

    who = "" if request.get(USER_KEY) is not None else " (unauthenticated)"
    kind, where = _signature(exc)
    now = time.monotonic()
    if now - _last_traceback.get((kind, where), -TRACEBACK_WINDOW_SECONDS) >= (
        TRACEBACK_WINDOW_SECONDS
    ):
        if len(_last_traceback) >= _MAX_SIGNATURES:
            _last_traceback.clear()
        _last_traceback[(kind, where)] = now
        log.exception("unhandled error on %s %.200s%s", request.method, request.path, who)
        return
    log.error(
        "unhandled error on %s %.200s%s: %s at %s (traceback above, repeats within %.0f s"
        " are one line): %.200s",
        request.method,
        request.path,
        who,
        kind,
        where,
        TRACEBACK_WINDOW_SECONDS,
        exc,
    )


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.error_id, exc.message)
    except NotFound as exc:
        return error_response(404, "not-found", str(exc) or "not found")
    except Conflict as exc:
        return error_response(409, "conflict", str(exc) or "conflict")
    except TelephonyError as exc:
        log.warning("telephony command failed: %s %s", exc.error_id, exc.message)
        return error_response(_TELEPHONY_STATUS.get(exc.error_id, 502), exc.error_id, exc.message)
    except web.HTTPException as exc:
        if not _wants_json(request) or exc.status < 400:
            raise
        return error_response(
            exc.status, _STATUS_IDS.get(exc.status, f"http-{exc.status}"), exc.reason
        )
    except Exception as exc:
        error_id = getattr(exc, "error_id", None)
        if isinstance(exc, ValueError) and isinstance(error_id, str):
            return error_response(400, error_id, str(exc))  # domain validation: a bad phone
        _log_unhandled(request, exc)
        if not _wants_json(request):
            raise
        return error_response(500, "internal", "internal error; it has been logged")
