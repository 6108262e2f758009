"""Authentication and authorization: the OAuth state (access/refresh tokens, authorization
codes, PKCE) and the two pipeline middlewares that use it (``authenticate_middleware``:
401 for a protected operation without a live token; ``authorize_middleware``: the scope
check (403) and the request context, with its effective end user).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable

import attrs
from aiohttp import web
from yarl import URL

from ._data import ANON, RenderCtx
from ._http import ID_RE
from ._problems import PROBLEM_BASE, ProblemError, unauthorized
from ._state import CTX, OP, STATE, TOKEN, Ctx
from ._wire import derive_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

__all__: list[str] = []  # private module

#: Scopes a token gets when none are requested.
DEFAULT_SCOPES = frozenset({"vehicle:read", "vehicle:write", "vehicle_catalogue:write", "debug:read"})

#: Every scope the spec's security scheme declares.
KNOWN_SCOPES = frozenset(
    {
        "carbon:read", "grid:read", "evse:read", "evse:write", "vehicle:read", "user:read",
        "charging_session:read", "tariff:read", "tariff:prices:read", "user:write",
        "inverter:read", "inverter:write", "home_battery:read", "home_energy:read",
        "boundary_meter:read", "vehicle:write", "vehicle_catalogue:write",
        "charging_session:write", "solar:write", "solar:read", "subscription:read",
        "debug:read", "dispatch_coordinator:read", "dispatch_event:write",
        "solar_forecast:read", "payout_method:read", "payout_method:write",
        "notification_preferences:read", "notification_preferences:write",
        "route_planner_preferences:read", "route_planner_preferences:write",
        "saved_routes:read", "saved_routes:write", "region:read", "region:write",
    }
)


@attrs.define
class TokenInfo:
    token: str
    client_id: str
    user_id: str | None  # None: a client-credentials token (one bucket for the whole app)
    scopes: frozenset[str]
    expires_at: float | None  # on the simulator clock; None: never
    refresh_token: str | None = None
    refreshable: bool = False  # issued by /o/token/ (the "token_expiry" fault applies)
    dead: bool = False

    @property
    def bucket(self) -> tuple[str, str | None]:
        return (self.client_id, self.user_id)


@attrs.define
class RefreshInfo:
    token: str
    client_id: str
    user_id: str | None
    scopes: frozenset[str]
    access_token: str


@attrs.define
class AuthCode:
    code: str
    client_id: str
    user_id: str
    redirect_uri: str | None
    scopes: frozenset[str]
    challenge: str | None
    challenge_method: str | None
    expires_at: float
    used: bool = False


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def pkce_matches(challenge: str, method: str | None, verifier: str) -> bool:
    if method in (None, "", "plain"):
        expected = verifier
    elif method == "S256":
        expected = pkce_s256(verifier)
    else:
        return False
    return hmac.compare_digest(expected.encode(), challenge.encode())


class TokenStore:
    def __init__(self, seed: int, clock: Callable[[], float], token_ttl: int) -> None:
        self.seed = seed
        self.clock = clock
        self.token_ttl = token_ttl
        self.client_id = "sim-" + derive_token(seed, "client_id", length=20)
        self.client_secret = derive_token(seed, "client_secret", length=48)
        self.access: dict[str, TokenInfo] = {}
        self.refresh: dict[str, RefreshInfo] = {}
        self.codes: dict[str, AuthCode] = {}
        self._counter = 0

    def _next(self, purpose: str) -> str:
        self._counter += 1
        return derive_token(self.seed, purpose, self._counter, length=40)

    def add_static(self, token: str, user_id: str | None) -> TokenInfo:
        info = TokenInfo(token, self.client_id, user_id, DEFAULT_SCOPES, None)
        self.access[token] = info
        return info

    def issue(
        self, client_id: str, user_id: str | None, scopes: frozenset[str], with_refresh: bool
    ) -> TokenInfo:
        access = self._next("access")
        refresh = self._next("refresh") if with_refresh else None
        info = TokenInfo(
            access, client_id, user_id, scopes, self.clock() + self.token_ttl, refresh, True
        )
        self.access[access] = info
        if refresh is not None:
            self.refresh[refresh] = RefreshInfo(refresh, client_id, user_id, scopes, access)
        return info

    def new_code(
        self,
        client_id: str,
        user_id: str,
        redirect_uri: str | None,
        scopes: frozenset[str],
        challenge: str | None,
        method: str | None,
        ttl: float,
    ) -> AuthCode:
        code = AuthCode(
            self._next("code"), client_id, user_id, redirect_uri, scopes, challenge, method,
            self.clock() + ttl,
        )
        self.codes[code.code] = code
        return code

    def lookup(self, token: str) -> TokenInfo | None:
        """The live token, or None when unknown, revoked, dead or expired."""
        info = self.access.get(token)
        if info is None or info.dead:
            return None
        if info.expires_at is not None and self.clock() >= info.expires_at:
            return None
        return info

    def kill(self, token: str) -> bool:
        info = self.access.get(token)
        if info is None:
            return False
        info.dead = True
        return True

    def revoke(self, token: str, client_id: str) -> None:
        info = self.access.get(token)
        if info is not None and info.client_id == client_id:
            info.dead = True
        rinfo = self.refresh.get(token)
        if rinfo is not None and rinfo.client_id == client_id:
            del self.refresh[token]
            acc = self.access.get(rinfo.access_token)
            if acc is not None:
                acc.dead = True


# ---------------------------------------------------------------------- middlewares
def identify(request: web.Request) -> tuple[TokenInfo | None, bool]:
    """The request's live bearer token (or None) and whether it presented one (cached)."""
    if TOKEN in request:
        return request[TOKEN]
    found: tuple[TokenInfo | None, bool]
    auth = request.headers.get("Authorization")
    if not auth:
        found = (None, False)
    else:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            found = (None, True)
        else:
            found = (request.app[STATE].tokens.lookup(value.strip()), True)
    request[TOKEN] = found
    return found


@web.middleware
async def authenticate_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 for a protected operation without a live bearer token."""
    op = request[OP]
    if not op.oauth:
        token, presented = identify(request)
        if token is None and not op.public:
            raise unauthorized(presented)
    return await handler(request)


def parse_user(request: web.Request, raw: str, field: str, *, must_exist: bool = True) -> str:
    """A user ID given as an ID or as the user's URL (400 problem when unknown)."""
    candidate = raw
    if not ID_RE["user"].fullmatch(raw):
        try:
            url = URL(raw)
            parts = [p for p in url.path.split("/") if p]
            candidate = parts[-1] if url.is_absolute() and len(parts) >= 2 \
                and parts[-2] == "users" else ""
        except ValueError:
            candidate = ""
    if not ID_RE["user"].fullmatch(candidate):
        raise ProblemError(
            400, f"{field} must be a user ID (user...) or the user's URL.",
            title="Invalid user", type_=f"{PROBLEM_BASE}invalid-user/",
            field_errors={field: ["Not a valid user ID or user URL."]},
        )
    if must_exist and candidate not in request.app[STATE].data.users_by_id:
        raise ProblemError(
            400, "The user does not exist or is not accessible.", title="Invalid user",
            type_=f"{PROBLEM_BASE}invalid-user/",
            field_errors={field: ["User does not exist."]},
        )
    return candidate


@web.middleware
async def authorize_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """403 without the operation's scope; sets the request context (``request[CTX]``)."""
    op = request[OP]
    if op.oauth:
        request[CTX] = Ctx(op, None, None, ANON)
        return await handler(request)
    token, _presented = identify(request)
    if op.scope and token is not None and op.scope not in token.scopes:
        raise ProblemError(
            403, f"This action requires the {op.scope} scope.", title="Forbidden"
        )
    user_id: str | None = None
    user_token = token is not None and token.user_id is not None
    raw = request.headers.get("EvEnergy-User")
    if raw is not None and raw.strip():  # its syntax is checked even where a user token makes it moot
        user_id = parse_user(request, raw.strip(), "EvEnergy-User", must_exist=not user_token)
    if token is not None and token.user_id is not None:
        user_id = token.user_id
    render = RenderCtx(token.client_id if token is not None else None, user_id)
    request[CTX] = Ctx(op, token, user_id, render)
    return await handler(request)
