"""Rolling-window rate limits per (app, user) bucket, with an injected clock."""

from __future__ import annotations

import aiohttp

from evenergy_async.simulator import SimulatorConfig
from evenergy_async.simulator._ratelimit import RateLimiter

from ..spec_oracle import validated_simulator
from .helpers import bearer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_budget_spent_gives_429_with_retry_after(session: aiohttp.ClientSession) -> None:
    clock = Clock()
    cfg = SimulatorConfig(users=2, vehicles=2, logs_per_kind=2, rate_limit=3, rate_window=60,
                          clock=clock)
    async with validated_simulator(cfg) as sim:
        url = f"{sim.base_url}/vehicles"
        h = bearer(sim.user_token(0))
        remaining = []
        for _ in range(3):
            async with session.get(url, headers=h) as r:
                assert r.status == 200
                assert r.headers["X-RateLimit-Limit"] == "3"
                remaining.append(r.headers["X-RateLimit-Remaining"])
            clock.now += 10
        assert remaining == ["2", "1", "0"]
        async with session.get(url, headers=h) as r:
            assert r.status == 429
            assert r.content_type == "application/problem+json"
            assert r.headers["Retry-After"] == "30"  # oldest (t=1000) leaves at t=1060
            assert r.headers["X-RateLimit-Remaining"] == "0"
            assert (await r.json(content_type=None))["status"] == 429
        async with session.get(url, headers=bearer(sim.user_token(1))) as r:
            assert r.status == 200  # another user: another bucket
        clock.now = 1060.0
        async with session.get(url, headers=h) as r:
            assert r.status == 200 and r.headers["X-RateLimit-Remaining"] == "0"
        assert sim.stats.rate_limited == 1
        assert sim.stats.by_status[429] == 1


async def test_client_credentials_tokens_share_the_app_bucket(
    session: aiohttp.ClientSession,
) -> None:
    cfg = SimulatorConfig(users=2, vehicles=2, logs_per_kind=1, rate_limit=2, clock=Clock())
    async with validated_simulator(cfg) as sim:
        t1 = sim.issue_token()["access_token"]
        t2 = sim.issue_token()["access_token"]
        url = f"{sim.base_url}/vehicles"
        statuses = []
        for token in (t1, t2, t1):
            async with session.get(url, headers=bearer(token)) as r:
                statuses.append(r.status)
        assert statuses == [200, 200, 429]


async def test_retry_after_is_at_least_one_second() -> None:
    clock = Clock()
    limiter = RateLimiter(window=1.0, clock=clock)
    assert limiter.hit("b", 1).allowed
    clock.now += 0.999
    d = limiter.hit("b", 1)
    assert not d.allowed and d.retry_after == 1


async def test_token_endpoint_is_not_rate_limited(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=1, rate_limit=1, clock=Clock())
    async with validated_simulator(cfg) as sim:
        for _ in range(3):
            async with session.post(sim.token_url, data={
                "grant_type": "client_credentials", "client_id": sim.client_id,
                "client_secret": sim.client_secret,
            }) as r:
                assert r.status == 200
                assert "X-RateLimit-Remaining" not in r.headers


async def test_anonymous_calls_use_a_per_ip_bucket(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=1, anonymous_rate_limit=2,
                          clock=Clock())
    async with validated_simulator(cfg) as sim:
        statuses = []
        for _ in range(3):
            async with session.get(f"{sim.base_url}/vehicle_makes") as r:
                statuses.append(r.status)
        assert statuses == [200, 200, 429]
        async with session.get(f"{sim.base_url}/vehicle_makes",
                               headers=bearer(sim.user_token(0))) as r:
            assert r.status == 200 and r.headers["X-RateLimit-Limit"] == "1000"
