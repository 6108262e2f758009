"""``EvEnergyClient``: the session manager and the one request pipeline every service uses."""

from __future__ import annotations

import asyncio
import enum
import functools
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
from yarl import URL

from ._auth import Credential, OAuth, TokenSource, coerce_credential, grant_key
from ._errors import (
    ClientStateError,
    RateLimitError,
    ResponseDecodeError,
    TransportError,
    UnauthorizedError,
    redact_secrets,
)
from ._models import UNSET, Unset
from ._observe import Hooks, Observer
from ._otel import Tracing, tracing
from ._sansio import (
    DEFAULT_BASE_URL,
    RateLimitState,
    RetryPolicy,
    build_headers,
    check_base_url,
    check_int,
    check_seconds,
    decode_error,
    decode_json,
    error_from_response,
    normalize_user,
    parse_rate_limit,
    validate_path_segment,
)
from ._services import (
    CommandLogs,
    ErrorLogs,
    LocationLogs,
    StatusLogs,
    VehicleCompatibility,
    VehicleMakes,
    VehicleModels,
    VehicleOnboarding,
    Vehicles,
    VehicleTrims,
    VehicleWaitlist,
)
from ._transport import AiohttpTransport, Request, Response, Transport
from ._types import AuthMode, Sleep

if TYPE_CHECKING:
    import aiohttp

__all__ = ["ClientStats", "EvEnergyClient"]

T = TypeVar("T")
S = TypeVar("S")


class _State(enum.Enum):
    UNOPENED = "unopened"
    OPENED = "opened"
    CLOSED = "closed"


@attrs.define
class ClientStats:
    """Counters for run reports: HTTP requests sent, retries by reason, token requests."""

    requests: int = 0
    retries: int = 0
    retry_reasons: dict[str, int] = attrs.field(factory=dict)
    token_requests: int = 0

    def count_retry(self, reason: str) -> None:
        self.retries += 1
        self.retry_reasons[reason] = self.retry_reasons.get(reason, 0) + 1


def _describe(credential: Credential | None) -> str:
    """A credential's kind and public client id, never a secret."""
    if credential is None:
        return "none"
    client_id = getattr(credential, "client_id", None)
    name = type(credential).__name__
    return f"{name}(client_id={client_id!r})" if client_id is not None else name


class _Auth:
    """One credential of a client: its token source and its rate-limit state per acting user.

    The client and its ``as_user``/``with_options`` views share one; ``with_auth`` makes another.
    """

    __slots__ = ("__weakref__", "credential", "rate_limits", "tokens")

    def __init__(self, credential: Credential | None, oauth: OAuth, clock: Callable[[], float]) -> None:
        self.credential = credential
        self.tokens = TokenSource(credential, oauth, clock=clock) if credential else None
        #: last rate-limit headers per acting user (None: the token's own user or the app)
        self.rate_limits: dict[str | None, RateLimitState] = {}


class _Core:
    """What every view of one client shares: transport, lifecycle, OAuth endpoints, counters."""

    def __init__(
        self,
        *,
        transport: Transport,
        base_url: URL,
        api_version: int | str,
        retry: RetryPolicy,
        sleep: Sleep,
        clock: Callable[[], float],
        token_url: URL,
        default_timeout: float | None,
        observer: Observer,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self.origin = base_url.origin()
        self.api_version = api_version
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.state = _State.UNOPENED
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of the first request
        self.stats = ClientStats()
        self.observer = observer
        self.oauth = OAuth(
            self.send_token_request,
            token_url=token_url,
            authorize_url=token_url.join(URL("../authorize/")),
            revoke_url=token_url.join(URL("../revoke_token/")),
            timeout=default_timeout,
            clock=clock,
        )
        #: every credential's auth state still referenced by a view (closed with the client)
        self.auths: weakref.WeakSet[_Auth] = weakref.WeakSet()
        self._by_grant: weakref.WeakValueDictionary[tuple[str, ...], _Auth] = weakref.WeakValueDictionary()

    def auth_for(self, credential: Credential | None) -> _Auth:
        """The auth state of ``credential``: shared by every live view of the same grant
        (:func:`grant_key`: one token source, so that a rotating refresh token is never refreshed
        twice), also under each refresh token it rotates to. ``on_refresh`` is the one of the
        credential that made the state."""
        if credential is None:
            auth = _Auth(None, self.oauth, self.clock)
            self.auths.add(auth)
            return auth
        key = grant_key(credential)
        shared = self._by_grant.get(key)
        if shared is not None:
            return shared
        auth = _Auth(credential, self.oauth, self.clock)
        if auth.tokens is not None:
            auth.tokens.on_rotate = functools.partial(self._rotated, weakref.ref(auth), credential)
        self.auths.add(auth)
        self._by_grant[key] = auth
        return auth

    def _rotated(self, ref: weakref.ref[_Auth], credential: Credential, refresh_token: str) -> None:
        """A view made from the new refresh token (what ``on_refresh`` saved) finds the same state."""
        auth = ref()
        if auth is not None:
            self._by_grant.setdefault(grant_key(credential, refresh_token), auth)

    def same_origin(self, url: URL) -> bool:
        base = self.base_url
        return url.scheme == base.scheme and url.host == base.host and url.port == base.port

    def check_open(self) -> None:
        if self.state is _State.CLOSED:
            raise ClientStateError("the client is closed; create a new one")
        self.state = _State.OPENED
        loop = asyncio.get_running_loop()
        if self.loop is not loop:
            if self.loop is not None:
                # an aiohttp session and its connections belong to the loop that made them
                raise ClientStateError(
                    "the client was first used on another event loop (e.g. an earlier asyncio.run()): "
                    "create one client per event loop, inside the loop that uses it"
                )
            self.loop = loop

    async def send_token_request(self, request: Request) -> Response:
        """Token endpoint calls: retried only when certainly not processed (POST rules)."""
        self.check_open()
        attempt = 0
        route = request.url.path  # a fixed endpoint (/o/token/, /o/revoke_token/): low cardinality
        while True:
            attempt += 1
            try:
                self.stats.requests += 1
                self.stats.token_requests += 1
                response = await self.observer.attempt(self.transport, request, route, attempt)
            except TransportError as exc:
                if attempt < self.retry.max_attempts and self.retry.retry_transport("POST", exc):
                    await self._token_retry(request, route, attempt, type(exc).__name__)
                    continue
                raise
            if response.status == 429 and attempt < self.retry.max_attempts:
                await self._token_retry(request, route, attempt, "429")
                continue
            return response

    async def _token_retry(self, request: Request, route: str, attempt: int, reason: str) -> None:
        delay = self.retry.backoff(attempt)
        self.stats.count_retry(reason)
        await self.observer.retry(request.method, route, request.url, attempt, reason, delay)
        await self.sleep(delay)


def _check_timeout(timeout: object) -> None:
    """``None`` (no limit) or a finite number of seconds > 0; else a clear error now, not at the first request."""
    if timeout is not None:
        check_seconds("timeout", timeout, positive=True, optional="no limit")


class EvEnergyClient:
    """An ev.energy v2 API client; use as ``async with EvEnergyClient(auth=...) as client``.

    It creates its own ``aiohttp.ClientSession`` (and closes it) unless ``session=`` lends one
    (never closed here) or ``transport=`` replaces the network entirely. A closed client
    cannot be reopened. ``as_user()``, ``with_options()`` and ``with_auth()`` return views
    sharing the session, connection pool and lifecycle (``with_auth``: with another credential).
    """

    def __init__(
        self,
        auth: Credential | str | None = None,
        *,
        base_url: str | URL = DEFAULT_BASE_URL,
        api_version: int | str = 2,
        timeout: float | None = 30.0,
        user: str | None = None,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        retry: RetryPolicy | None = None,
        token_url: str | URL | None = None,
        max_connections: int = 100,
        accept_language: str | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
        hooks: Hooks | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        tracer_provider: Any = None,
    ) -> None:
        base = check_base_url(URL(str(base_url)))
        _check_timeout(timeout)
        check_int("max_connections", max_connections, 1)  # aiohttp reads 0 as "no limit"
        if session is not None and transport is not None:
            raise ValueError("pass either session= or transport=, not both")
        if trace_configs is not None and (session is not None or transport is not None):
            raise ValueError("trace_configs= applies to the session the client creates: not with session= or transport=")
        token = URL(str(token_url)) if token_url is not None else base.origin() / "o" / "token/"
        if token_url is not None:
            check_base_url(token)
        self._core = _Core(
            transport=transport
            or AiohttpTransport(session, max_connections=max_connections, trace_configs=trace_configs),
            base_url=base,
            api_version=api_version,
            retry=retry or RetryPolicy(),
            sleep=asyncio.sleep if sleep is None else sleep,
            clock=time.monotonic if clock is None else clock,
            token_url=token,
            default_timeout=timeout,
            observer=Observer(hooks, tracing(tracer_provider)),
        )
        self._auth = self._core.auth_for(coerce_credential(auth))
        self._timeout = timeout
        self._user = normalize_user(user) if user is not None else None
        self._accept_language = accept_language
        self._owner = True
        self._bind_services()

    # -- views -------------------------------------------------------------------

    def _bind_services(self) -> None:
        self._services: dict[Callable[..., Any], Any] = {}  # made on first use: views are cheap

    def _service(self, cls: Callable[[EvEnergyClient], S]) -> S:
        service = self._services.get(cls)
        if service is None:
            service = self._services[cls] = cls(self)
        return cast(S, service)

    @property
    def vehicles(self) -> Vehicles:
        """``/vehicles``: the user's vehicles and their connectors, state of charge, VPP modes."""
        return self._service(Vehicles)

    @property
    def vehicle_trims(self) -> VehicleTrims:
        """``/vehicle_trims``: the catalogue's trims (battery sizes)."""
        return self._service(VehicleTrims)

    @property
    def vehicle_models(self) -> VehicleModels:
        """``/vehicle_models``: the catalogue's models and their per-region connectors."""
        return self._service(VehicleModels)

    @property
    def vehicle_makes(self) -> VehicleMakes:
        """``/vehicle_makes``: the catalogue's makes."""
        return self._service(VehicleMakes)

    @property
    def status_logs(self) -> StatusLogs:
        """``/vehicles/{id}/status_logs``: a vehicle's status logs, newest first."""
        return self._service(StatusLogs)

    @property
    def location_logs(self) -> LocationLogs:
        """``/vehicles/{id}/location_logs``: a vehicle's location logs, newest first."""
        return self._service(LocationLogs)

    @property
    def command_logs(self) -> CommandLogs:
        """``/vehicles/{id}/command_logs``: commands sent to a vehicle (needs ``debug:read``)."""
        return self._service(CommandLogs)

    @property
    def error_logs(self) -> ErrorLogs:
        """``/vehicles/{id}/error_logs``: a vehicle's API error logs, newest first."""
        return self._service(ErrorLogs)

    @property
    def vehicle_onboarding(self) -> VehicleOnboarding:
        """``/vehicle_onboarding``: connect a user's vehicle through its maker's login."""
        return self._service(VehicleOnboarding)

    @property
    def vehicle_compatibility(self) -> VehicleCompatibility:
        """``/vehicle_compatibility/check``: can this model be smart-charged here?"""
        return self._service(VehicleCompatibility)

    @property
    def vehicle_waitlist(self) -> VehicleWaitlist:
        """``/vehicle_waitlist``: register interest in a vehicle not yet supported."""
        return self._service(VehicleWaitlist)

    def with_options(
        self,
        *,
        timeout: float | Unset | None = UNSET,
        user: str | Unset | None = UNSET,
        accept_language: str | Unset | None = UNSET,
    ) -> EvEnergyClient:
        """A view with other per-call options (``UNSET``: this client's), sharing its session and credentials."""
        view = object.__new__(EvEnergyClient)
        view._core = self._core
        view._auth = self._auth
        if not isinstance(timeout, Unset):
            _check_timeout(timeout)
        view._timeout = self._timeout if isinstance(timeout, Unset) else timeout
        view._user = (
            self._user if isinstance(user, Unset) else (normalize_user(user) if user is not None else None)
        )
        view._accept_language = (
            self._accept_language if isinstance(accept_language, Unset) else accept_language
        )
        view._owner = False
        view._bind_services()
        return view

    def as_user(self, user: str) -> EvEnergyClient:
        """A view acting for one user (``EvEnergy-User``: a user ID or the user's URL)."""
        return self.with_options(user=user)

    def with_auth(self, credential: Credential | str) -> EvEnergyClient:
        """A view with its own credential, sharing this client's session and connection pool.

        ``credential``: a token string, ``BearerToken``, ``ClientCredentials`` or
        ``RefreshToken``. The view has its own token source (fetches, refreshes) and its own
        rate-limit state per acting user, shared only with views of an equal credential; its
        options (timeout, user, language) are this client's. Views compose
        (``client.with_auth(c).as_user(u)``) and live as long as the client: closing the
        client ends them all, and a view cannot be closed on its own.
        """
        if credential is None:
            raise TypeError("with_auth needs a credential (a token string or a credential object)")
        view = self.with_options()
        view._auth = self._core.auth_for(coerce_credential(credential))
        return view

    # -- lifecycle ----------------------------------------------------------------

    async def __aenter__(self) -> EvEnergyClient:
        if not self._owner:
            raise ClientStateError("a view cannot be opened; open the client it came from")
        if self._core.state is _State.CLOSED:
            raise ClientStateError("the client is closed and cannot be reopened")
        self._core.state = _State.OPENED
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the client (and its session, if it created it). Idempotent."""
        if not self._owner or self._core.state is _State.CLOSED:
            return
        self._core.state = _State.CLOSED
        for auth in list(self._core.auths):
            if auth.tokens is not None:
                await auth.tokens.aclose()
        await self._core.transport.aclose()

    @property
    def is_closed(self) -> bool:
        """Whether the client (and so every view of it) is closed."""
        return self._core.state is _State.CLOSED

    # -- state ----------------------------------------------------------------------

    @property
    def base_url(self) -> URL:
        """The API base URL (``.../v2``); credentials only ever go to its origin."""
        return self._core.base_url

    def _same_origin(self, url: URL) -> bool:
        """Whether ``url`` is on the API's origin (the only place credentials go)."""
        return self._core.same_origin(url)

    @property
    def rate_limit(self) -> RateLimitState | None:
        """The rate-limit headers of the last response seen for this client's acting user."""
        return self._auth.rate_limits.get(self._user)

    @property
    def stats(self) -> ClientStats:
        """Counters shared by the client and all its views (token requests: to the token endpoint)."""
        return self._core.stats

    @property
    def retry_policy(self) -> RetryPolicy:
        """When and how long requests are retried (``retry=`` of the constructor)."""
        return self._core.retry

    @property
    def oauth(self) -> OAuth:
        """The OAuth endpoints: ``authorization_url``, ``exchange_code``, ``revoke``."""
        return self._core.oauth

    def __repr__(self) -> str:
        kind = "EvEnergyClient" if self._owner else "EvEnergyClient view"
        parts = [str(self._core.base_url), self._core.state.value]
        if self._user:
            parts.append(f"user={self._user!r}")
        parts.append(f"auth={_describe(self._auth.credential)}")
        return f"<{kind} {' '.join(parts)}>"

    # -- the pipeline -------------------------------------------------------------

    def _url(self, *segments: str) -> URL:
        """``base_url`` joined with path segments (each checked again: no ``/``, ``..``, ``%``, ``?``, ``#``)."""
        return self._core.base_url.joinpath(*map(validate_path_segment, segments))

    async def _token_for(self, url: URL, auth: AuthMode) -> str | None:
        tokens = self._auth.tokens
        if tokens is None or not self._core.same_origin(url):
            return None  # credentials only ever go to the configured API origin
        if auth == "optional":
            return tokens.cached()
        return await tokens.get()

    @property
    def _tracing(self) -> Tracing | None:
        """The client's tracing, when spans go anywhere (``opentelemetry-api`` and a provider)."""
        tracing = self._core.observer.tracing
        return tracing if tracing is not None and tracing.active() else None

    async def _call(
        self,
        method: str,
        url: URL,
        decode: Callable[[Response], T],
        *,
        params: Sequence[tuple[str, str]] | None = None,
        body: bytes | None = None,
        auth: AuthMode = "required",
        route: str | None = None,
    ) -> T:
        """Send one API request with retries, refresh-on-401 and rate-limit tracking.

        ``decode`` turns the successful response into the result; a body that is not JSON
        (or a malformed ``Link``) on a GET counts as a transient failure and is retried.
        ``route`` is the operation's templated path (``/vehicles/{vehicle_id}``) for hooks,
        spans and logs.
        """
        core = self._core
        core.check_open()
        if params:
            url = url.extend_query(params)
        retry = core.retry
        attempt = 0
        sends = 0  # attempts actually sent, refreshes included (spans' resend count)
        refreshed = False
        observer = core.observer
        while True:
            attempt += 1
            sends += 1
            token = await self._token_for(url, auth)
            headers = build_headers(
                api_version=core.api_version,
                token=token,
                user=self._user,
                has_body=body is not None,
                accept_language=self._accept_language,
            )
            request = Request(method, url, headers, body, self._timeout)
            core.stats.requests += 1
            try:
                response = await observer.attempt(core.transport, request, route, sends)
            except TransportError as exc:
                if attempt < retry.max_attempts and retry.retry_transport(method, exc):
                    await self._backoff(attempt, type(exc).__name__, method, url, route, sends)
                    continue
                raise
            state = parse_rate_limit(response.headers, core.clock())
            if state is not None:
                self._auth.rate_limits[self._user] = state
            status = response.status
            if 200 <= status < 300:
                try:
                    return decode(response)
                except ResponseDecodeError as exc:
                    if exc.transient and attempt < retry.max_attempts and retry.retry_decode(method):
                        await self._backoff(attempt, "invalid-body", method, url, route, sends)
                        continue
                    raise
            error = redact_secrets(error_from_response(method, url, status, response.headers, response.body), (token,))
            tokens = self._auth.tokens
            if isinstance(error, UnauthorizedError) and not refreshed and tokens is not None:
                refreshed = True
                if token is not None and await tokens.refresh_after_401(token) is not None:
                    attempt -= 1  # the refresh retry does not spend a retry attempt
                    continue
            if attempt < retry.max_attempts and retry.retry_status(method, status):
                if isinstance(error, RateLimitError) and error.retry_after is not None:
                    if error.retry_after > retry.retry_after_cap:
                        raise error
                    core.stats.count_retry(str(status))
                    await observer.retry(method, route, url, sends, str(status), error.retry_after)
                    await core.sleep(error.retry_after)
                    continue
                await self._backoff(attempt, str(status), method, url, route, sends)
                continue
            raise error

    async def _backoff(
        self, attempt: int, reason: str, method: str, url: URL, route: str | None, sends: int
    ) -> None:
        delay = self._core.retry.backoff(attempt)
        self._core.stats.count_retry(reason)
        await self._core.observer.retry(method, route, url, sends, reason, delay)
        await self._core.sleep(delay)

    # -- decoding helpers (used by services) --------------------------------------

    @staticmethod
    def _json_of(response: Response, method: str) -> Any:
        try:
            return decode_json(response.body)
        except ValueError as exc:
            err = decode_error(
                f"response body is not valid JSON: {exc}",
                method=method,
                url=response.url,
                status=response.status,
            )
            err.transient = True
            raise err from exc

