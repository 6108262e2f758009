"""``client.with_auth(credential)``: many credentials through one session and connection pool.

Connections are counted at the server side of the socket: a TCP relay in front of the
simulator counts every connection accepted and the most open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from functools import partial

import pytest
from yarl import URL

from evenergy_async import (
    BearerToken,
    ClientCredentials,
    ClientStateError,
    EvEnergyClient,
    OAuthToken,
    RefreshToken,
    RetryPolicy,
    UnauthorizedError,
)
from evenergy_async.simulator import Simulator, SimulatorConfig

from .conftest import no_sleep

USERS = 200


class ConnectionCounter:
    """A loopback TCP relay to ``upstream`` that counts the connections clients open to it."""

    def __init__(self, upstream: URL) -> None:
        self.upstream = upstream
        self.opened = 0
        self.open_now = 0
        self.max_open = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.url = URL()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            up_reader, up_writer = await asyncio.open_connection(self.upstream.host, self.upstream.port)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.open_now -= 1

    def _spawn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._handle(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __aenter__(self) -> ConnectionCounter:
        self._server = await asyncio.start_server(self._spawn, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = URL(f"http://127.0.0.1:{port}")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=3, users=USERS, vehicles=USERS, logs_per_kind=0)


@pytest.fixture
async def relay(sim: Simulator) -> AsyncIterator[ConnectionCounter]:
    async with ConnectionCounter(sim.origin) as r:
        yield r


async def test_200_views_share_one_pool_of_8_connections(sim: Simulator, relay: ConnectionCounter) -> None:
    async with EvEnergyClient(base_url=relay.url / "v2", max_connections=8, sleep=no_sleep) as client:
        views = [client.with_auth(sim.user_token(i)) for i in range(USERS)]

        async def work(i: int) -> list[str]:
            view = views[i]
            page = await view.vehicles.list().fetch_page()
            await view.vehicles.get(page.items[0].id)
            return [str(v.user) for v in page.items]

        owners = await asyncio.gather(*(work(i) for i in range(USERS)))
        # each view used its own credential: it saw its own user's vehicle
        for i, users in enumerate(owners):
            assert users and all(sim.user_id(i) in u for u in users)
        # at the server: never more than the pool's 8 connections, however many views
        assert 1 <= relay.opened <= 8 and relay.max_open <= 8
        assert sim.stats.requests == 2 * USERS

        # each view's rate limit is its own (one server bucket per user here)
        limit = sim.config.rate_limit
        assert all(v.rate_limit is not None and v.rate_limit.remaining == limit - 2 for v in views)
        for _ in range(3):
            await views[0].vehicles.list().fetch_page()
        assert views[0].rate_limit is not None and views[0].rate_limit.remaining == limit - 5
        assert views[1].rate_limit is not None and views[1].rate_limit.remaining == limit - 2
        assert client.rate_limit is None  # the parent (no credential) made no call
        assert relay.opened <= 8


async def test_views_compose_with_as_user_and_keep_their_credential(sim: Simulator) -> None:
    cred = ClientCredentials(sim.client_id, sim.client_secret)
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep) as client:
        app = client.with_auth(cred)
        for view in (app.as_user(sim.user_id(2)), client.as_user(sim.user_id(2)).with_auth(cred)):
            page = await view.vehicles.list().fetch_page()
            assert page.items and all(sim.user_id(2) in str(v.user) for v in page.items)
        # the parent keeps its own token: user 0's vehicles
        mine = await client.vehicles.list().fetch_page()
        assert all(sim.user_id(0) in str(v.user) for v in mine.items)
        # rate-limit state per credential and per acting user
        assert app.rate_limit is None  # the app itself (no acting user) made no call
        assert app.as_user(sim.user_id(2)).rate_limit is not None
        assert client.stats.token_requests == 1  # one client-credentials token, shared by both views


async def test_refresh_token_views_each_fetch_their_own_token(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:
        views = []
        for i in range(3):
            issued = sim.issue_token(sim.user_id(i))
            cred = RefreshToken(issued["refresh_token"], client_id=sim.client_id, client_secret=sim.client_secret)
            views.append(client.with_auth(cred))
        pages = await asyncio.gather(*(v.vehicles.list().fetch_page() for v in views))
        for i, page in enumerate(pages):
            assert all(sim.user_id(i) in str(v.user) for v in page.items)
        assert client.stats.token_requests == 3


async def test_a_view_cannot_be_closed_on_its_own(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:
        view = client.with_auth(BearerToken(sim.user_token(0)))
        await view.close()  # no effect: the client owns the session
        assert not view.is_closed and not client.is_closed
        await view.vehicles.list().fetch_page()
        with pytest.raises(ClientStateError):
            async with view:
                pass
    assert view.is_closed
    with pytest.raises(ClientStateError):
        await view.vehicles.list().fetch_page()


async def test_with_auth_refuses_a_non_credential(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url) as client:
        with pytest.raises(TypeError):
            client.with_auth(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            client.with_auth(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            client.with_auth("")


async def test_a_bad_credential_fails_only_its_view(sim: Simulator) -> None:
    async with EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, retry=RetryPolicy(max_attempts=1)
    ) as client:
        with pytest.raises(UnauthorizedError):
            await client.with_auth("not-a-token").vehicles.list().fetch_page()
        assert (await client.vehicles.list().fetch_page()).items


async def test_equal_credentials_share_a_token_source_unhashable_ones_still_work(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:
        a = client.with_auth(ClientCredentials(sim.client_id, sim.client_secret, scopes=("vehicle:read",)))
        b = client.with_auth(ClientCredentials(sim.client_id, sim.client_secret, scopes=("vehicle:read",)))
        listed = client.with_auth(ClientCredentials(sim.client_id, sim.client_secret, scopes=["vehicle:read"]))
        for view in (a, b, listed):
            await view.vehicle_trims.list().fetch_page()
        assert client.stats.token_requests == 1  # scopes given as a list are the same scopes: one token

        class Saver:  # compares by value, so it cannot be hashed, nor can a credential holding it
            __hash__ = None  # type: ignore[assignment]

            def __eq__(self, other: object) -> bool:
                return isinstance(other, Saver)

            def __call__(self, token: object) -> None:
                pass

        pair = sim.issue_token(sim.user_id(0))
        unhashable = RefreshToken(pair["refresh_token"], sim.client_id, sim.client_secret, on_refresh=Saver())
        assert (await client.with_auth(unhashable).vehicles.list().fetch_page()).items  # still works
        assert client.stats.token_requests == 2  # its own token source: one refresh


async def test_a_backend_building_a_users_credential_per_request_refreshes_once(sim: Simulator) -> None:
    """A web backend keeps each user's refresh token in its database and, per request, makes
    ``with_auth(RefreshToken(stored, ..., on_refresh=save))``: every request a new credential
    object with its own callback. Concurrent requests of one user share one refresh (two refreshes
    of a rotating refresh token: the second is refused, invalid_grant), and a request made with
    the token that ``on_refresh`` saved finds the same token source: no refresh at all."""
    stored = {"alice": sim.issue_token(sim.user_id(0))["refresh_token"]}
    saves: list[str] = []

    async def save(user: str, token: OAuthToken) -> None:
        assert token.refresh_token is not None
        await asyncio.sleep(0)
        stored[user] = token.refresh_token
        saves.append(user)

    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:

        def request_view(user: str) -> EvEnergyClient:
            credential = RefreshToken(stored[user], sim.client_id, sim.client_secret, on_refresh=partial(save, user))
            return client.with_auth(credential)

        first = [request_view("alice") for _ in range(5)]
        pages = await asyncio.gather(*(view.vehicles.list().fetch_page() for view in first))
        assert all(page.items for page in pages)
        assert client.stats.token_requests == 1 and saves == ["alice"]
        later = request_view("alice")  # made from the rotated token, while a first view lives on
        assert (await later.vehicles.list().fetch_page()).items
        assert client.stats.token_requests == 1
        del first, pages, later
        gc.collect()  # no view of that grant left: the next request starts a token source anew
        assert (await request_view("alice").vehicles.list().fetch_page()).items
        assert client.stats.token_requests == 2 and saves == ["alice", "alice"]
