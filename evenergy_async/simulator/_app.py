"""The aiohttp.web application and the ``Simulator`` that runs it."""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
from bisect import bisect_left, bisect_right
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote_plus

import attrs
from aiohttp import web
from multidict import MultiMapping
from yarl import URL

from . import _catalogue as cat
from ._auth import DEFAULT_SCOPES, KNOWN_SCOPES, TokenInfo, TokenStore, pkce_matches
from ._config import SimulatorConfig, SimulatorStats
from ._data import (
    ANON,
    AuthorizationRequest,
    DataSet,
    Expand,
    Json,
    ModelConnector,
    RenderCtx,
    Vehicle,
    now_us,
)
from ._faults import FaultConfig, FaultEvent, FaultInjector
from ._ops import (
    LOG_FILTER_FIELD,
    LOG_SEGMENTS,
    OAUTH_OPERATIONS,
    OPERATIONS,
    ROUTE_ERROR_OP,
    UNKNOWN_ENUM_VALUES,
    Op,
)
from ._problems import PROBLEM_BASE, ProblemError, bad_query, not_found
from ._ratelimit import Decision, RateLimiter
from ._validate import MISSING, Body, id_pattern
from ._wire import derive_token, dumps, encode_query, format_us, loads, parse_ts, uuid_from_int

__all__ = ["Simulator"]

T = TypeVar("T")
Handler = Callable[[web.Request, "Ctx"], Awaitable[web.StreamResponse]]

BASE_PATH = "/v2"
JSON = "application/json"
PROBLEM = "application/problem+json"
API_VERSION = "2"

VEHICLE_EXPANDS = frozenset({"user", "trim", "trim.model", "trim.model.make", "latest_status_log"})
LOG_EXPANDS = frozenset(
    {"vehicle", "vehicle.trim", "vehicle.trim.model", "vehicle.trim.model.make", "vehicle.user"}
)
TRIM_EXPANDS = frozenset({"model", "model.make"})
MODEL_EXPANDS = frozenset({"make"})

ID_RE = {p: id_pattern(p) for p in ("vhcl", "vmak", "vmod", "trim", "user", "prog")}
ANY_ID_RE = id_pattern("[a-z]{4}")
CURSOR_PARAMS = ("page_after", "page_before", "page", "page_size")
TS_PARAMS = frozenset(
    {"sampled_at__gte", "sampled_at__lte", "logged_at__gte", "logged_at__lte", "page_after",
     "page_before"}
)
ONBOARDING_PROVIDER = "https://connect.smartcar.com/oauth/authorize"
ONBOARDING_START = "https://app.ev.energy/vehicle-onboarding/start/"
REDIRECT_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "drivers.ev.energy", "example.com"})
AUTH_REQUEST_TTL = 600.0
_DROPPED = 599  # placeholder status of a response that is never sent
_LATE_FAULTS = frozenset({"drop_after_processing", "drop_mid_body", "truncated_json", "invalid_json", "malformed_link",
                          "unknown_fields", "unknown_enum", "repeat_record"})


@attrs.define
class Ctx:
    """What the pipeline learned about a request before the handler runs."""

    op: Op
    token: TokenInfo | None
    user_id: str | None  # effective end user (token's user or EvEnergy-User)
    render: RenderCtx
    fault: str | None = None
    fault_n: int = 0
    fault_forced: bool = False
    fault_applied: bool = False

    def sees(self, v: Vehicle) -> bool:
        if self.token is None:
            return False
        return self.user_id is None or v.user_id == self.user_id


def _json(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(obj), status=status, content_type=JSON, headers=headers)


def _bytes(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


def _replace_body(resp: web.Response, body: bytes) -> web.Response:
    """The same answer (status, headers, content type) with another body."""
    new = web.Response(body=body, status=resp.status, content_type=resp.content_type)
    for k, v in resp.headers.items():
        if k.lower() not in ("content-length", "content-type"):
            new.headers.add(k, v)
    return new


def _expand_tree(values: Sequence[str], allowed: frozenset[str]) -> Expand:
    tree: Expand = {}
    bad: list[str] = []
    for raw in values:
        for item in raw.split(","):
            item = item.strip()
            if not item:
                continue
            if item not in allowed:
                bad.append(item)
                continue
            node = tree
            for part in item.split("."):
                node = node.setdefault(part, {})
    if bad:
        raise bad_query(
            {"expand": [f'"{b}" is not a valid choice; use one of {sorted(allowed)}.' for b in bad]}
        )
    return tree


class Simulator:
    """A faithful, seeded, in-memory ev.energy v2 (vehicles) server on aiohttp.web.

    ``async with Simulator(SimulatorConfig(...)) as sim:`` starts it on a free loopback port;
    ``sim.base_url`` is then ``http://127.0.0.1:PORT/v2``.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self.data = DataSet(self.config)
        self.stats = SimulatorStats()
        self.fault_log: list[FaultEvent] = []
        self._tokens = TokenStore(self.config.seed, self.config.clock, self.config.token_ttl)
        self._user_tokens: list[str] = []
        for i, uid in enumerate(self.data.users_by_id):
            token = "simu" + derive_token(self.config.seed, "user-token", i, length=36)
            self._tokens.add_static(token, uid)
            self._user_tokens.append(token)
        self._limiter = RateLimiter(self.config.rate_window, self.config.clock)
        self._faults = FaultInjector(self.config.faults)
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._base: URL | None = None
        self._origin = ""
        self._closing: asyncio.Event | None = None
        self._page_cache: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[bytes, str]] = {}
        self._page_cache_version = -1
        self._runtime_cache_bytes = 0
        self._closed = False

    # ------------------------------------------------------------------ public API
    @property
    def base_url(self) -> URL:
        if self._base is None:
            raise RuntimeError("the simulator is not started: use start() or `async with`")
        return self._base

    @property
    def origin(self) -> URL:
        return self.base_url.origin()

    @property
    def token_url(self) -> URL:
        return self.origin / "o" / "token" / ""

    @property
    def client_id(self) -> str:
        return self._tokens.client_id

    @property
    def client_secret(self) -> str:
        return self._tokens.client_secret

    @property
    def faults(self) -> FaultConfig | None:
        return self._faults.config

    def user_token(self, user_index: int) -> str:
        """A static bearer token of end user ``user_index`` (one rate-limit bucket per user)."""
        return self._user_tokens[user_index]

    def user_id(self, user_index: int) -> str:
        return list(self.data.users_by_id)[user_index]

    def issue_token(
        self,
        user_id: str | None = None,
        *,
        scopes: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Issue a token as the token endpoint would (refreshable when ``user_id`` is set)."""
        if user_id is not None and user_id not in self.data.users_by_id:
            raise KeyError(user_id)
        scope_set = frozenset(scopes) if scopes is not None else DEFAULT_SCOPES
        info = self._tokens.issue(self.client_id, user_id, scope_set, user_id is not None)
        return self._token_body(info)

    def expire_token(self, token: str) -> None:
        """Kill an access token: its next use answers 401."""
        if not self._tokens.kill(token):
            raise KeyError("unknown token")

    def add_logs(
        self, kind: str, vehicle_id: str, n: int, *, after: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Append ``n`` logs newer than the existing ones; returns them newest first."""
        out = self.data.add_logs(kind, vehicle_id, n, after=after)
        self._page_cache.clear()
        return out

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault configuration (counters restart: a new replayable sequence)."""
        self.config.faults = faults
        self._faults = FaultInjector(faults)

    def inject_fault(self, kind: str, *, count: int = 1, path: str | None = None) -> None:
        """Force ``kind`` on the next ``count`` requests it applies to (whatever the rate).

        ``path`` restricts to request paths starting with it (e.g. ``"/v2/vehicles"``); the
        token endpoint is only hit when ``path`` names it (``"/o/token/"``).
        """
        self._faults.force(kind, count, path)

    def reset_faults(self) -> None:
        """Forget per-path request counters and pending forced faults (replay from scratch)."""
        self._faults.reset()

    def reset_rate_limits(self) -> None:
        self._limiter.reset()

    def app(self) -> web.Application:
        """The aiohttp application (created once)."""
        if self._app is None:
            self._app = self._build_app()
        return self._app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> URL:
        """Serve on ``host:port`` (0: a free port); returns the base URL ``.../v2``."""
        if self._runner is not None:
            raise RuntimeError("already started")
        if self._closed:
            raise RuntimeError("a closed simulator cannot be restarted")
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            self.app(), handle_signals=False, access_log=None, handler_cancellation=True,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound = runner.addresses[0]
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        url_host = f"[{host}]" if ":" in host else host
        self._set_base(f"http://{url_host}:{bound[1]}{BASE_PATH}")
        if self.config.precompute_pages:
            self._precompute()
        return self.base_url

    async def close(self) -> None:
        """Stop serving; stalled requests are released; idempotent."""
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = str(self._base) if self._base is not None else "not started"
        return (f"<Simulator {where} seed={self.config.seed} users={self.config.users} "
                f"vehicles={self.config.vehicles}>")

    # ------------------------------------------------------------------ plumbing
    def _set_base(self, base: str) -> None:
        self._base = URL(base)
        self._origin = str(self._base.origin())
        self.data.rebase(base)
        self._page_cache.clear()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._route_errors], client_max_size=1024**2)
        handlers: dict[str, Handler] = {
            "get-vehicles-vehicle_id-connectors": self._get_connectors,
            "patch-vehicles-vehicle_id-connectors": self._patch_connectors,
            "get-vehicles-vehicle_id-state_of_charge": self._get_soc,
            "patch-vehicles-vehicle_id-state_of_charge": self._patch_soc,
            "get-vehicles": self._list_vehicles,
            "post-vehicles": self._create_vehicle,
            "get-vehicles-vehicle_id": self._get_vehicle,
            "patch-vehicles": self._patch_vehicle,
            "delete-vehicles": self._delete_vehicle,
            "get-vehicle_trims": self._list_trims,
            "post-vehicle_trims": self._create_trim,
            "get-vehicle_trims-vehicle_trim_id": self._get_trim,
            "get-vehicle_models": self._list_models,
            "post-vehicle_models": self._create_model,
            "get-vehicle_models-vehicle_model_id-connectors": self._list_model_connectors,
            "post-vehicle_models-vehicle_model_id-connectors": self._create_model_connector,
            "get-vehicle_models-vehicle_model_id-connectors-region": self._get_model_connector,
            "patch-vehicle_models-vehicle_model_id-connectors-region": self._patch_model_connector,
            "get-vehicle_models-vehicle_model_id": self._get_model,
            "patch-vehicle_models-vehicle_model_id": self._patch_model,
            "get-vehicle_makes": self._list_makes,
            "get-vehicle_makes-vehicle_make_id": self._get_make,
            "get-vehicles-vehicle_id-vpp_modes": self._get_vpp,
            "get-vehicle_onboarding": self._onboarding,
            "post-vehicle_onboarding-complete": self._onboarding_complete,
            "post-vehicle_onboarding-onboarding_link": self._onboarding_link,
            "get-vehicle_compatibility-check": self._compatibility,
            "post-vehicle_waitlist": self._waitlist,
            "post-vehicles-vehicle_id-reconnect": self._reconnect,
            "post-vehicles-vehicle_id-disconnect": self._disconnect,
            "oauth-token": self._oauth_token,
            "oauth-authorize": self._oauth_authorize,
            "oauth-revoke": self._oauth_revoke,
        }
        for op in OPERATIONS:
            fn = self._log_list if op.is_log_list else (
                self._log_get if op.log_kind is not None else handlers[op.operation_id])
            route = partial(self._pipeline, op=op, fn=fn)
            path = BASE_PATH + op.path
            app.router.add_route(op.method, path, route)
            app.router.add_route(op.method, path + "/", route)
        for op in OAUTH_OPERATIONS:
            route = partial(self._pipeline, op=op, fn=handlers[op.operation_id])
            app.router.add_route(op.method, op.path, route)
            app.router.add_route(
                "*", op.path.rstrip("/"),
                partial(self._pipeline, op=ROUTE_ERROR_OP, fn=self._no_trailing_slash),
            )
        return app

    @web.middleware
    async def _route_errors(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        exc = request.match_info.http_exception
        if exc is not None:
            return await self._pipeline(
                request, op=ROUTE_ERROR_OP, fn=partial(self._route_error, exc)
            )
        return await handler(request)

    def _kind_of(self, op: Op) -> str:
        if op.log_kind is not None:
            return LOG_SEGMENTS[op.log_kind]
        for g in ("vehicles", "catalogue", "onboarding", "token", "authorize", "revoke"):
            if g in op.groups:
                return g
        return "other"

    async def _pipeline(self, request: web.Request, *, op: Op, fn: Handler) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        stats.by_operation[op.operation_id] += 1
        stats.by_kind[self._kind_of(op)] += 1
        if self._base is None:  # served through app() without start(): learn the origin
            self._set_base(f"{request.scheme}://{request.host}{BASE_PATH}")
        if self._closing is None:
            self._closing = asyncio.Event()
        if self.config.latency > 0:
            await asyncio.sleep(self.config.latency)
        if op.oauth:
            return await self._oauth_pipeline(request, op, fn)

        headers: dict[str, str] = {"EvEnergy-Version": API_VERSION}
        ctx: Ctx | None = None
        try:
            token, presented = self._authenticate(request)
            if token is None:
                anon = self._limiter.peek(("anon", request.remote),
                                          self.config.anonymous_rate_limit)
                self._rl_headers(headers, anon)
                if not op.public:
                    raise self._unauthorized(presented)
                decision = self._limiter.hit(("anon", request.remote),
                                             self.config.anonymous_rate_limit)
            else:
                decision = self._limiter.hit(token.bucket, self.config.rate_limit)
            self._rl_headers(headers, decision)
            if not decision.allowed:
                stats.rate_limited += 1
                raise self._too_many(decision.retry_after)
            self._check_accept(request)
            self._check_version(request)
            if op.scope and token is not None and op.scope not in token.scopes:
                raise ProblemError(
                    403, f"This action requires the {op.scope} scope.", title="Forbidden"
                )
            ctx = self._context(request, op, token)
            if self._decide_fault(request, ctx, token):
                early = await self._early_fault(request, ctx, headers)
                if early is not None:
                    return early
            resp = await fn(request, ctx)
        except ProblemError as exc:
            resp = self._problem(request, exc)
        resp.headers.update(headers)
        if ctx is not None and ctx.fault is not None and not ctx.fault_applied:
            resp = await self._late_fault(request, ctx, resp)
        if resp.status != _DROPPED:
            stats.by_status[resp.status] += 1
        return resp

    def _authenticate(self, request: web.Request) -> tuple[TokenInfo | None, bool]:
        auth = request.headers.get("Authorization")
        if not auth:
            return None, False
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, True
        return self._tokens.lookup(value.strip()), True

    def _unauthorized(self, presented: bool) -> ProblemError:
        if presented:
            return ProblemError(
                401, "The access token is invalid, expired or revoked.", title="Unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
            )
        return ProblemError(
            401, "Authentication credentials were not provided.", title="Unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="api"'},
        )

    def _too_many(self, retry_after: int) -> ProblemError:
        return ProblemError(
            429, f"Request was rate limited. Try again in {retry_after} seconds",
            title="Too Many Requests", type_=f"{PROBLEM_BASE}rate-limit-exceeded/",
            headers={"Retry-After": str(retry_after)},
        )

    @staticmethod
    def _rl_headers(headers: dict[str, str], d: Decision) -> None:
        headers["X-RateLimit-Limit"] = str(d.limit)
        headers["X-RateLimit-Remaining"] = str(d.remaining)

    @staticmethod
    def _check_accept(request: web.Request) -> None:
        accept = request.headers.get("Accept")
        if not accept:
            return
        for item in accept.split(","):
            media, _, params = item.strip().partition(";")
            media = media.strip().lower()
            if "q=0" in params.replace(" ", "") and "q=0." not in params.replace(" ", ""):
                continue
            if media in ("*/*", "application/*", JSON, PROBLEM, ""):
                return
        raise ProblemError(406, "Could not satisfy the request Accept header.",
                           title="Not Acceptable")

    @staticmethod
    def _check_version(request: web.Request) -> None:
        raw = request.headers.get("EvEnergy-Version")
        if raw is None:
            return
        try:
            ok = float(raw.strip()) == 2.0 and math.isfinite(float(raw.strip()))
        except ValueError:
            ok = False
        if not ok:
            raise ProblemError(
                400, f"Unsupported version requested: {raw.strip()[:32]}",
                title="Unsupported version", type_=f"{PROBLEM_BASE}unsupported-version/",
            )

    def _context(self, request: web.Request, op: Op, token: TokenInfo | None) -> Ctx:
        user_id: str | None = None
        if token is not None and token.user_id is not None:
            user_id = token.user_id
        else:
            raw = request.headers.get("EvEnergy-User")
            if raw is not None and raw.strip():
                user_id = self._parse_user(raw.strip(), "EvEnergy-User")
        render = RenderCtx(token.client_id if token is not None else None, user_id)
        return Ctx(op, token, user_id, render)

    def _parse_user(self, raw: str, field: str) -> str:
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
        if candidate not in self.data.users_by_id:
            raise ProblemError(
                400, "The user does not exist or is not accessible.", title="Invalid user",
                type_=f"{PROBLEM_BASE}invalid-user/",
                field_errors={field: ["User does not exist."]},
            )
        return candidate

    def _problem(self, request: web.Request, exc: ProblemError) -> web.Response:
        instance = f"{self._origin}{request.path}" if self._origin else None
        return web.Response(
            body=dumps(exc.body(instance)), status=exc.status, content_type=PROBLEM,
            headers=exc.headers or None,
        )

    # ------------------------------------------------------------------ faults
    def _decide_fault(self, request: web.Request, ctx: Ctx, token: TokenInfo | None) -> bool:
        decision = self._faults.decide(
            ctx.op, request.path, request.query, token is not None and token.refreshable
        )
        if decision is None:
            return False
        ctx.fault, ctx.fault_n, ctx.fault_forced = decision
        return True

    def _record_fault(self, request: web.Request, ctx: Ctx) -> None:
        """Count the request's fault (once it really happened)."""
        kind = ctx.fault
        assert kind is not None
        ctx.fault_applied = True
        self.stats.faults_injected[kind] += 1
        self.fault_log.append(FaultEvent(
            len(self.fault_log), kind, request.method, request.path, request.query_string,
            ctx.fault_n, ctx.fault_forced,
        ))

    async def _early_fault(
        self, request: web.Request, ctx: Ctx, headers: dict[str, str]
    ) -> web.StreamResponse | None:
        """Faults that replace the answer; the others are applied after the handler."""
        kind = ctx.fault
        if kind in _LATE_FAULTS:
            return None
        self._record_fault(request, ctx)
        if kind == "stall":
            await self._stall()
            return None
        resp: web.StreamResponse
        if kind == "http_500":
            resp = self._problem(request, ProblemError(
                500, "A server error occurred.", title="Internal Server Error",
                type_=f"{PROBLEM_BASE}server-error/"))
        elif kind in ("http_502", "http_503"):
            status = 502 if kind == "http_502" else 503
            text = "Bad Gateway" if status == 502 else "Service Unavailable"
            resp = web.Response(
                status=status, content_type="text/html",
                text=f"<html><head><title>{status} {text}</title></head><body><center><h1>"
                     f"{status} {text}</h1></center></body></html>\n")
        elif kind in ("rate_limit_short", "rate_limit_long"):
            cfg = self._faults.config
            seconds = (cfg.short_retry_after if cfg else 1) if kind == "rate_limit_short" \
                else (cfg.long_retry_after if cfg else 3600)
            resp = self._problem(request, self._too_many(seconds))
            headers["X-RateLimit-Remaining"] = "0"
        elif kind == "token_expiry":
            if ctx.token is not None:
                self._tokens.kill(ctx.token.token)
            resp = self._problem(request, self._unauthorized(True))
        elif kind == "drop_before_response":
            return self._drop(request)
        else:  # pragma: no cover - every kind is handled
            raise AssertionError(kind)
        resp.headers.update(headers)
        self.stats.by_status[resp.status] += 1
        return resp

    def _drop(self, request: web.Request) -> web.Response:
        """Close the connection without answering (aiohttp then finds it closed)."""
        self.stats.dropped += 1
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=_DROPPED)

    async def _stall(self) -> None:
        cfg = self._faults.config
        seconds = cfg.stall_seconds if cfg is not None else 30.0
        closing = self._closing
        assert closing is not None
        try:
            async with asyncio.timeout(seconds):
                await closing.wait()
        except TimeoutError:
            pass

    async def _late_fault(
        self, request: web.Request, ctx: Ctx, resp: web.StreamResponse
    ) -> web.StreamResponse:
        kind = ctx.fault
        assert kind is not None
        if not isinstance(resp, web.Response):  # pragma: no cover - handlers return Response
            return resp
        if kind == "repeat_record":
            return resp  # the log-list handler applies it (nothing to repeat otherwise)
        if kind == "drop_after_processing":
            self._record_fault(request, ctx)
            return self._drop(request)
        body = resp.body if isinstance(resp.body, bytes) else b""
        if kind == "malformed_link":
            link = resp.headers.get("Link")
            if link is None or resp.status >= 400:
                return resp
            variants = (
                link.replace(">", "", 1),
                link.replace("<", "").replace(">", ""),
                link.replace('rel="next"', "rel=").replace('rel="previous"', "rel"),
                '<<about:blank>>;;; rel="next, <' + link[:20],
            )
            resp.headers["Link"] = variants[len(self.fault_log) % len(variants)]
            self._record_fault(request, ctx)
            return resp
        if kind in ("unknown_fields", "unknown_enum"):
            if resp.status >= 400 or not body:
                return resp
            data = loads(body)
            items = data if isinstance(data, list) else [data]
            changed = False
            for item in items:
                if not isinstance(item, dict):
                    continue
                if kind == "unknown_fields":
                    item["x_simulator_extra"] = {"nested": [1, 2, {"deep": None}], "n": 1.5}
                    item["firmware_version"] = "2026.44.1"
                    changed = True
                else:
                    for fld in ctx.op.enum_fields:
                        if fld in item:
                            item[fld] = UNKNOWN_ENUM_VALUES[fld]
                            changed = True
            if changed:
                self._record_fault(request, ctx)
                return _replace_body(resp, dumps(data))
            return resp
        if kind == "truncated_json":
            self._record_fault(request, ctx)
            return _replace_body(resp, body[: max(1, len(body) * 2 // 3)] if body else b"[")
        if kind == "invalid_json":
            self._record_fault(request, ctx)
            return _replace_body(
                resp, b"<!DOCTYPE html><html><body><h1>Upstream hiccup</h1></body></html>")
        if kind == "drop_mid_body":
            self._record_fault(request, ctx)
            self.stats.dropped += 1
            stream = web.StreamResponse(status=resp.status, headers=resp.headers)
            stream.content_type = resp.content_type
            stream.content_length = len(body)
            await stream.prepare(request)
            if len(body) > 1:
                await stream.write(body[: len(body) // 2])
            if request.transport is not None:
                request.transport.close()
            return stream
        return resp

    # ------------------------------------------------------------------ shared helpers
    def _vehicle(self, request: web.Request, ctx: Ctx) -> Vehicle:
        vid = request.match_info["vehicle_id"]
        v = self.data.vehicles_by_id.get(vid) if ID_RE["vhcl"].fullmatch(vid) else None
        if v is None or not ctx.sees(v):
            raise not_found("Vehicle does not exist or cannot be accessed.")
        return v

    async def _body(self, request: web.Request, *, allow_empty: bool = False) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise ProblemError(413, "The request body is too large.",
                               title="Payload Too Large") from None
        if not raw.strip():
            if allow_empty:
                return {}
            raise ProblemError(400, "A JSON object body is required.", title="Invalid body",
                               type_=f"{PROBLEM_BASE}parse-error/")
        try:
            data = loads(raw)
        except ValueError as exc:
            raise ProblemError(400, "JSON parse error.", title="Invalid body",
                               type_=f"{PROBLEM_BASE}parse-error/") from exc
        if not isinstance(data, dict):
            raise ProblemError(
                400, f"Invalid data. Expected a dictionary, but got {type(data).__name__}.",
                title="Invalid body", type_=f"{PROBLEM_BASE}parse-error/",
                field_errors={"non_field_errors": ["Expected a JSON object."]},
            )
        return data

    @staticmethod
    def _page_size(query: MultiMapping[str]) -> int:
        raw = query.get("page_size")
        if raw is None:
            return 25
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= 100:
            raise bad_query({"page_size": ["Must be an integer between 1 and 100."]},
                            pagination=True)
        return size

    @staticmethod
    def _ts_query(query: MultiMapping[str], name: str, *, pagination: bool = False) -> int | None:
        raw = query.get(name)
        if raw is None:
            return None
        try:
            return parse_ts(raw)
        except ValueError:
            raise bad_query(
                {name: ["Enter a valid date/time (RFC 3339, e.g. 2026-11-01T09:39:45.984584Z)."]},
                pagination=pagination,
            ) from None

    def _links(
        self,
        request: web.Request,
        path: str,
        size: int,
        prev: tuple[str, str] | None,
        nxt: tuple[str, str] | None,
    ) -> str:
        keep = [
            (k, v.replace(" ", "+") if k in TS_PARAMS else v)
            for k, v in request.query.items() if k not in CURSOR_PARAMS
        ]
        keep.append(("page_size", str(size)))
        base = f"{self._origin}{BASE_PATH}{path}?"
        prev_url = base + encode_query([*keep, prev]) if prev else "about:blank"
        next_url = base + encode_query([*keep, nxt]) if nxt else "about:blank"
        return f'<{prev_url}>; rel="previous", <{next_url}>; rel="next"'

    def _id_page(
        self,
        request: web.Request,
        items: list[T],
        ids: list[str],
        size: int,
        by_id: bool,
    ) -> tuple[list[T], str | None, str | None]:
        """Cursor pagination by resource ID; ``by_id``: ``ids`` is sorted ascending."""
        q = request.query
        after, before = q.get("page_after"), q.get("page_before")
        if after is not None and before is not None:
            raise bad_query({"page_after": ["Use either page_after or page_before."]},
                            pagination=True)
        cursor = after if after is not None else before
        if cursor is not None and not ANY_ID_RE.fullmatch(cursor):
            raise bad_query({"page_after" if after is not None else "page_before":
                            ["Not a valid cursor."]}, pagination=True)
        def position(c: str, right: bool) -> int:
            if by_id:
                return bisect_right(ids, c) if right else bisect_left(ids, c)
            try:
                i = ids.index(c)
            except ValueError:
                raise bad_query({"page_after" if after is not None else "page_before":
                                ["Cursor does not match an item of this list."]},
                                pagination=True) from None
            return i + 1 if right else i

        if after is not None:
            start = position(after, True)
            end = min(len(items), start + size)
        elif before is not None:
            end = position(before, False)
            start = max(0, end - size)
        else:
            start, end = 0, min(len(items), size)
        # page_before=<first id>: the items strictly before; page_after=<last id>: after.
        prev_c = ids[start] if 0 < start < end else None
        next_c = ids[end - 1] if start < end < len(ids) else None
        return items[start:end], prev_c, next_c

    def _list_response(
        self,
        request: web.Request,
        path: str,
        body: Any,
        size: int,
        prev: str | None,
        nxt: str | None,
    ) -> web.Response:
        link = self._links(
            request, path, size,
            ("page_before", prev) if prev else None,
            ("page_after", nxt) if nxt else None,
        )
        return _json(body, headers={"Link": link})

    # ------------------------------------------------------------------ logs
    def _precompute(self) -> None:
        self.data.materialize_all()
        for vid in list(self.data.vehicles_by_id):
            for kind, seg in LOG_SEGMENTS.items():
                path = f"{BASE_PATH}/vehicles/{vid}/{seg}"
                after: int | None = None
                while True:
                    query: list[tuple[str, str]] = [("page_size", "100")]
                    if after is not None:
                        query.append(("page_after", format_us(after)))
                    sl = self.data.slice(vid, kind, gte=None, lte=None, after=after,
                                         before=None, size=100)
                    body, link = self._log_page(vid, kind, sl, 100, [], path)
                    self._cache_put(path, query, body, link)
                    if not sl.has_next:
                        break
                    after = -self.data.series_neg(vid, kind)[sl.end - 1]

    def _cache_key(
        self, path: str, query: Sequence[tuple[str, str]]
    ) -> tuple[str, tuple[tuple[str, str], ...]]:
        return path, tuple(sorted((k, v.replace(" ", "+")) for k, v in query))

    #: bytes of pages cached on demand (beyond the precomputed chains); past it, misses are
    #: served without being stored, so harvests with ever-new filters cannot grow memory
    RUNTIME_CACHE_BYTES = 64 * 1024 * 1024

    def _cache_put(self, path: str, query: Sequence[tuple[str, str]], body: bytes,
                   link: str, *, runtime: bool = False) -> None:
        if self._page_cache_version != self.data.version:
            self._page_cache.clear()
            self._page_cache_version = self.data.version
            self._runtime_cache_bytes = 0
        if runtime:
            if self._runtime_cache_bytes + len(body) > self.RUNTIME_CACHE_BYTES:
                return
            self._runtime_cache_bytes += len(body)
        self._page_cache[self._cache_key(path, query)] = (body, link)

    def _log_page(
        self,
        vid: str,
        kind: str,
        sl: Any,
        size: int,
        extra_keep: Sequence[tuple[str, str]],
        path: str,
    ) -> tuple[bytes, str]:
        neg = self.data.series_neg(vid, kind)
        records = self.data.series_records(vid, kind)
        body = records.page(sl.start, sl.end)
        prev = nxt = None
        if sl.has_prev:
            prev = format_us(-neg[sl.start]) if sl.end > sl.start else format_us(
                -neg[sl.start - 1] - 1)
        if sl.has_next:
            nxt = format_us(-neg[sl.end - 1]) if sl.end > sl.start else format_us(
                -neg[sl.end] + 1)
        keep = [*extra_keep, ("page_size", str(size))]
        base = f"{self._origin}{path}?"
        prev_url = base + encode_query([*keep, ("page_before", prev)]) if prev else "about:blank"
        next_url = base + encode_query([*keep, ("page_after", nxt)]) if nxt else "about:blank"
        return body, f'<{prev_url}>; rel="previous", <{next_url}>; rel="next"'

    async def _log_list(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        kind = ctx.op.log_kind
        assert kind is not None
        v = self._vehicle(request, ctx)
        q = request.query
        path = f"{BASE_PATH}/vehicles/{v.id}/{LOG_SEGMENTS[kind]}"
        use_cache = self.config.precompute_pages and ctx.fault is None
        if use_cache:
            if self._page_cache_version != self.data.version:
                self._page_cache.clear()
                self._page_cache_version = self.data.version
            hit = self._page_cache.get(self._cache_key(path, list(q.items())))
            if hit is not None:
                return _bytes(hit[0], headers={"Link": hit[1]})
        size = self._page_size(q)
        field = LOG_FILTER_FIELD[kind]
        gte = self._ts_query(q, f"{field}__gte")
        lte = self._ts_query(q, f"{field}__lte")
        after = self._ts_query(q, "page_after", pagination=True)
        before = self._ts_query(q, "page_before", pagination=True)
        if after is not None and before is not None:
            raise bad_query({"page_after": ["Use either page_after or page_before."]},
                            pagination=True)
        exp = _expand_tree(q.getall("expand", []), LOG_EXPANDS)
        sl = self.data.slice(v.id, kind, gte=gte, lte=lte, after=after, before=before, size=size)
        keep = [
            (k, val.replace(" ", "+") if k in TS_PARAMS else val)
            for k, val in q.items() if k not in CURSOR_PARAMS
        ]
        body, link = self._log_page(v.id, kind, sl, size, keep, path)
        repeat = ctx.fault == "repeat_record" and after is not None
        if exp or repeat:
            records = self.data.series_records(v.id, kind)
            items: list[Json] = [loads(b) for b in records.items(sl.start, sl.end)]
            if repeat and after is not None:
                idx = self.data.find_index(v.id, kind, after)
                if idx is not None:
                    items.insert(0, loads(records.item(idx)))
                    self._record_fault(request, ctx)
            if "vehicle" in exp:
                vobj = self.data.render_vehicle(v, ctx.render, exp["vehicle"])
                for item in items:
                    item["vehicle"] = vobj
            body = dumps(items)
        elif use_cache:
            self._cache_put(path, list(q.items()), body, link, runtime=True)
        return _bytes(body, headers={"Link": link})

    async def _log_get(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        kind = ctx.op.log_kind
        assert kind is not None
        v = self._vehicle(request, ctx)
        raw = request.match_info["timestamp"]
        field = LOG_FILTER_FIELD[kind]
        try:
            us = parse_ts(raw)
        except ValueError:
            raise ProblemError(
                400, f"Invalid {field} in the path.", title="Invalid path parameter",
                type_=f"{PROBLEM_BASE}path-parameters/",
                field_errors={field: ["Enter a valid date/time."]},
            ) from None
        exp = _expand_tree(request.query.getall("expand", []), LOG_EXPANDS)
        idx = self.data.find_index(v.id, kind, us)
        if idx is None:
            raise not_found(f"No {LOG_SEGMENTS[kind][:-1].replace('_', ' ')} at {raw}.")
        records = self.data.series_records(v.id, kind)
        if not exp:
            return _bytes(records.item(idx))
        item = loads(records.item(idx))
        if "vehicle" in exp:
            item["vehicle"] = self.data.render_vehicle(v, ctx.render, exp["vehicle"])
        return _json(item)

    # ------------------------------------------------------------------ vehicles
    async def _list_vehicles(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        size = self._page_size(q)
        exp = _expand_tree(q.getall("expand", []), VEHICLE_EXPANDS)
        vehicles = [v for v in self.data.vehicles_by_id.values() if ctx.sees(v)]
        page, prev, nxt = self._id_page(request, vehicles, [v.id for v in vehicles], size, True)
        body = [self.data.render_vehicle(v, ctx.render, exp) for v in page]
        return self._list_response(request, "/vehicles", body, size, prev, nxt)

    async def _get_vehicle(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        exp = _expand_tree(request.query.getall("expand", []), VEHICLE_EXPANDS)
        return _json(self.data.render_vehicle(v, ctx.render, exp))

    async def _create_vehicle(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        exp = _expand_tree(request.query.getall("expand", []), VEHICLE_EXPANDS)
        if ctx.user_id is None:
            raise ProblemError(
                400,
                "This endpoint requires a user: set the EvEnergy-User header when using "
                "client credentials.",
                title="User required", type_=f"{PROBLEM_BASE}evenergy-user-required/",
                field_errors={"user": ["This field is required."]},
            )
        b = Body(await self._body(request), "create-vehicle")
        model_id = b.hyperlink("model", "vehicle_models", self.data.models_by_id, required=True)
        battery = b.int_("battery_size_watt_hours", minimum=1000, maximum=300000)
        description = b.str_("description", max_length=200)
        vclass = b.enum("vehicle_class", ("PASSENGER", "COMMERCIAL"), nullable=True)
        user = b.hyperlink("user", "users", self.data.users_by_id)
        if user is not MISSING and user != ctx.user_id:
            b.error("user", "Does not match the authenticated user (or EvEnergy-User).")
        b.check()
        trim = self.data.resolve_trim(model_id, battery if battery is not MISSING else None)
        v = self.data.create_vehicle(
            ctx.user_id, trim.id,
            battery=battery if battery is not MISSING else None,
            description=description if description is not MISSING else None,
            vehicle_class=vclass if vclass is not MISSING else None,
        )
        return _json(self.data.render_vehicle(v, ctx.render, exp), status=201,
                     headers={"Location": self.data.vehicle_url(v.id)})

    async def _patch_vehicle(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        exp = _expand_tree(request.query.getall("expand", []), VEHICLE_EXPANDS)
        b = Body(await self._body(request), "update-vehicle")
        battery = b.int_("battery_size_watt_hours", minimum=1000, maximum=300000)
        if battery is not MISSING and v.integrated != "UNINTEGRATED":
            b.error("battery_size_watt_hours",
                    "Battery size can only be edited for unintegrated vehicles.")
        limit = b.int_("maximum_charge_limit_percentage", minimum=50, maximum=100)
        smart = b.bool_("smart_charging_enabled")
        vclass = b.enum("vehicle_class", ("PASSENGER", "COMMERCIAL"), nullable=True)
        b.check()
        if battery is not MISSING:
            v.battery = v.effective_battery = (battery + 5) // 10 * 10
        if limit is not MISSING:
            v.max_charge = limit
        if smart is not MISSING:
            v.smart_charging = smart
        if vclass is not MISSING:
            v.vehicle_class = vclass
        return _json(self.data.render_vehicle(v, ctx.render, exp))

    async def _delete_vehicle(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        self.data.delete_vehicle(v.id)
        self._page_cache.clear()
        if self.config.delete_status == 200:
            return _json({"vehicles": 1})
        return web.Response(status=204)

    async def _get_connectors(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        return _json(self.data.render_connectors(self._vehicle(request, ctx)))

    async def _patch_connectors(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        b = Body(await self._body(request, allow_empty=True), "update-vehicle-connectors")
        native = b.enum("native_connector", cat.CONNECTOR_TYPES, nullable=True)
        adaptors = b.enum_list("adaptors", cat.CONNECTOR_TYPES)
        b.check()
        new_override = v.native_override if native is MISSING else native
        new_adaptors = v.adaptors if adaptors is MISSING else adaptors
        model_id = self.data.trims_by_id[v.trim_id].model_id
        effective = new_override or self.data.models_by_id[model_id].default_connector
        if len(set(new_adaptors)) != len(new_adaptors):
            b.error("adaptors", "Adaptors must be distinct.")
        if effective is not None and effective in new_adaptors:
            b.error("adaptors", "An adaptor cannot match the native connector.")
        b.check()
        if native is not MISSING or adaptors is not MISSING:
            v.native_override = new_override
            v.adaptors = list(new_adaptors)
            v.connectors_updated_at = now_us()
        return _json(self.data.render_connectors(v))

    async def _get_soc(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        return _json(self.data.render_soc(self._vehicle(request, ctx)))

    async def _patch_soc(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        b = Body(await self._body(request, allow_empty=True), "update-vehicle-state-of-charge")
        pct = b.int_("state_of_charge_percentage", nullable=True, minimum=0, maximum=100)
        b.check()
        if pct is None:
            v.soc = v.soc_source = v.soc_updated_at = None
        elif pct is not MISSING:
            v.soc, v.soc_source, v.soc_updated_at = pct, "MANUAL", now_us()
        return _json(self.data.render_soc(v))

    async def _get_vpp(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        return _json(self.data.render_vpp(self._vehicle(request, ctx)))

    async def _reconnect(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        await self._body(request, allow_empty=True)  # readOnly fields only: ignored
        if v.integrated == "UNINTEGRATED":
            raise ProblemError(
                400, "This vehicle has no integration to reconnect.", title="Not integrated",
                type_=f"{PROBLEM_BASE}vehicle-not-integrated/",
            )
        rid = uuid_from_int(self._next_rand())
        expires = now_us() + 3_600_000_000
        return _json({"url": ONBOARDING_START + rid, "expires_at": format_us(expires)},
                     status=201)

    async def _disconnect(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        v = self._vehicle(request, ctx)
        if v.integrated == "ACTIVE":
            v.integrated = "INACTIVE"
        return _json(self.data.render_vehicle(v, ctx.render))

    def _next_rand(self) -> int:
        return self.data._id_rng.getrandbits(128)

    # ------------------------------------------------------------------ catalogue
    def _ordering(self, request: web.Request) -> str | None:
        value = request.query.get("ordering")
        return value if value in ("name", "-name") else None

    def _sorted(self, items: list[T], names: Callable[[T], str], ordering: str | None) -> list[T]:
        if ordering is None:
            return items
        return sorted(items, key=lambda x: (names(x).casefold(), names(x)),
                      reverse=ordering == "-name")

    def _available_user(self, request: web.Request) -> str | None:
        raw = request.query.get("available_for_user_id")
        if raw is None:
            return None
        if not ID_RE["user"].fullmatch(raw) or raw not in self.data.users_by_id:
            raise bad_query({"available_for_user_id": ["User does not exist."]})
        return self.data.users_by_id[raw].region

    async def _list_makes(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        size = self._page_size(request.query)
        region = self._available_user(request)
        makes = list(self.data.makes_by_id.values())
        if region is not None:
            models = self.data.available_model_ids(region)
            keep = {self.data.models_by_id[m].make_id for m in models
                    if not self.data.models_by_id[m].hidden}
            makes = [m for m in makes if m.id in keep]
        ordering = self._ordering(request)
        makes = self._sorted(makes, lambda m: m.name, ordering)
        page, prev, nxt = self._id_page(request, makes, [m.id for m in makes], size,
                                        ordering is None)
        body = [self.data.render_make(m, ctx.render) for m in page]
        return self._list_response(request, "/vehicle_makes", body, size, prev, nxt)

    async def _get_make(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        mid = request.match_info["vehicle_make_id"]
        make = self.data.makes_by_id.get(mid)
        if make is None:
            raise not_found("Vehicle make does not exist.")
        return _json(self.data.render_make(make, ctx.render))

    async def _list_models(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        size = self._page_size(q)
        exp = _expand_tree(q.getall("expand", []), MODEL_EXPANDS)
        region = self._available_user(request)
        models = [m for m in self.data.models_by_id.values() if not m.hidden]
        make_id = q.get("make_id")
        if make_id is not None:
            models = [m for m in models if m.make_id == make_id]
        if region is not None:
            avail = self.data.available_model_ids(region)
            models = [m for m in models if m.id in avail]
        ordering = self._ordering(request)
        models = self._sorted(models, lambda m: m.name, ordering)
        page, prev, nxt = self._id_page(request, models, [m.id for m in models], size,
                                        ordering is None)
        body = [self.data.render_model(m, ctx.render, exp) for m in page]
        return self._list_response(request, "/vehicle_models", body, size, prev, nxt)

    def _model(self, request: web.Request) -> str:
        mid = request.match_info["vehicle_model_id"]
        if mid not in self.data.models_by_id:
            raise not_found("Vehicle model does not exist.")
        return mid

    async def _get_model(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        exp = _expand_tree(request.query.getall("expand", []), MODEL_EXPANDS)
        model = self.data.models_by_id[self._model(request)]
        return _json(self.data.render_model(model, ctx.render, exp))

    async def _create_model(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        b = Body(await self._body(request), "create-vehicle-model")
        name = b.str_("name", required=True, max_length=200)
        make_id = b.hyperlink("make", "vehicle_makes", self.data.makes_by_id, required=True)
        b.check()
        model = self.data.create_model(make_id, name)
        return _json(self.data.render_model(model, ctx.render), status=201)

    async def _patch_model(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        model = self.data.models_by_id[self._model(request)]
        b = Body(await self._body(request, allow_empty=True), "update-vehicle-model")
        conn = b.enum("default_connector_type", cat.CONNECTOR_TYPES, nullable=True)
        b.check()
        if conn is not MISSING:
            model.default_connector = conn
        return _json(self.data.render_model(model, ctx.render))

    async def _list_trims(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        size = self._page_size(q)
        exp = _expand_tree(q.getall("expand", []), TRIM_EXPANDS)
        trims = [t for t in self.data.trims_by_id.values() if not t.hidden]
        model_id = q.get("model_id")
        if model_id is not None:
            trims = [t for t in trims if t.model_id == model_id]
        ordering = self._ordering(request)
        trims = self._sorted(trims, lambda t: t.name, ordering)
        page, prev, nxt = self._id_page(request, trims, [t.id for t in trims], size,
                                        ordering is None)
        body = [self.data.render_trim(t, ctx.render, exp) for t in page]
        return self._list_response(request, "/vehicle_trims", body, size, prev, nxt)

    async def _get_trim(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        exp = _expand_tree(request.query.getall("expand", []), TRIM_EXPANDS)
        trim = self.data.trims_by_id.get(request.match_info["vehicle_trim_id"])
        if trim is None:
            raise not_found("Vehicle trim does not exist.")
        return _json(self.data.render_trim(trim, ctx.render, exp))

    async def _create_trim(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        b = Body(await self._body(request), "create-vehicle-trim")
        name = b.str_("name", required=True, max_length=200)
        model_id = b.hyperlink("model", "vehicle_models", self.data.models_by_id, required=True)
        battery = b.int_("battery_size_watt_hours", required=True, minimum=1000, maximum=300000)
        b.check()
        trim = self.data.create_trim(model_id, name, battery)
        return _json(self.data.render_trim(trim, ctx.render), status=201)

    def _region(self, request: web.Request) -> str:
        region = request.match_info["region"]
        if region not in cat.REGIONS:
            raise bad_query({"region": [f'"{region}" is not a valid choice.']})
        return region

    async def _list_model_connectors(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        mid = self._model(request)
        q = request.query
        size = self._page_size(q)
        raw = q.get("page", "1")
        try:
            page = int(raw)
        except ValueError:
            page = 0
        if page < 1:
            raise bad_query({"page": ["Must be a positive integer."]}, pagination=True)
        rows = [c for (m, _r), c in self.data.connectors.items() if m == mid]
        pages = max(1, math.ceil(len(rows) / size))
        if page > pages:
            raise not_found("Invalid page.")
        chunk = rows[(page - 1) * size: page * size]
        link = self._links(
            request, f"/vehicle_models/{mid}/connectors", size,
            ("page", str(page - 1)) if page > 1 else None,
            ("page", str(page + 1)) if page < pages else None,
        )
        return _json([self.data.render_connector(c) for c in chunk], headers={"Link": link})

    async def _get_model_connector(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        mid = self._model(request)
        row = self.data.connectors.get((mid, self._region(request)))
        if row is None:
            raise not_found("No connector for this region.")
        return _json(self.data.render_connector(row))

    def _connector_fields(self, b: Body, create: bool) -> dict[str, Any]:
        return {
            "connector_type": b.enum("connector_type", cat.MODEL_CONNECTOR_TYPES,
                                     required=create),
            "source": b.enum("source", cat.SOURCES, nullable=True),
            "confidence": b.enum("confidence", cat.CONFIDENCES, nullable=True),
            "verified_at": b.datetime_("verified_at", nullable=True),
        }

    async def _create_model_connector(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        mid = self._model(request)
        b = Body(await self._body(request), "create-vehicle-model-connector")
        region = b.enum("region", cat.REGIONS, required=True)
        fields = self._connector_fields(b, True)
        if region is not MISSING and (mid, region) in self.data.connectors:
            b.error("region", "A connector for this region already exists.")
        b.check()
        row = ModelConnector(
            mid, region, fields["connector_type"],
            None if fields["source"] is MISSING else fields["source"],
            None if fields["confidence"] is MISSING else fields["confidence"],
            None if fields["verified_at"] is MISSING else fields["verified_at"],
            now_us(),
        )
        self.data.connectors[(mid, region)] = row
        return _json(self.data.render_connector(row), status=201)

    async def _patch_model_connector(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        mid = self._model(request)
        region = self._region(request)
        row = self.data.connectors.get((mid, region))
        if row is None:
            raise not_found("No connector for this region.")
        b = Body(await self._body(request, allow_empty=True), "update-vehicle-model-connector")
        fields = self._connector_fields(b, False)
        if "region" in b.data and b.data["region"] != region:
            b.error("region", "This field cannot be changed.")
        b.check()
        changed = False
        for name, value in fields.items():
            if value is not MISSING:
                setattr(row, name, value)
                changed = True
        if changed:
            row.updated_at = now_us()
        return _json(self.data.render_connector(row))

    # ------------------------------------------------------------------ onboarding
    def _check_client_id(self, value: str | None, required: bool) -> None:
        if value is None:
            if required:
                raise bad_query({"client_id": ["This field is required."]})
            return
        if value != self.client_id:
            raise bad_query({"client_id": ["Unknown client_id."]})

    async def _onboarding(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        errors: dict[str, list[str]] = {}
        user_id = q.get("user_id")
        if user_id is None:
            errors["user_id"] = ["This field is required."]
        elif not ID_RE["user"].fullmatch(user_id):
            errors["user_id"] = ["Not a valid user ID."]
        if errors:
            raise bad_query(errors)
        self._check_client_id(q.get("client_id"), True)
        assert user_id is not None
        if user_id not in self.data.users_by_id:
            raise not_found("User does not exist.")
        make_id, model_id, trim_id = q.get("make_id"), q.get("model_id"), q.get("trim_id")
        if make_id is not None and make_id not in self.data.makes_by_id:
            raise not_found("Vehicle make does not exist.")
        if model_id is not None and model_id not in self.data.models_by_id:
            raise not_found("Vehicle model does not exist.")
        if trim_id is not None and trim_id not in self.data.trims_by_id:
            raise not_found("Vehicle trim does not exist.")
        redirect = q.get("redirect_uri")
        if redirect is not None:
            try:
                r = URL(redirect)
                ok = r.is_absolute() and r.scheme in ("http", "https") \
                    and (r.host or "") in REDIRECT_HOSTS
            except ValueError:
                ok = False
            if not ok:
                raise bad_query({"redirect_uri": ["Does not match a registered redirect URI."]})
        json_mode = q.get("response_type") == "json"
        if q.get("response_type") not in (None, "json"):
            raise bad_query({"response_type": ['"json" is the only valid choice.']})
        if json_mode and make_id is None and model_id is None and trim_id is None:
            raise bad_query({"non_field_errors": [
                "response_type=json requires one of make_id, model_id or trim_id."]})
        make = None
        if trim_id is not None:
            make_of = self.data.models_by_id[self.data.trims_by_id[trim_id].model_id].make_id
            make = self.data.makes_by_id[make_of]
        elif model_id is not None:
            make = self.data.makes_by_id[self.data.models_by_id[model_id].make_id]
        elif make_id is not None:
            make = self.data.makes_by_id[make_id]
        rid = uuid_from_int(self._next_rand())
        self.data.auth_requests[rid] = AuthorizationRequest(
            rid, user_id, make_id or (make.id if make else None), model_id, trim_id,
            self.config.clock(),
        )
        if make is None:
            return web.Response(status=302, headers={"Location": ONBOARDING_START + rid})
        provider_url = ONBOARDING_PROVIDER + "?" + encode_query([
            ("response_type", "code"), ("client_id", "sim-provider"),
            ("state", rid), ("make", make.name.upper()),
        ])
        if not json_mode:
            return web.Response(status=302, headers={"Location": provider_url})
        if not make.supported:
            raise ProblemError(
                422, f"The integration provider cannot onboard {make.name} vehicles.",
                title="Onboarding unavailable", type_=f"{PROBLEM_BASE}onboarding-unavailable/",
            )
        native = make.auth_method == "native"
        return _json({
            "authorization_request_id": rid,
            "url": provider_url,
            "auth_method": make.auth_method,
            "scopes": ["read_vehicle_info", "read_charge", "control_charge"] if native else None,
            "single_select": True if native else None,
        })

    async def _onboarding_complete(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        b = Body(await self._body(request), "vehicle-onboarding-complete")
        rid = b.str_("authorization_request_uid", required=True, uuid=True)
        code = b.str_("auth_code", required=True)
        b.str_("smartcar_user_id", nullable=True, max_length=100)
        b.check()
        req = self.data.auth_requests.get(rid.lower())
        if req is None:
            raise ProblemError(404, "No authorization request matches authorization_request_uid.",
                               title="Not found",
                               type_=f"{PROBLEM_BASE}authorization-request-not-found/")
        if req.used or self.config.clock() - req.created_at > AUTH_REQUEST_TTL:
            raise ProblemError(422, "The authorization request has expired or was already used.",
                               title="Authorization request expired",
                               type_=f"{PROBLEM_BASE}authorization-request-expired/")
        if code.startswith("invalid"):
            raise ProblemError(422, "The integration provider rejected the auth_code.",
                               title="Provider rejected the code",
                               type_=f"{PROBLEM_BASE}provider-rejected-code/")
        trim = (self.data.trims_by_id.get(req.trim_id) if req.trim_id else None) or \
            self.data.first_trim(req.make_id, req.model_id)
        if trim is None:  # pragma: no cover - every make has trims
            raise ProblemError(422, "No vehicles could be retrieved from the provider.")
        req.used = True
        count = 2 if "multi" in code else 1
        created = [self.data.create_vehicle(req.user_id, trim.id, integrated="ACTIVE")
                   for _ in range(count)]
        return _json({"vehicles": [{"id": v.id, "url": self.data.vehicle_url(v.id)}
                                   for v in created]}, status=201)

    async def _onboarding_link(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        if ctx.user_id is None:
            raise ProblemError(
                400, "This endpoint requires a user: set the EvEnergy-User header when using "
                "client credentials.", title="User required",
                type_=f"{PROBLEM_BASE}evenergy-user-required/",
            )
        b = Body(await self._body(request), "onboarding-link")
        b.str_("email", required=True, email=True)
        make = b.str_("make", required=True)
        if make is not MISSING and make not in self.data.makes_by_id:
            b.error("make", "Object does not exist.")
        b.check()
        return web.Response(status=204)

    def _country(self, request: web.Request, explicit: str | None) -> str:
        if explicit is not None:
            return explicit.upper()
        lang = request.headers.get("Accept-Language", "")
        for item in lang.split(","):
            tag = item.split(";")[0].strip()
            parts = tag.replace("_", "-").split("-")
            if len(parts) >= 2 and len(parts[1]) == 2 and parts[1].isalpha():
                return parts[1].upper()
        return "US"

    async def _compatibility(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        slug = f"{PROBLEM_BASE}validation-failed-vehicle-compatibility-check/"
        errors: dict[str, list[str]] = {}
        model_id = q.get("vehicle_model_id")
        if model_id is None:
            errors["vehicle_model_id"] = ["This field is required."]
        elif not ID_RE["vmod"].fullmatch(model_id):
            errors["vehicle_model_id"] = ["Not a valid vehicle model ID."]
        country = q.get("country")
        if country is not None and not (len(country) == 2 and country.isascii()
                                        and country.isalpha()):
            errors["country"] = ["Must be an ISO-3166 alpha-2 code."]
        program = q.get("program_id")
        if program is not None and not ID_RE["prog"].fullmatch(program):
            errors["program_id"] = ["Not a valid program ID."]
        if errors:
            raise ProblemError(400, "Error on fields: " + ", ".join(errors),
                               title="Request failed validation.", type_=slug,
                               field_errors=errors)
        assert model_id is not None
        model = self.data.models_by_id.get(model_id)
        if model is None:
            raise ProblemError(404, "vehicle_model_id does not resolve to a vehicle model.",
                               title="Not found", type_=f"{PROBLEM_BASE}vehicle-model-not-found/")
        if program is not None:
            if program not in self.data.programs:
                raise ProblemError(404, "program_id does not resolve to a program.",
                                   title="Not found",
                                   type_=f"{PROBLEM_BASE}program-not-found-vehicle-compatibility/")
            resolved = self.data.programs[program]
        else:
            resolved = self._country(request, country)
        region = self.data.region_of_country(resolved)
        make = self.data.makes_by_id[model.make_id]
        compatible = (make.supported and not model.hidden
                      and (model.id, region) in self.data.connectors)
        return _json({"compatible": compatible, "recommendation_rank": make.rank})

    async def _waitlist(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        b = Body(await self._body(request), "vehicle-waitlist")
        b.str_("email", required=True, email=True)
        program = b.str_("program_id", nullable=True, pattern=ID_RE["prog"])
        model_id = b.str_("vehicle_model_id", nullable=True, pattern=ID_RE["vmod"])
        make_name = b.str_("vehicle_make_name", nullable=True, max_length=200)
        model_name = b.str_("vehicle_model_name", nullable=True, max_length=200)
        picker = bool(model_id)
        manual = bool(make_name) or bool(model_name)
        if picker and manual:
            b.error("non_field_errors",
                    "Give either vehicle_model_id or vehicle_make_name + vehicle_model_name.")
        elif manual and not (make_name and model_name):
            b.error("non_field_errors",
                    "vehicle_make_name and vehicle_model_name must be given together.")
        elif not picker and not manual and not b.errors:
            b.error("non_field_errors",
                    "Give either vehicle_model_id or vehicle_make_name + vehicle_model_name.")
        if model_id and model_id not in self.data.models_by_id:
            b.error("vehicle_model_id", "Vehicle model does not exist.")
        if program and program not in self.data.programs:
            b.error("program_id", "Program does not exist.")
        b.check()
        wid = self.data.new_id("vwlt")
        self.data.waitlist.append({"id": wid, **b.data})
        return _json({"id": wid}, status=201)

    # ------------------------------------------------------------------ route errors
    async def _route_error(
        self, exc: web.HTTPException, request: web.Request, ctx: Ctx
    ) -> web.StreamResponse:
        if isinstance(exc, web.HTTPMethodNotAllowed):
            raise ProblemError(
                405, f"Method {request.method} is not allowed here.",
                title="Method Not Allowed",
                headers={"Allow": ", ".join(sorted(exc.allowed_methods))},
            )
        raise not_found("No such resource.")

    async def _no_trailing_slash(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        raise ProblemError(
            405, f"Method {request.method} is not allowed on {request.path}: the OAuth "
            "endpoints need their trailing slash.", title="Method Not Allowed",
        )

    # ------------------------------------------------------------------ OAuth
    async def _oauth_pipeline(self, request: web.Request, op: Op, fn: Handler) -> web.StreamResponse:
        if op.operation_id == "oauth-token":
            self.stats.token_requests += 1
        ctx = Ctx(op, None, None, ANON)
        headers = {"EvEnergy-Version": API_VERSION}
        if self._decide_fault(request, ctx, None):
            early = await self._early_fault(request, ctx, headers)
            if early is not None:
                return early
        try:
            resp = await fn(request, ctx)
        except ProblemError as exc:
            resp = self._problem(request, exc)
        resp.headers.update(headers)
        if ctx.fault is not None and not ctx.fault_applied:
            resp = await self._late_fault(request, ctx, resp)
        if resp.status != _DROPPED:
            self.stats.by_status[resp.status] += 1
        return resp

    @staticmethod
    def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return _json({"error": error, "error_description": description}, status=status,
                     headers=headers)

    async def _form(self, request: web.Request) -> dict[str, str]:
        raw = await request.read()
        ctype = request.content_type
        if ctype == JSON:
            try:
                data = loads(raw) if raw else {}
            except ValueError:
                data = None
            if not isinstance(data, dict):
                return {}
            return {str(k): str(v) for k, v in data.items() if v is not None}
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return {}
        return dict(pairs)

    def _client_auth(
        self, request: web.Request, form: Mapping[str, str]
    ) -> tuple[str | None, bool]:
        """Return ``(client_id, authenticated_with_secret)``; ``(None, False)`` on bad auth."""
        auth = request.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(auth[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, False
            raw_id, sep, raw_secret = decoded.partition(":")
            basic_id, basic_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if sep and basic_id == self.client_id and basic_secret == self.client_secret:
                return basic_id, True
            return None, False
        cid = form.get("client_id")
        secret = form.get("client_secret")
        if cid is None or cid != self.client_id:
            return None, False
        if secret is not None:
            return (cid, True) if secret == self.client_secret else (None, False)
        return cid, False

    def _token_body(self, info: TokenInfo) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": info.token,
            "token_type": "Bearer",
            "expires_in": self.config.token_ttl,
            "scope": " ".join(sorted(info.scopes)),
        }
        if info.refresh_token is not None:
            body["refresh_token"] = info.refresh_token
        return body

    def _scopes(self, form: Mapping[str, str], allowed: frozenset[str]) -> frozenset[str] | None:
        raw = form.get("scope")
        if raw is None or not raw.strip():
            return allowed
        scopes = frozenset(raw.split())
        if not scopes <= allowed:
            return None
        return scopes

    async def _oauth_token(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        form = await self._form(request)
        grant = form.get("grant_type")
        client_id, with_secret = self._client_auth(request, form)
        no_store = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        if grant == "client_credentials":
            if client_id is None or not with_secret:
                return self._oauth_error("invalid_client", "Client authentication failed.", 401)
            scopes = self._scopes(form, KNOWN_SCOPES if form.get("scope") else DEFAULT_SCOPES)
            if scopes is None:
                return self._oauth_error("invalid_scope", "Unknown scope requested.")
            info = self._tokens.issue(client_id, None, scopes, False)
            return _json(self._token_body(info), headers=no_store)
        if grant == "authorization_code":
            if client_id is None:
                return self._oauth_error("invalid_client", "Client authentication failed.", 401)
            code = self._tokens.codes.get(form.get("code", ""))
            if code is None or code.used or self.config.clock() >= code.expires_at \
                    or code.client_id != client_id:
                return self._oauth_error("invalid_grant", "Invalid or expired code.")
            if code.redirect_uri is not None and form.get("redirect_uri") != code.redirect_uri:
                return self._oauth_error("invalid_grant", "redirect_uri does not match.")
            if code.challenge is not None:
                verifier = form.get("code_verifier")
                if not verifier or not pkce_matches(code.challenge, code.challenge_method,
                                                    verifier):
                    return self._oauth_error("invalid_grant", "PKCE verification failed.")
            elif not with_secret:
                return self._oauth_error("invalid_client", "Client authentication failed.", 401)
            code.used = True
            info = self._tokens.issue(client_id, code.user_id, code.scopes, True)
            return _json(self._token_body(info), headers=no_store)
        if grant == "refresh_token":
            if client_id is None:
                return self._oauth_error("invalid_client", "Client authentication failed.", 401)
            rinfo = self._tokens.refresh.get(form.get("refresh_token", ""))
            if rinfo is None or rinfo.client_id != client_id:
                return self._oauth_error("invalid_grant", "Invalid refresh token.")
            scopes = self._scopes(form, rinfo.scopes)
            if scopes is None:
                return self._oauth_error("invalid_scope", "Scope exceeds the original grant.")
            del self._tokens.refresh[rinfo.token]
            info = self._tokens.issue(client_id, rinfo.user_id, scopes, True)
            return _json(self._token_body(info), headers=no_store)
        if grant is None:
            return self._oauth_error("invalid_request", "Missing grant_type.")
        return self._oauth_error("unsupported_grant_type", f"Unsupported grant_type {grant!r}.")

    async def _oauth_authorize(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        q = request.query
        if q.get("client_id") != self.client_id:
            return self._oauth_error("invalid_client", "Unknown client_id.")
        redirect = q.get("redirect_uri")
        if not redirect:
            return self._oauth_error("invalid_request", "Missing redirect_uri.")
        try:
            target = URL(redirect)
        except ValueError:
            target = None
        if target is None or not target.is_absolute():
            return self._oauth_error("invalid_request", "redirect_uri must be an absolute URL.")
        state = q.get("state")
        extra = {"state": state} if state is not None else {}
        if q.get("response_type") != "code":
            return web.Response(status=302, headers={"Location": str(target.update_query(
                {"error": "unsupported_response_type", **extra}))})
        method = q.get("code_challenge_method")
        challenge = q.get("code_challenge")
        if challenge is not None and method not in (None, "plain", "S256"):
            return web.Response(status=302, headers={"Location": str(target.update_query(
                {"error": "invalid_request",
                 "error_description": "unsupported code_challenge_method", **extra}))})
        scopes = self._scopes(dict(q), KNOWN_SCOPES if q.get("scope") else DEFAULT_SCOPES)
        if scopes is None:
            return web.Response(status=302, headers={"Location": str(target.update_query(
                {"error": "invalid_scope", **extra}))})
        user_id = q.get("user_id") or next(iter(self.data.users_by_id))
        if user_id not in self.data.users_by_id:
            return web.Response(status=302, headers={"Location": str(target.update_query(
                {"error": "access_denied", **extra}))})
        code = self._tokens.new_code(
            self.client_id, user_id, redirect, scopes, challenge,
            method if challenge is not None else None, self.config.auth_code_ttl,
        )
        return web.Response(status=302, headers={"Location": str(target.update_query(
            {"code": code.code, **extra}))})

    async def _oauth_revoke(self, request: web.Request, ctx: Ctx) -> web.StreamResponse:
        form = await self._form(request)
        client_id, _with_secret = self._client_auth(request, form)
        if client_id is None:
            return self._oauth_error("invalid_client", "Client authentication failed.", 401)
        token = form.get("token")
        if not token:
            return self._oauth_error("invalid_request", "Missing token.")
        self._tokens.revoke(token, client_id)
        return web.Response(status=200)
