"""Credentials and the OAuth 2 flows.

Credential objects are plain values (secrets hidden from ``repr``); ``TokenSource`` turns
one into access tokens, caching them and refreshing before expiry with single flight:
however many requests need a token at once, one token request is made.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import attrs
from yarl import URL

from ._errors import AuthError, redact_secrets
from ._sansio import decode_json
from ._transport import Request, Response

__all__ = [
    "AuthorizationRequest",
    "BearerToken",
    "ClientCredentials",
    "Credential",
    "OAuthToken",
    "RefreshToken",
]


def _hidden(_: object) -> str:
    return "'***'"


CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""C0 and C1 control characters: never in a credential, a label or anything printed as one line."""


def _text(*, spaces: bool) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    """An attrs validator: a non-empty string without control characters (nor, unless
    ``spaces``, whitespace); the message names the field, never the value (it may be a secret)."""

    def check(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        where = f"{type(instance).__name__}.{attribute.name}"
        if not isinstance(value, str):
            raise TypeError(f"{where} must be a string, not {type(value).__name__}")
        if not value.strip():
            raise ValueError(f"{where} is empty")
        if CONTROL_CHARS.search(value) or (not spaces and any(c.isspace() for c in value)):
            raise ValueError(f"{where} holds {'control characters' if spaces else 'spaces or control characters'}")

    return check


def _optional(check: Callable[[Any, attrs.Attribute[Any], Any], None]) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def maybe(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return maybe


def scope_names(value: str | Sequence[str]) -> tuple[str, ...]:
    """Scopes as a list of names: one string is OAuth's own space-separated form, split (never
    iterated letter by letter); a name with a space in it is refused."""
    if isinstance(value, str):
        return tuple(value.split())
    names = tuple(value)
    for name in names:
        if not isinstance(name, str) or not name or any(c.isspace() for c in name):
            raise ValueError("scopes must be scope names without spaces (or one space-separated string)")
    return names


def _nonempty(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is empty")
    return value


def _redirect_uri(value: object) -> str:
    """RFC 6749 3.1.2: an absolute URI without a fragment."""
    uri = _nonempty("redirect_uri", value)
    try:
        url = URL(uri)
    except ValueError:
        raise ValueError("redirect_uri is not a URI") from None
    if not url.scheme or url.raw_fragment:  # a scheme: a native app's own (RFC 8252) has no host
        raise ValueError("redirect_uri must be an absolute URI without a fragment (RFC 6749, 3.1.2)")
    return uri


@attrs.frozen
class BearerToken:
    """A static access token (a plain string passed as ``auth=`` means the same)."""

    token: str = attrs.field(repr=_hidden, validator=_text(spaces=False))


@attrs.frozen
class ClientCredentials:
    """OAuth 2 client credentials grant; the id and secret go as HTTP Basic to the token endpoint."""

    client_id: str = attrs.field(validator=_text(spaces=False))
    client_secret: str = attrs.field(repr=_hidden, validator=_text(spaces=True))
    scopes: Sequence[str] = attrs.field(default=(), converter=scope_names)


@attrs.frozen
class OAuthToken:
    """A token endpoint answer. ``expires_at`` is on the ``time.monotonic()`` clock."""

    access_token: str = attrs.field(repr=_hidden)
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=_hidden)
    scope: str | None = None
    expires_at: float | None = None


OnRefresh = Callable[[OAuthToken], "Awaitable[None] | None"]


@attrs.frozen
class RefreshToken:
    """Refresh-token grant. ``on_refresh`` receives every new token pair, so it can be persisted."""

    refresh_token: str = attrs.field(repr=_hidden, validator=_text(spaces=False))
    client_id: str = attrs.field(validator=_text(spaces=False))
    client_secret: str | None = attrs.field(default=None, repr=_hidden, validator=_optional(_text(spaces=True)))
    access_token: str | None = attrs.field(default=None, repr=_hidden, validator=_optional(_text(spaces=False)))
    expires_at: float | None = None
    on_refresh: OnRefresh | None = attrs.field(default=None, repr=False)


Credential = BearerToken | ClientCredentials | RefreshToken


def grant_key(credential: Credential, refresh_token: str | None = None) -> tuple[str, ...]:
    """What makes two credentials one grant, whose token source they must share: the token,
    or the app and its grant -- not ``on_refresh``, nor a cached access token. A web backend
    that builds ``RefreshToken(stored, ..., on_refresh=save)`` per request makes an equal key
    for every request of one user. ``refresh_token``: the key under a rotated refresh token."""
    if isinstance(credential, BearerToken):
        return ("bearer", credential.token)
    if isinstance(credential, ClientCredentials):
        return ("client", credential.client_id, credential.client_secret, *credential.scopes)
    secret = credential.client_secret if credential.client_secret is not None else ""
    return ("refresh", refresh_token or credential.refresh_token, credential.client_id, secret)


@attrs.frozen
class AuthorizationRequest:
    """Where to send the user's browser, and what to keep until the redirect comes back."""

    url: str
    state: str = attrs.field(repr=_hidden)
    code_verifier: str | None = attrs.field(default=None, repr=_hidden)


def coerce_credential(auth: Credential | str | None) -> Credential | None:
    if auth is None or isinstance(auth, BearerToken | ClientCredentials | RefreshToken):
        return auth
    if isinstance(auth, str):
        if not auth:
            raise ValueError("empty token")
        return BearerToken(auth)
    raise TypeError(f"auth must be a credential object or a token string, not {type(auth).__name__}")


# ---------------------------------------------------------------------------
# OAuth endpoints

Send = Callable[[Request], Awaitable[Response]]


_SECRET_FIELDS = ("client_secret", "refresh_token", "code", "code_verifier", "token")


def _sent_secrets(form: Mapping[str, str], headers: Mapping[str, str]) -> list[str]:
    """The credentials a token-endpoint request carried (form fields, HTTP Basic's secret and
    its encoding): what its error must not repeat should the endpoint echo them."""
    out = [form[k] for k in _SECRET_FIELDS if form.get(k)]
    basic = headers.get("Authorization", "")
    if basic.startswith("Basic "):
        encoded = basic[len("Basic "):]
        out.append(encoded)
        with contextlib.suppress(ValueError):
            out.append(base64.b64decode(encoded).decode().partition(":")[2])
    return out


def _basic(client_id: str, client_secret: str) -> str:
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(64)[:96]
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode("ascii")


class OAuth:
    """The token, authorize and revoke endpoints (``/o/token/`` etc. at the API origin by default)."""

    def __init__(
        self,
        send: Send,
        *,
        token_url: URL,
        authorize_url: URL,
        revoke_url: URL,
        timeout: float | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.token_url = token_url
        self.authorize_url_base = authorize_url
        self.revoke_url = revoke_url
        self._timeout = timeout
        self._clock = clock

    def authorization_url(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        scopes: str | Sequence[str] = (),
        state: str | None = None,
        pkce: bool = True,
    ) -> AuthorizationRequest:
        """Build the browser URL for the authorization-code grant (PKCE S256 unless ``pkce=False``)."""
        state = state or secrets.token_urlsafe(24)
        query = {
            "response_type": "code",
            "client_id": _nonempty("client_id", client_id),
            "redirect_uri": _redirect_uri(redirect_uri),
            "state": state,
        }
        names = scope_names(scopes)
        if names:
            query["scope"] = " ".join(names)
        verifier = None
        if pkce:
            verifier, challenge = pkce_pair()
            query["code_challenge"] = challenge
            query["code_challenge_method"] = "S256"
        return AuthorizationRequest(str(self.authorize_url_base.with_query(query)), state, verifier)

    async def _token_request(
        self, form: dict[str, str], client_id: str, client_secret: str | None
    ) -> OAuthToken:
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        if client_secret is not None:
            headers["Authorization"] = _basic(client_id, client_secret)
        else:
            form = {**form, "client_id": client_id}
        request = Request("POST", self.token_url, headers, urlencode(form).encode(), self._timeout)
        response = await self._send(request)
        return self._parse_token(response, form["grant_type"], _sent_secrets(form, headers))

    def _parse_token(self, response: Response, grant: str, sent: Sequence[str] = ()) -> OAuthToken:
        try:
            return self._parse_token_unredacted(response, grant)
        except AuthError as exc:
            redact_secrets(exc, sent)  # the endpoint may echo what the request carried
            raise

    def _parse_token_unredacted(self, response: Response, grant: str) -> OAuthToken:
        where: dict[str, Any] = {"method": "POST", "url": str(self.token_url), "status": response.status}
        try:
            data: Any = decode_json(response.body) if response.body else {}
        except ValueError as exc:
            raise AuthError(f"token endpoint sent invalid JSON ({grant})", **where) from exc
        if not isinstance(data, dict):
            data = {}
        if response.status != 200:
            error = data.get("error") if isinstance(data.get("error"), str) else None
            desc = data.get("error_description") if isinstance(data.get("error_description"), str) else None
            msg = f"token request failed ({grant}): {error or 'HTTP ' + str(response.status)}"
            raise AuthError(msg + (f": {desc}" if desc else ""), error=error, error_description=desc, **where)
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"token endpoint answered without an access_token ({grant})", **where)
        expires_in = data.get("expires_in")
        expires = float(expires_in) if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) else None
        refresh = data.get("refresh_token")
        scope = data.get("scope")
        return OAuthToken(
            access_token=token,
            token_type=str(data.get("token_type", "Bearer")),
            expires_in=expires,
            refresh_token=refresh if isinstance(refresh, str) else None,
            scope=scope if isinstance(scope, str) else None,
            expires_at=None if expires is None else self._clock() + expires,
        )

    async def client_credentials(self, cred: ClientCredentials) -> OAuthToken:
        form = {"grant_type": "client_credentials"}
        if cred.scopes:
            form["scope"] = " ".join(cred.scopes)
        return await self._token_request(form, cred.client_id, cred.client_secret)

    async def refresh(self, refresh_token: str, client_id: str, client_secret: str | None) -> OAuthToken:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self._token_request(form, client_id, client_secret)

    async def exchange_code(
        self,
        code: str,
        *,
        client_id: str,
        redirect_uri: str,
        client_secret: str | None = None,
        code_verifier: str | None = None,
    ) -> OAuthToken:
        """Exchange an authorization code (valid one minute) for a token pair."""
        form = {"grant_type": "authorization_code", "code": _nonempty("code", code), "redirect_uri": _redirect_uri(redirect_uri)}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        return await self._token_request(form, client_id, client_secret)

    async def revoke(
        self,
        token: str,
        *,
        client_id: str,
        client_secret: str | None = None,
        token_type_hint: str | None = None,
    ) -> None:
        """Revoke an access or refresh token (``/o/revoke_token/``, trailing slash kept)."""
        form = {"token": _nonempty("token", token)}
        if token_type_hint:
            form["token_type_hint"] = token_type_hint
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if client_secret is not None:
            headers["Authorization"] = _basic(client_id, client_secret)
        else:
            form["client_id"] = client_id
        request = Request("POST", self.revoke_url, headers, urlencode(form).encode(), self._timeout)
        response = await self._send(request)
        if response.status != 200:
            self._parse_token(response, "revoke", _sent_secrets(form, headers))


# ---------------------------------------------------------------------------
# token source


class TokenSource:
    """Hands out a valid access token, refreshing ahead of expiry with single flight."""

    def __init__(
        self,
        credential: Credential,
        oauth: OAuth,
        *,
        clock: Callable[[], float] = time.monotonic,
        refresh_margin: float = 60.0,
    ) -> None:
        self._credential = credential
        self.on_rotate: Callable[[str], None] | None = None
        """Told each new refresh token as soon as it arrives (before ``on_refresh`` is awaited)."""
        self._oauth = oauth
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at: float | None = None
        self._refresh_token: str | None = None
        self._inflight: asyncio.Future[str] | None = None
        self.token_requests = 0
        if isinstance(credential, BearerToken):
            self._token = credential.token
        elif isinstance(credential, RefreshToken):
            self._token = credential.access_token
            self._expires_at = credential.expires_at
            self._refresh_token = credential.refresh_token

    @property
    def refreshable(self) -> bool:
        return not isinstance(self._credential, BearerToken)

    def cached(self) -> str | None:
        if self._token is not None and not self._expiring():
            return self._token
        return None

    def _expiring(self) -> bool:
        return self._expires_at is not None and self._clock() >= self._expires_at - self._margin

    async def get(self) -> str:
        token = self.cached()
        if token is not None:
            return token
        if not self.refreshable and self._token is not None:
            return self._token
        return await self._refresh()

    async def refresh_after_401(self, used: str | None) -> str | None:
        """The API refused ``used``: get a new token once (shared by concurrent callers)."""
        if not self.refreshable:
            return None
        if self._token is not None and self._token != used and not self._expiring():
            return self._token  # someone already refreshed
        self._token = None
        return await self._refresh()

    async def _refresh(self) -> str:
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._clear)
        return await asyncio.shield(self._inflight)

    async def aclose(self) -> None:
        if self._inflight is not None and not self._inflight.done():
            self._inflight.cancel()
            await asyncio.wait([self._inflight])

    def _clear(self, fut: asyncio.Future[str]) -> None:
        self._inflight = None
        if not fut.cancelled():
            fut.exception()  # retrieved, so no "never retrieved" warning

    async def _fetch(self) -> str:
        cred = self._credential
        self.token_requests += 1
        if isinstance(cred, ClientCredentials):
            token = await self._oauth.client_credentials(cred)
        elif isinstance(cred, RefreshToken):
            if self._refresh_token is None:  # pragma: no cover - constructor guarantees one
                raise AuthError("no refresh token")
            token = await self._oauth.refresh(self._refresh_token, cred.client_id, cred.client_secret)
            if token.refresh_token:
                self._refresh_token = token.refresh_token
                if self.on_rotate is not None:
                    self.on_rotate(token.refresh_token)
            if cred.on_refresh is not None:
                result = cred.on_refresh(token)
                if inspect.isawaitable(result):
                    await result
        else:  # pragma: no cover - BearerToken is not refreshable
            raise AuthError("static bearer token cannot be refreshed")
        self._token = token.access_token
        self._expires_at = token.expires_at
        return token.access_token
