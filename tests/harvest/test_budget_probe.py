"""The budget probe: one request to learn a token's budget only when nobody knows it.

A token whose budget the client already knows (its latest rate-limit headers: an earlier
call, a vehicle listing) opens up at once; an unknown budget is learnt with one request
first; an exhausted token costs exactly one 429 either way (then it is parked).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import Harvester, MemorySink, MemoryStateStore
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from .conftest import no_sleep, vehicles_of

T1 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    config = SimulatorConfig(seed=4, users=1, vehicles=6, logs_per_kind=5, rate_limit=40, latency=0.02)
    async with validated_simulator(config) as s:
        yield s


class Timeline:
    """Request starts and ends as a real aiohttp session sees them (a TraceConfig)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.trace = aiohttp.TraceConfig()
        self.trace.on_request_start.append(self._start)
        self.trace.on_request_end.append(self._end)

    async def _start(self, _s: Any, _c: SimpleNamespace, _p: Any) -> None:
        self.events.append("start")

    async def _end(self, _s: Any, _c: SimpleNamespace, _p: Any) -> None:
        self.events.append("end")

    def before_first_response(self) -> int:
        """How many requests were sent before the first response arrived."""
        return self.events.index("end") if "end" in self.events else len(self.events)


def client(sim: Simulator, session: aiohttp.ClientSession | None = None) -> EvEnergyClient:
    return EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, session=session, retry=RetryPolicy(max_attempts=1), sleep=no_sleep
    )


async def harvest(c: EvEnergyClient, vids: list[str]) -> Any:
    async with Harvester(
        c, vehicles=vids, kinds="status", state=MemoryStateStore(), per_token_concurrency=6, max_park=1.0,
        now=lambda: T1,
    ) as h:
        return await h.run(MemorySink())


async def test_an_unknown_budget_is_learnt_with_one_request_first(sim: Simulator) -> None:
    timeline = Timeline()
    async with aiohttp.ClientSession(trace_configs=[timeline.trace]) as session, client(sim, session) as c:
        report = await harvest(c, vehicles_of(sim, 0))
    assert report.complete
    assert timeline.before_first_response() == 1  # the probe, alone


async def test_a_budget_the_client_knows_needs_no_probe(sim: Simulator) -> None:
    timeline = Timeline()
    async with aiohttp.ClientSession(trace_configs=[timeline.trace]) as session, client(sim, session) as c:
        vids = [v.id async for v in c.vehicles.list()]  # what the CLI does first: the budget is known
        timeline.events.clear()
        report = await harvest(c, vids)
    assert report.complete and report.http_requests == 6
    assert timeline.before_first_response() == 6  # every worker at once


@pytest.mark.parametrize("burner", ["another client", "the same client"])
async def test_an_exhausted_token_costs_exactly_one_429(sim: Simulator, burner: str) -> None:
    vids = vehicles_of(sim, 0)
    async with client(sim) as c:
        async with client(sim) as other:
            spender = other if burner == "another client" else c
            for _ in range(40):  # the whole budget, spent before the harvest
                await spender.vehicles.get(vids[0])
        assert sim.stats.rate_limited == 0
        report = await harvest(c, vids)
    assert sim.stats.rate_limited == 1  # one probe's 429, then parked: nothing else sent
    assert report.parked and report.partitions_parked == len(vids) and report.records_total == 0


async def test_the_probe_answer_opens_the_token_at_once(sim: Simulator) -> None:
    """Once the probe's response made the budget known, the token's other partitions start
    while the probe's partition goes on to its next page: no second round trip alone."""
    timeline = Timeline()
    async with (
        aiohttp.ClientSession(trace_configs=[timeline.trace]) as session,
        client(sim, session) as c,
        Harvester(
            c, vehicles=vehicles_of(sim, 0), kinds="status", state=MemoryStateStore(), per_token_concurrency=6,
            page_size=2, now=lambda: T1,
        ) as h,
    ):
        report = await h.run(MemorySink())
    assert report.complete and report.requests > 6  # several pages per partition
    events = timeline.events
    first_end = events.index("end")
    second_end = events.index("end", first_end + 1)
    assert first_end == 1  # the probe, alone
    assert events[first_end + 1 : second_end].count("start") == 6  # then every worker at once
