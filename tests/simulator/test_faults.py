"""Fault injection: every kind is observable, counted, and random faults replay by seed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from evenergy_async.simulator import FAULT_KINDS, FaultConfig, Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from .helpers import LINK_RE, bearer, links


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    cfg = SimulatorConfig(users=2, vehicles=2, logs_per_kind=12,
                          faults=FaultConfig(stall_seconds=5.0))
    async with validated_simulator(cfg) as s:
        yield s


def logs_url(sim: Simulator, kind: str = "status", page_size: int = 5) -> str:
    vid = sim.data.vehicles_of(sim.user_id(0))[0]["id"]
    return f"{sim.base_url}/vehicles/{vid}/{kind}_logs?page_size={page_size}"


async def test_http_errors(sim: Simulator, session: aiohttp.ClientSession) -> None:
    h = bearer(sim.user_token(0))
    for kind, status, ctype in (("http_500", 500, "application/problem+json"),
                                ("http_502", 502, "text/html"), ("http_503", 503, "text/html")):
        sim.inject_fault(kind)
        async with session.get(logs_url(sim), headers=h) as r:
            assert r.status == status and r.content_type == ctype
            assert r.headers["EvEnergy-Version"] == "2"
    async with session.get(logs_url(sim), headers=h) as r:
        assert r.status == 200  # forced faults are used up
    assert sim.stats.faults_injected == {"http_500": 1, "http_502": 1, "http_503": 1}
    assert [e.kind for e in sim.fault_log] == ["http_500", "http_502", "http_503"]
    assert all(e.forced for e in sim.fault_log)


@pytest.mark.parametrize(("kind", "seconds"), [("rate_limit_short", "1"),
                                                ("rate_limit_long", "3600")])
async def test_injected_429(
    sim: Simulator, session: aiohttp.ClientSession, kind: str, seconds: str
) -> None:
    sim.inject_fault(kind)
    async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
        assert r.status == 429 and r.headers["Retry-After"] == seconds
        assert r.headers["X-RateLimit-Remaining"] == "0"


async def test_drop_before_response(sim: Simulator, session: aiohttp.ClientSession) -> None:
    # aiohttp's client silently retries an idempotent request once when the server
    # disconnects: two drops in a row surface on a GET.
    sim.inject_fault("drop_before_response", count=2)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
            await r.read()
    assert sim.stats.dropped == 2
    assert sim.stats.requests == 2
    async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
        assert r.status == 200


async def test_drop_before_response_on_a_post(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.inject_fault("drop_before_response", path="/v2/vehicles")
    before = len(sim.data.vehicles)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.post(f"{sim.base_url}/vehicles", headers=bearer(sim.user_token(0)),
                                json={"model": sim.data.models[0]["url"]}) as r:
            await r.read()
    assert len(sim.data.vehicles) == before  # dropped before the handler ran
    assert sim.stats.by_operation["post-vehicles"] == 1  # not replayed


async def test_drop_after_processing_loses_the_answer_of_a_done_write(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.inject_fault("drop_after_processing", path="/v2/vehicles")
    before = len(sim.data.vehicles)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with session.post(f"{sim.base_url}/vehicles", headers=bearer(sim.user_token(0)),
                                json={"model": sim.data.models[0]["url"]}) as r:
            await r.read()
    assert len(sim.data.vehicles) == before + 1  # the vehicle was created all the same
    assert sim.stats.faults_injected["drop_after_processing"] == 1
    assert 599 not in sim.stats.by_status


async def test_drop_mid_body(sim: Simulator, session: aiohttp.ClientSession) -> None:
    sim.inject_fault("drop_mid_body")
    async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
        assert r.status == 200
        announced = int(r.headers["Content-Length"])
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()
    assert announced > 100
    assert sim.stats.faults_injected["drop_mid_body"] == 1


async def test_truncated_and_invalid_json(sim: Simulator, session: aiohttp.ClientSession) -> None:
    for kind in ("truncated_json", "invalid_json"):
        sim.inject_fault(kind)
        async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
            assert r.status == 200 and r.content_type == "application/json"
            body = await r.read()
            assert int(r.headers["Content-Length"]) == len(body)
            with pytest.raises(ValueError):
                json.loads(body)


async def test_stall_times_out_the_client_and_is_cancelled(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    sim.inject_fault("stall")
    t0 = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with session.get(logs_url(sim), headers=bearer(sim.user_token(0)),
                               timeout=aiohttp.ClientTimeout(total=0.2)) as r:
            await r.read()
    assert time.monotonic() - t0 < 2
    assert sim.stats.faults_injected["stall"] == 1


async def test_close_releases_a_stalled_request(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=3,
                          faults=FaultConfig(stall_seconds=60.0))
    sim = validated_simulator(cfg)
    await sim.start()
    sim.inject_fault("stall")

    async def call() -> int:
        async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
            await r.read()
            return r.status

    task = asyncio.create_task(call())
    await asyncio.sleep(0.1)
    t0 = time.monotonic()
    await sim.close()
    with contextlib.suppress(aiohttp.ClientError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - t0 < 3


async def test_malformed_link(sim: Simulator, session: aiohttp.ClientSession) -> None:
    seen = set()
    for _ in range(4):
        sim.inject_fault("malformed_link")
        async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
            assert r.status == 200
            header = r.headers["Link"]
            seen.add(header)
            assert {rel for _url, rel in LINK_RE.findall(header)} != {"next", "previous"}
    assert len(seen) == 4  # four different malformations


async def test_repeat_record_at_page_boundary(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    h = bearer(sim.user_token(0))
    sim.inject_fault("repeat_record")  # waits for a page with page_after
    async with session.get(logs_url(sim, "command"), headers=h) as r:
        first = await r.json()
        nxt = links(r)["next"]
    assert sim.stats.faults_injected["repeat_record"] == 0
    async with session.get(nxt, headers=h) as r:
        second = await r.json()
    assert second[0] == first[-1] and len(second) == 6
    assert sim.stats.faults_injected["repeat_record"] == 1


async def test_unknown_fields_and_enum_values(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    h = bearer(sim.user_token(0))
    sim.inject_fault("unknown_fields")
    async with session.get(logs_url(sim, "location"), headers=h) as r:
        body = await r.json()
    assert all("x_simulator_extra" in item for item in body)
    sim.inject_fault("unknown_enum")
    async with session.get(logs_url(sim, "status"), headers=h) as r:
        body = await r.json()
    assert {item["state"] for item in body} == {"HOVERING"}
    assert sim.stats.faults_injected == {"unknown_fields": 1, "unknown_enum": 1}


async def test_token_expiry_kills_refreshable_tokens_only(
    sim: Simulator, session: aiohttp.ClientSession
) -> None:
    token = sim.issue_token(sim.user_id(0))["access_token"]
    sim.inject_fault("token_expiry")
    async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
        assert r.status == 200  # static user tokens cannot be refreshed: not applicable
    for _ in range(2):
        async with session.get(logs_url(sim), headers=bearer(token)) as r:
            assert r.status == 401
    assert sim.stats.faults_injected["token_expiry"] == 1


async def run_sequence(seed: int, n: int = 60) -> list[tuple[str, str, int]]:
    cfg = SimulatorConfig(users=2, vehicles=2, logs_per_kind=30,
                          faults=FaultConfig(rate=0.4, seed=seed, stall_seconds=0.01))
    async with validated_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        token = sim.issue_token()["access_token"]
        for i in range(n):
            vid = sim.data.vehicles[i % 2]["id"]
            url = f"{sim.base_url}/vehicles/{vid}/status_logs?page_size=5"
            try:
                async with session.get(url, headers=bearer(token)) as r:
                    await r.read()
            except aiohttp.ClientError:
                pass
            if any(e.kind == "token_expiry" for e in sim.fault_log):
                token = sim.issue_token()["access_token"]
        assert sum(sim.stats.faults_injected.values()) == len(sim.fault_log)
        return [(e.kind, e.path, e.path_request_number) for e in sim.fault_log]


async def test_random_faults_replay_by_seed() -> None:
    a = await run_sequence(11)
    b = await run_sequence(11)
    c = await run_sequence(12)
    assert a == b
    assert a != c
    assert 10 < len(a) < 45  # rate 0.4 of 60
    assert len({k for k, _p, _n in a}) >= 5


async def test_faults_hit_log_lists_only_by_default(session: aiohttp.ClientSession) -> None:
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=3,
                          faults=FaultConfig(rate=1.0, kinds={"http_503": 1.0}))
    async with validated_simulator(cfg) as sim:
        h = bearer(sim.user_token(0))
        async with session.get(f"{sim.base_url}/vehicles", headers=h) as r:
            assert r.status == 200
        async with session.get(logs_url(sim, "error"), headers=h) as r:
            assert r.status == 503
        async with session.post(sim.token_url, data={
                "grant_type": "client_credentials", "client_id": sim.client_id,
                "client_secret": sim.client_secret}) as r:
            assert r.status == 200
        sim.set_faults(FaultConfig(rate=1.0, kinds={"http_503": 1.0}, paths={"all"}))
        async with session.get(f"{sim.base_url}/vehicles", headers=h) as r:
            assert r.status == 503
        async with session.post(sim.token_url, data={"grant_type": "client_credentials"}) as r:
            assert r.status == 401  # "all" still excludes the token endpoint
        sim.set_faults(FaultConfig(rate=1.0, kinds={"http_503": 1.0}, paths={"token"}))
        async with session.post(sim.token_url, data={"grant_type": "client_credentials"}) as r:
            assert r.status == 503


async def test_max_faults_and_config_validation() -> None:
    with pytest.raises(ValueError):
        FaultConfig(kinds={"gremlins": 1.0})
    with pytest.raises(ValueError):
        FaultConfig(rate=1.5)
    with pytest.raises(ValueError):
        FaultConfig(paths={"nowhere"})
    assert set(FaultConfig().kinds) == set(FAULT_KINDS)
    cfg = SimulatorConfig(users=1, vehicles=1, logs_per_kind=3,
                          faults=FaultConfig(rate=1.0, kinds={"http_500": 1.0}, max_faults=2))
    async with validated_simulator(cfg) as sim, aiohttp.ClientSession() as session:
        statuses = []
        for _ in range(4):
            async with session.get(logs_url(sim), headers=bearer(sim.user_token(0))) as r:
                statuses.append(r.status)
        assert statuses == [500, 500, 200, 200]
