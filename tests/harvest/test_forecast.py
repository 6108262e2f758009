"""The forecast holds on a fleet whose partitions span many pages: requests and records within
25% of what the harvest then takes, with and without ``since``, and for an incremental run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from evenergy_async import EvEnergyClient, Harvester, MemorySink, MemoryStateStore
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator
from .conftest import make_client

PAGE = 20  # 600 logs a partition: 30 pages


@pytest.fixture
async def fleet() -> AsyncIterator[Simulator]:
    async with validated_simulator(SimulatorConfig(seed=21, users=2, vehicles=12, logs_per_kind=600)) as s:
        yield s


async def clients_of(sim: Simulator) -> list[EvEnergyClient]:
    opened = [make_client(sim, i) for i in range(sim.config.users)]
    for c in opened:
        await c.__aenter__()
    return opened


def within(estimate: float, actual: float, tolerance: float = 0.25) -> bool:
    return abs(estimate - actual) <= tolerance * actual


@pytest.mark.parametrize("since", [None, datetime(2026, 11, 8, tzinfo=UTC)])
async def test_forecast_of_a_many_page_fleet_is_within_25_percent(fleet: Simulator, since: datetime | None) -> None:
    clients = await clients_of(fleet)
    state = MemoryStateStore()
    until = datetime(2026, 11, 25, tzinfo=UTC)
    options = {"kinds": "status,command", "page_size": PAGE, "since": since, "until": until, "state": state}
    try:
        async with Harvester(clients, **options) as h:  # type: ignore[arg-type]
            plan = await h.plan()
        async with Harvester(clients, **options) as h:  # type: ignore[arg-type]
            report = await h.run(MemorySink())
        assert report.complete
        records = sum(report.records.values())
        assert report.requests > 10 * len(fleet.data.vehicles), "not a many-page fleet"
        assert within(plan.total_requests, report.requests), (plan.total_requests, report.requests)
        assert within(plan.estimated_records, records), (plan.estimated_records, records)
        assert not plan.approximate
        # a forecast costs a few requests a sampled partition (2 tokens x 2 kinds x 2 samples)
        assert plan.sample_requests <= 2 + 2 * 2 * 2 * 20

        # the next run, from the watermarks, with a few new logs: about one request a partition
        for vehicle in fleet.data.vehicles[:3]:
            fleet.add_logs("status", vehicle["id"], 50, after=until)
        later = {**options, "until": datetime(2026, 12, 1, tzinfo=UTC)}
        async with Harvester(clients, **later) as h:  # type: ignore[arg-type]
            plan = await h.plan()
        async with Harvester(clients, **later) as h:  # type: ignore[arg-type]
            report = await h.run(MemorySink())
        assert within(plan.total_requests, report.requests, 0.5), (plan.total_requests, report.requests)
    finally:
        for c in clients:
            await c.close()
