"""Many credentials through one client: ``Harvester(client, credentials=...)``.

Connections are counted at the server side of the socket (the TCP relay of test_views);
scheduling is checked from what the sink receives, in order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from yarl import URL

from evenergy_async import BearerToken, EvEnergyClient, RetryPolicy
from evenergy_async._harvest import CredentialEntry, Harvester, LogKind, MemorySink
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from ..test_views import ConnectionCounter
from .conftest import assert_exactly_once, expected_lines, harvested_lines, no_sleep, record_lines, vehicles_of

KINDS = (LogKind.STATUS, LogKind.COMMAND)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=5, users=40, vehicles=40, logs_per_kind=9)


async def test_forty_tokens_one_pool_of_four_connections_exactly_once(tmp_path: Path) -> None:
    async with ConnectionCounter(URL("http://127.0.0.1:1")) as relay:
        # the simulator's links name the relay, so every page goes through it
        config = SimulatorConfig(seed=5, users=40, vehicles=40, logs_per_kind=9, public_url=str(relay.url / "v2"))
        async with validated_simulator(config) as sim:
            relay.upstream = sim.listen_url.origin()
            async with EvEnergyClient(base_url=relay.url / "v2", max_connections=4, sleep=no_sleep) as client:
                credentials = {f"user{i}": sim.user_token(i) for i in range(40)}
                async with Harvester(client, credentials=credentials, kinds=KINDS, page_size=4, concurrency=8) as h:
                    report = await h.run(tmp_path)
            assert report.complete and report.ok
            assert sorted(report.tokens) == sorted(credentials)
            for i in range(40):  # each token listed and harvested its own user's vehicle
                assert report.tokens[f"user{i}"].vehicles == 1
            assert report.http_requests > 40 * 4
            assert 1 <= relay.opened <= 4 and relay.max_open <= 4  # 40 tokens, one pool of 4
            for kind in KINDS:
                assert_exactly_once(harvested_lines(tmp_path, kind), expected_lines(sim, kind))


async def test_credentials_are_read_lazily_in_every_form(sim: Simulator) -> None:
    read = 0

    async def stream() -> AsyncIterator[object]:
        nonlocal read
        for i in range(40):
            read += 1
            token = sim.user_token(i)
            # entries, pairs and bare credentials may be mixed
            yield (
                CredentialEntry(BearerToken(token), label=f"u{i}")
                if i % 3 == 0
                else (f"u{i}", token)
                if i % 3 == 1
                else BearerToken(token)
            )

    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:
        harvester = Harvester(client, credentials=stream(), kinds=KINDS, page_size=4, concurrency=2)
        records = []
        read_at_first_batch = None
        async with harvester:
            async for batch in harvester:
                if read_at_first_batch is None:
                    read_at_first_batch = read
                records.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)
        assert read_at_first_batch is not None and read_at_first_batch <= 6  # not all 40 up front
        assert read == 40
        report = harvester.report
        assert report.complete
        labels = set(report.tokens)
        assert {f"u{i}" for i in range(40) if i % 3 != 2} <= labels
        assert {f"token{i}" for i in range(40) if i % 3 == 2} <= labels  # unlabelled: by position
    for kind in KINDS:
        assert_exactly_once(record_lines(records, kind), expected_lines(sim, kind))


async def test_bad_credentials_inputs_are_refused(sim: Simulator) -> None:
    async with EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client:
        with pytest.raises(TypeError, match="credentials must be"):
            Harvester(client, credentials="a-token")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="give one client"):
            Harvester([client], credentials=["a"])
        with pytest.raises(ValueError, match="no credentials"):
            Harvester(client, credentials={})
        with pytest.raises(ValueError, match="mapping label"):
            Harvester(client, credentials=["a"], vehicles=["v1"])
        with pytest.raises(ValueError, match="unknown client labels"):
            Harvester(client, credentials={"a": "t"}, vehicles={"b": ["v1"]})
        twice = [("same", sim.user_token(0)), ("same", sim.user_token(1))]
        async with Harvester(client, credentials=twice, kinds=KINDS) as h:
            with pytest.raises(ValueError, match="two credentials are labelled 'same'"):
                await h.run(MemorySink())
        async with Harvester(client, credentials=iter([1]), kinds=KINDS) as h:  # type: ignore[list-item]
            with pytest.raises(TypeError, match="not a credential"):
                await h.run(MemorySink())


# -- scheduling: a worker pool shared by every token ---------------------------------------


def tight_client(sim: Simulator) -> EvEnergyClient:
    # a 429 is never slept on by the client: the harvester parks the token instead
    return EvEnergyClient(base_url=sim.base_url, retry=RetryPolicy(retry_after_cap=0.0), sleep=no_sleep)


async def burn(sim: Simulator, user: int) -> None:
    """Someone else spends user ``user``'s whole budget of the window."""
    async with EvEnergyClient(sim.user_token(user), base_url=sim.base_url, sleep=no_sleep) as burner:
        vid = vehicles_of(sim, user)[0]
        await asyncio.gather(*(burner.vehicles.get(vid) for _ in range(sim.config.rate_limit)))


async def test_a_parked_token_holds_no_worker() -> None:
    config = SimulatorConfig(seed=7, users=2, vehicles=2, logs_per_kind=8, rate_limit=10, rate_window=1.0)
    async with validated_simulator(config) as sim:
        await burn(sim, 0)
        order: list[str] = []
        times: dict[str, float] = {}
        t0 = time.monotonic()
        async with (
            tight_client(sim) as client,
            Harvester(
                client,
                credentials=[("spent", sim.user_token(0)), ("fresh", sim.user_token(1))],
                kinds=KINDS,
                page_size=4,
                concurrency=1,  # one worker for both tokens
            ) as h,
        ):
            async for batch in h:
                order.append(batch.token)
                times[batch.token] = time.monotonic() - t0
        assert h.report.complete and h.report.tokens["spent"].parks >= 1
        # the one worker served the fresh token while the spent one waited for its window
        assert order.index("spent") > len(order) - 1 - order[::-1].index("fresh")
        assert times["fresh"] < 0.9


async def test_budget_bound_mix_no_token_starves() -> None:
    """Two tokens come back from a spent budget while twelve others keep three workers busy:
    they are served in their turn, not after everyone else is done."""
    fresh = 12
    config = SimulatorConfig(
        seed=9, users=fresh + 2, vehicles=fresh + 2, logs_per_kind=16, rate_limit=40, rate_window=1.0, latency=0.02
    )
    async with validated_simulator(config) as sim:
        await asyncio.gather(burn(sim, 0), burn(sim, 1))
        order: list[str] = []
        times: list[float] = []
        records = []
        async with (
            tight_client(sim) as client,
            Harvester(
                client,
                credentials={f"u{i}": sim.user_token(i) for i in range(fresh + 2)},
                kinds=(LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND),
                page_size=2,
                concurrency=3,
                per_token_concurrency=2,
            ) as h,
        ):
            t0 = time.monotonic()
            async for batch in h:
                order.append(batch.token)
                times.append(time.monotonic() - t0)
                records.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)
        report = h.report
        assert report.complete, report.summary()
        assert report.tokens["u0"].parks >= 1 and report.tokens["u1"].parks >= 1
        for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
            assert_exactly_once(record_lines(records, kind), expected_lines(sim, kind))
        for label in ("u0", "u1"):
            first = order.index(label)
            last = len(order) - 1 - order[::-1].index(label)
            # served as soon as its window refilled (1 s after its first, refused, request) ...
            assert times[first] < 1.6, (label, times[first])
            # ... and then at its fair share (1/active tokens), not after the busy ones are done
            during = order[first : last + 1]
            share = during.count(label) / len(during)
            assert share >= 0.5 / len(set(during)), (label, share, len(set(during)))
            assert last < len(order) - 1 or times[first] < times[-1] * 0.8
        # credentials are read lazily: the busy ones joined as workers fell idle, not all at once
        assert order[0] in ("u2", "u3", "u4") and set(order[:3]) <= {"u2", "u3", "u4", "u5"}


async def test_a_fleet_backfill_that_parks_every_token_prints_a_bounded_summary() -> None:
    """A first harvest of a fleet spends every token's budget: each token is parked, and the text
    summary names twenty of them and counts the rest (the JSON report lists them all), as it
    does for tokens and failures; it printed a line per parked token before."""
    users = 25
    config = SimulatorConfig(seed=12, users=users, vehicles=users, logs_per_kind=30, rate_limit=3, rate_window=3600)
    async with (
        validated_simulator(config) as sim,
        EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
        Harvester(
            client, credentials={f"u{i:02d}": sim.user_token(i) for i in range(users)}, kinds=[LogKind.STATUS],
            page_size=5, max_park=0, concurrency=8,
        ) as h,  # fmt: skip
    ):
        report = await h.run(MemorySink())
    assert len(report.parked) == users and not report.failures
    lines = report.summary().splitlines()
    assert sum(line.startswith("  PARKED: token ") for line in lines) == 20
    latest = max(p.until for p in report.parked).isoformat()
    assert lines[-1] == f"  ... and 5 more parked tokens (the last until {latest}; the JSON report lists them all)"
    assert len(report.to_dict()["parked"]) == users
