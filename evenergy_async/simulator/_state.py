"""The simulator's shared state (one per application) and the per-request context.

Every concern reaches its state through ``request.app[STATE]``; what the pipeline
middlewares learn about a request travels in ``request[...]`` keys.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import attrs
from aiohttp import web
from yarl import URL

if TYPE_CHECKING:
    from ._auth import TokenInfo, TokenStore
    from ._config import SimulatorConfig, SimulatorStats
    from ._data import DataSet, RenderCtx, Vehicle
    from ._faults import FaultEvent, FaultInjector
    from ._ops import Op
    from ._pages import PageCache
    from ._ratelimit import RateLimiter

__all__: list[str] = []  # private module

BASE_PATH = "/v2"


@attrs.define(eq=False)
class State:
    """Everything one simulator application owns (``request.app[STATE]``)."""

    config: SimulatorConfig
    data: DataSet
    stats: SimulatorStats
    tokens: TokenStore
    limiter: RateLimiter
    faults: FaultInjector
    pages: PageCache
    fault_log: list[FaultEvent] = attrs.field(factory=list)
    user_tokens: list[str] = attrs.field(factory=list)
    #: the operation each registered route serves
    ops: dict[web.AbstractRoute, Op] = attrs.field(factory=dict)
    base: URL | None = None  # where clients reach the API (``.../v2``)
    origin: str = ""
    closing: asyncio.Event | None = None

    base_text: str = ""  # str(base), no trailing slash
    root_text: str = ""  # the base's parent (the OAuth endpoints' root), no trailing slash

    def set_base(self, base: str) -> None:
        """Point every served URL (bodies, ``Link``, problem ``instance``) at ``base``."""
        self.base = URL(base)
        self.origin = str(self.base.origin())
        self.base_text = str(self.base).rstrip("/")
        self.root_text = str(self.base.parent).rstrip("/")
        self.data.rebase(base)
        self.pages.clear()

    def public(self, path: str) -> str:
        """The URL clients use for a path this server serves (``/v2/...`` or ``/o/...``)."""
        if path == BASE_PATH or path.startswith(BASE_PATH + "/"):
            return self.base_text + path[len(BASE_PATH):]
        return self.root_text + path

    @property
    def client_id(self) -> str:
        return self.tokens.client_id

    @property
    def client_secret(self) -> str:
        return self.tokens.client_secret


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


STATE: web.AppKey[State] = web.AppKey("evenergy_simulator_state")
#: the operation of the matched route (set first by the core middleware)
OP: web.RequestKey[Op] = web.RequestKey("evenergy_simulator_op")
#: headers every answer to the request carries (version, rate-limit counters)
HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("evenergy_simulator_headers")
#: the bearer token: ``(token or None, whether an Authorization header was presented)``
TOKEN: web.RequestKey[tuple[TokenInfo | None, bool]] = web.RequestKey("evenergy_simulator_token")
#: the request context handed to the handler (set by the authorize middleware)
CTX: web.RequestKey[Ctx] = web.RequestKey("evenergy_simulator_ctx")


def state(request: web.Request) -> State:
    return request.app[STATE]


def ctx_of(request: web.Request) -> Ctx:
    return request[CTX]
