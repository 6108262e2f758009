"""OAuth state of the simulator: access/refresh tokens, authorization codes, PKCE."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import attrs

from ._wire import derive_token

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
