"""A real aiohttp server over loopback whose answers a test scripts, for fault paths.

Each request pops the next action for its path (or uses the default); an action is a
function of the request returning a response, or ``DROP`` to close the connection
without answering.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
from aiohttp import web
from yarl import URL

Action = Callable[[web.Request], Awaitable[web.StreamResponse] | web.StreamResponse]


async def DROP(request: web.Request) -> web.StreamResponse:
    assert request.transport is not None
    request.transport.close()
    await asyncio.sleep(0)
    return web.Response()


def json_response(data: Any, status: int = 200, **headers: str) -> Action:
    def act(_: web.Request) -> web.StreamResponse:
        return web.json_response(data, status=status, headers=headers)

    return act


def problem(status: int, title: str = "problem", **headers: str) -> Action:
    def act(_: web.Request) -> web.StreamResponse:
        body = {"title": title, "status": status, "detail": f"{title} detail"}
        return web.json_response(body, status=status, headers=headers, content_type="application/problem+json")

    return act


@attrs.define
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    def __init__(self) -> None:
        self.actions: dict[str, deque[Action]] = defaultdict(deque)
        self.default: dict[str, Action] = {}
        self.seen: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.url = URL()

    def script(self, path: str, *actions: Action) -> None:
        self.actions[path].extend(actions)

    def always(self, path: str, action: Action) -> None:
        self.default[path] = action

    def count(self, path: str) -> int:
        return sum(1 for s in self.seen if s.path == path)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append(
            Seen(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        queue = self.actions.get(request.path)
        if queue:
            action = queue.popleft()
        elif request.path in self.default:
            action = self.default[request.path]
        else:
            return web.json_response({"title": "not scripted"}, status=404)
        result = action(request)
        if not isinstance(result, web.StreamResponse):
            result = await result
        return result

    async def __aenter__(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = URL(f"http://127.0.0.1:{port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    def open_connections(self) -> int:
        assert self._runner is not None and self._runner.server is not None
        return len(self._runner.server.connections)

    @property
    def base_url(self) -> URL:
        return self.url / "v2"
