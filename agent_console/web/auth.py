"""Sessions, bearer tokens, CSRF, login throttling and role checks.

A session cookie and a bearer token are the same HMAC-signed token
(`v1.<payload>.<signature>`, payload = user id, username, session id, expiry),
so several instances behind a load balancer accept each other's sessions with
only the shared `secret_key`. Logout revokes the session id in a `Revocations`
store: in memory for one instance, in Redis for several, so a token logged out
on one instance is refused by all of them (ADR 0055). The CSRF token of a
session is derived from its id, so forms and the console's fetch calls need no
server-side storage either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from agent_console.web.errors import ApiError
from crm_core.domain.models import Role, User
from crm_core.ports.repositories import NotFound, UserRepository

log = logging.getLogger(__name__)

SESSION_COOKIE = "cc_session"
LOGIN_CSRF_COOKIE = "cc_login_csrf"
CSRF_HEADER = "X-CSRF-Token"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Claims:
    user_id: int
    username: str
    session_id: str
    expires: float  # unix seconds
    kind: str  # "session" | "bearer"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Revocations(Protocol):
    """Where logged-out session ids live until their tokens expire."""

    async def revoke(self, session_id: str, *, expires: float, now: float) -> None: ...

    async def is_revoked(self, session_id: str) -> bool: ...

    def watch(self, callback: Callable[[str], None]) -> None:
        """Call `callback(session_id)` when a session is revoked (on any instance the
        store reaches), so its open sockets can be closed at once."""
        ...


class MemoryRevocations:
    """One instance's revocations (no Redis)."""

    def __init__(self) -> None:
        self._revoked: dict[str, float] = {}
        self._watchers: list[Callable[[str], None]] = []

    def watch(self, callback: Callable[[str], None]) -> None:
        self._watchers.append(callback)

    async def revoke(self, session_id: str, *, expires: float, now: float) -> None:
        self._revoked[session_id] = expires
        for watcher in self._watchers:
            watcher(session_id)
        for sid, until in list(self._revoked.items()):
            if until <= now:
                del self._revoked[sid]

    async def is_revoked(self, session_id: str) -> bool:
        return session_id in self._revoked


class TokenSigner:
    def __init__(self, secret_key: str, revocations: Revocations | None = None) -> None:
        if not secret_key:
            raise ValueError("the console needs a secret_key to sign sessions")
        self._key = hashlib.sha256(b"callcenter-session\0" + secret_key.encode()).digest()
        self._csrf_key = hashlib.sha256(b"callcenter-csrf\0" + secret_key.encode()).digest()
        self.revocations: Revocations = revocations or MemoryRevocations()

    def issue(self, user: User, *, kind: str, ttl: float, now: float) -> tuple[str, Claims]:
        claims = Claims(user.id, user.username, secrets.token_urlsafe(12), now + ttl, kind)
        payload = _b64(
            json.dumps(
                {
                    "u": claims.user_id,
                    "n": claims.username,
                    "s": claims.session_id,
                    "e": int(claims.expires),
                    "k": kind,
                },
                separators=(",", ":"),
            ).encode()
        )
        return f"v1.{payload}.{self._sign(payload)}", claims

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def decode(self, token: str, *, now: float) -> Claims | None:
        """Signature and expiry only; `verify` also asks whether it was logged out."""
        try:
            version, payload, signature = token.split(".")
        except ValueError:
            return None
        if version != "v1" or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data: dict[str, Any] = json.loads(_unb64(payload))
            claims = Claims(
                int(data["u"]), str(data["n"]), str(data["s"]), float(data["e"]), str(data["k"])
            )
        except (ValueError, KeyError, TypeError):
            return None
        return claims if claims.expires > now else None

    async def verify(self, token: str, *, now: float) -> Claims | None:
        claims = self.decode(token, now=now)
        if claims is None or await self.revocations.is_revoked(claims.session_id):
            return None
        return claims

    async def is_live(self, claims: Claims, *, now: float) -> bool:
        return claims.expires > now and not await self.revocations.is_revoked(claims.session_id)

    async def revoke(self, claims: Claims, *, now: float) -> None:
        await self.revocations.revoke(claims.session_id, expires=claims.expires, now=now)

    def csrf_token(self, session_id: str) -> str:
        return _b64(hmac.new(self._csrf_key, session_id.encode(), hashlib.sha256).digest()[:18])

    def check_csrf(self, session_id: str, presented: str) -> bool:
        return bool(presented) and hmac.compare_digest(presented, self.csrf_token(session_id))


class UserCache:
    """Users by id for a few seconds, so each request need not hit the database,
    yet a disabled user or a changed role takes effect quickly."""

    def __init__(self, users: UserRepository, *, ttl: float = 5.0) -> None:
        self._users = users
        self._ttl = ttl
        self._cache: dict[int, tuple[float, User]] = {}

    async def get(self, user_id: int) -> User | None:
        hit = self._cache.get(user_id)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        try:
            user = await self._users.get(user_id)
        except NotFound:
            self._cache.pop(user_id, None)
            return None
        self._cache[user_id] = (now, user)
        return user

    def forget(self, user_id: int) -> None:
        self._cache.pop(user_id, None)


SIGNER_KEY = web.AppKey("token_signer", TokenSigner)
USER_KEY = web.RequestKey("user", User)
CLAIMS_KEY = web.RequestKey("claims", Claims)
USERS_KEY = web.AppKey("user_cache", UserCache)

PUBLIC_PREFIXES = ("/static/", "/sim/", "/healthz", "/readyz", "/metrics")
PUBLIC_PATHS = {"/login", "/api/login", "/api/openapi.json", "/favicon.ico"}


def bearer_or_cookie(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if request.path == "/ws" and "token" in request.query:
        return request.query["token"]
    return request.cookies.get(SESSION_COOKIE)


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach `request["user"]`/`request[CLAIMS_KEY]`; refuse anonymous non-public paths."""
    path = request.path
    token = bearer_or_cookie(request)
    signer = request.app[SIGNER_KEY]
    claims = await signer.verify(token, now=time.time()) if token else None
    user = await request.app[USERS_KEY].get(claims.user_id) if claims else None
    if user is not None and (not user.active or claims is None or user.username != claims.username):
        user = None
    if user is not None and claims is not None:
        request[USER_KEY] = user
        request[CLAIMS_KEY] = claims
        if request.method not in ("GET", "HEAD", "OPTIONS") and claims.kind == "session":
            await _check_csrf(request, signer, claims)
        return await handler(request)
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    if path.startswith(("/api/", "/ws")):
        raise ApiError(401, "unauthenticated", "log in first (session cookie or bearer token)")
    raise web.HTTPFound("/login")


async def _check_csrf(request: web.Request, signer: TokenSigner, claims: Claims) -> None:
    presented = request.headers.get(CSRF_HEADER, "")
    if not presented and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        value = form.get("csrf")
        presented = value if isinstance(value, str) else ""
    if not signer.check_csrf(claims.session_id, presented):
        raise ApiError(403, "csrf", "missing or wrong CSRF token")


def current_user(request: web.Request) -> User:
    user = request.get(USER_KEY)
    if not isinstance(user, User):
        raise ApiError(401, "unauthenticated", "log in first")
    return user


def require(request: web.Request, *roles: Role) -> User:
    """The signed-in user, if their role is one of `roles` (server-side check)."""
    user = current_user(request)
    if user.role not in roles:
        raise ApiError(
            403, "forbidden", f"this needs the role {' or '.join(r.value for r in roles)}"
        )
    return user


ANY_ROLE = (Role.AGENT, Role.LEAD, Role.MANAGER, Role.ADMIN)
SUPERVISORS = (Role.LEAD, Role.MANAGER, Role.ADMIN)
