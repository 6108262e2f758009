"""``Simulator``: runs the aiohttp application of ``_server`` and exposes its controls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web
from yarl import URL

from ._auth import DEFAULT_SCOPES
from ._config import SimulatorConfig, SimulatorStats
from ._data import DataSet
from ._faults import FaultConfig, FaultEvent, FaultInjector
from ._pages import precompute
from ._routes.oauth import token_body
from ._server import Middleware, init_app
from ._state import BASE_PATH, STATE

__all__ = ["Simulator", "init_app"]


class Simulator:
    """A faithful, seeded, in-memory ev.energy v2 (vehicles) server on aiohttp.web.

    ``async with Simulator(SimulatorConfig(...)) as sim:`` starts it on a free loopback port;
    ``sim.base_url`` is then ``http://127.0.0.1:PORT/v2``. ``middlewares`` are placed
    outermost in the application's pipeline: they see every raw request and final response.
    """

    def __init__(
        self, config: SimulatorConfig | None = None, *, middlewares: Iterable[Middleware] = ()
    ) -> None:
        self.config = config if config is not None else SimulatorConfig()
        self._app = init_app(self.config, middlewares=middlewares)
        self._state = self._app[STATE]
        self._runner: web.AppRunner | None = None
        self._listen: URL | None = None
        self._closed = False

    # ------------------------------------------------------------------ public API
    @property
    def data(self) -> DataSet:
        return self._state.data

    @property
    def stats(self) -> SimulatorStats:
        return self._state.stats

    @property
    def fault_log(self) -> list[FaultEvent]:
        return self._state.fault_log

    @property
    def base_url(self) -> URL:
        """Where clients reach the API: ``public_url`` if set (known before start), else
        the listener."""
        if self._state.base is None:
            raise RuntimeError("the simulator is not started: use start() or `async with`")
        return self._state.base

    @property
    def listen_url(self) -> URL:
        """The listener's own base URL (``base_url`` unless ``public_url`` is set)."""
        if self._listen is None:
            raise RuntimeError("the simulator is not started: use start() or `async with`")
        return self._listen

    @property
    def origin(self) -> URL:
        return self.base_url.origin()

    @property
    def token_url(self) -> URL:
        _ = self.base_url  # started (or public)
        return URL(self._state.public("/o/token/"))

    @property
    def client_id(self) -> str:
        return self._state.client_id

    @property
    def client_secret(self) -> str:
        return self._state.client_secret

    @property
    def faults(self) -> FaultConfig | None:
        return self._state.faults.config

    def user_token(self, user_index: int) -> str:
        """A static bearer token of end user ``user_index`` (one rate-limit bucket per user)."""
        return self._state.user_tokens[user_index]

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
        info = self._state.tokens.issue(self.client_id, user_id, scope_set, user_id is not None)
        return token_body(self._state, info)

    def expire_token(self, token: str) -> None:
        """Kill an access token: its next use answers 401."""
        if not self._state.tokens.kill(token):
            raise KeyError("unknown token")

    def add_logs(
        self, kind: str, vehicle_id: str, n: int, *, after: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Append ``n`` logs newer than the existing ones; returns them newest first."""
        out = self.data.add_logs(kind, vehicle_id, n, after=after)
        self._state.pages.clear()
        return out

    def set_faults(self, faults: FaultConfig | None) -> None:
        """Replace the fault configuration (counters restart: a new replayable sequence)."""
        self.config.faults = faults
        self._state.faults = FaultInjector(faults)

    def inject_fault(self, kind: str, *, count: int = 1, path: str | None = None) -> None:
        """Force ``kind`` on the next ``count`` requests it applies to (whatever the rate).

        ``path`` restricts to request paths starting with it (e.g. ``"/v2/vehicles"``); the
        token endpoint is only hit when ``path`` names it (``"/o/token/"``).
        """
        self._state.faults.force(kind, count, path)

    def reset_faults(self) -> None:
        """Forget per-path request counters and pending forced faults (replay from scratch)."""
        self._state.faults.reset()

    def reset_rate_limits(self) -> None:
        self._state.limiter.reset()

    def app(self) -> web.Application:
        """The aiohttp application (created once)."""
        return self._app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> URL:
        """Serve on ``host:port`` (0: a free port); returns the base URL ``.../v2``."""
        if self._runner is not None:
            raise RuntimeError("already started")
        if self._closed:
            raise RuntimeError("a closed simulator cannot be restarted")
        self._state.closing = asyncio.Event()
        runner = web.AppRunner(
            self._app, handle_signals=False, access_log=None, handler_cancellation=True,
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
        self._listen = URL(f"http://{url_host}:{bound[1]}{BASE_PATH}")
        if self.config.public_url is None:
            self._state.set_base(str(self._listen))
        if self.config.precompute_pages:
            precompute(self._state)
        return self.base_url

    async def close(self) -> None:
        """Stop serving; stalled requests are released; idempotent."""
        self._closed = True
        if self._state.closing is not None:
            self._state.closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        where = str(self._state.base) if self._state.base is not None else "not started"
        return (f"<Simulator {where} seed={self.config.seed} users={self.config.users} "
                f"vehicles={self.config.vehicles}>")
