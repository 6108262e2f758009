"""The aiohttp application: ``init_app`` assembles the state, the middleware pipeline and
the route tables.

The pipeline, outermost first (each concern's module owns its middleware):

1. the caller's ``middlewares`` (they see every raw request and every final response);
2. ``core_middleware`` (here): the operation of the matched route, statistics, added
   latency, problem+json for any ``ProblemError``, the ``EvEnergy-Version`` header;
3. ``rate_limit_middleware`` (``_ratelimit``): 429 once a bucket is spent;
4. ``authenticate_middleware`` (``_auth``): 401 without a live token;
5. ``version_middleware`` (``_version``): 406 / 400 for ``Accept`` / ``EvEnergy-Version``;
6. ``authorize_middleware`` (``_auth``): 403 without the scope; the request context;
7. ``faults_middleware`` (``_faults``): injected faults around the handler.

The OAuth endpoints skip 3-5 (as the real service's do).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._auth import TokenStore, authenticate_middleware, authorize_middleware
from ._config import SimulatorConfig, SimulatorStats
from ._data import DataSet
from ._faults import FaultInjector, faults_middleware
from ._http import API_VERSION, DROPPED, problem_response
from ._ops import LOG_SEGMENTS, OAUTH_OPERATIONS, OPERATIONS, ROUTE_ERROR_OP, Op
from ._pages import PageCache
from ._problems import ProblemError
from ._ratelimit import RateLimiter, rate_limit_middleware
from ._routes import ROUTE_TABLES
from ._state import BASE_PATH, HEADERS, OP, STATE, State
from ._version import version_middleware
from ._wire import derive_token

__all__ = ["Middleware", "init_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _kind_of(op: Op) -> str:
    if op.log_kind is not None:
        return LOG_SEGMENTS[op.log_kind]
    for g in ("vehicles", "catalogue", "onboarding", "token", "authorize", "revoke"):
        if g in op.groups:
            return g
    return "other"


@web.middleware
async def core_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Statistics, added latency, problem+json rendering and the common headers."""
    st = request.app[STATE]
    op = st.ops.get(request.match_info.route, ROUTE_ERROR_OP)
    request[OP] = op
    stats = st.stats
    stats.requests += 1
    stats.by_operation[op.operation_id] += 1
    stats.by_kind[_kind_of(op)] += 1
    if st.base is None:  # served through app() without start(): learn the origin
        st.set_base(f"{request.scheme}://{request.host}{BASE_PATH}")
    if st.closing is None:
        st.closing = asyncio.Event()
    if st.config.latency > 0:
        await asyncio.sleep(st.config.latency)
    if op.oauth and op.operation_id == "oauth-token":
        stats.token_requests += 1
    headers = request[HEADERS] = {"EvEnergy-Version": API_VERSION}
    try:
        resp = await handler(request)
    except ProblemError as exc:
        resp = problem_response(request, exc)
    if not resp.prepared:
        resp.headers.update(headers)
    if resp.status != DROPPED:
        stats.by_status[resp.status] += 1
    return resp


def new_state(config: SimulatorConfig) -> State:
    """The state of a fresh simulator (data, tokens, limiter, faults) from ``config``."""
    data = DataSet(config)
    st = State(
        config=config,
        data=data,
        stats=SimulatorStats(),
        tokens=TokenStore(config.seed, config.clock, config.token_ttl),
        limiter=RateLimiter(config.rate_window, config.clock),
        faults=FaultInjector(config.faults),
        pages=PageCache(data),
    )
    for i, uid in enumerate(data.users_by_id):
        token = "simu" + derive_token(config.seed, "user-token", i, length=36)
        st.tokens.add_static(token, uid)
        st.user_tokens.append(token)
    if config.public_url is not None:
        st.set_base(config.public_url)
    return st


def _handlers() -> dict[tuple[str, str], Handler]:
    out: dict[tuple[str, str], Handler] = {}
    for table in ROUTE_TABLES:
        for rd in table:
            assert isinstance(rd, web.RouteDef)
            out[(rd.method, rd.path)] = rd.handler
    return out


def init_app(
    config: SimulatorConfig, *, middlewares: Iterable[Middleware] = ()
) -> web.Application:
    """The simulator's application for ``config``; ``middlewares`` are placed outermost."""
    st = new_state(config)
    pipeline: list[Middleware] = [
        *middlewares,
        core_middleware,
        rate_limit_middleware,
        authenticate_middleware,
        version_middleware,
        authorize_middleware,
        faults_middleware,
    ]
    app = web.Application(middlewares=pipeline, client_max_size=1024**2)
    app[STATE] = st
    handlers = _handlers()
    used: set[tuple[str, str]] = set()

    def add(method: str, path: str, key: tuple[str, str], op: Op) -> None:
        route = app.router.add_route(method, path, handlers[key])
        used.add(key)
        st.ops[route] = op

    for op in OPERATIONS:
        key = (op.method, BASE_PATH + op.path)
        add(op.method, key[1], key, op)
        add(op.method, key[1] + "/", key, op)
    for op in OAUTH_OPERATIONS:
        add(op.method, op.path, (op.method, op.path), op)
        bare = op.path.rstrip("/")
        add("*", bare, ("*", bare), ROUTE_ERROR_OP)
    unused = set(handlers) - used
    assert not unused, f"routes without an operation: {sorted(unused)}"
    return app
