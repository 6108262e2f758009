"""Every Link-paginated list of the client, and the harvester, against every legal spelling of
the Link header the simulator can send: complete, in order, nothing repeated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import Harvester, LogKind
from evenergy_async.simulator import FaultConfig, Simulator, SimulatorConfig

from .conftest import no_sleep
from .harvest.conftest import assert_exactly_once, expected_lines, harvested_lines
from .spec_oracle import validated_simulator

STYLES = ["joined", "lines", "lines_next_first", "unquoted", "multi_rel", "param_order",
          "odd_whitespace", "upper_case"]
KINDS = {"status_logs": "status", "location_logs": "location", "command_logs": "command",
         "error_logs": "error"}
TIME_FIELD = {"status": "sampled_at", "location": "sampled_at", "command": "logged_at",
              "error": "logged_at"}


@pytest.fixture(params=STYLES)
async def styled(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Simulator, EvEnergyClient]]:
    cfg = SimulatorConfig(seed=5, users=2, vehicles=10, logs_per_kind=23, link_style=request.param)
    async with validated_simulator(cfg) as sim, EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, retry=RetryPolicy(max_attempts=2)
    ) as client:
        yield sim, client


def ids(items: list[Any]) -> list[str]:
    got = [item.id for item in items]
    assert len(got) == len(set(got)), "an item came twice"
    return got


async def test_every_list_operation_is_complete(styled: tuple[Simulator, EvEnergyClient]) -> None:
    sim, client = styled
    data = sim.data
    mine = [v["id"] for v in data.vehicles_of(sim.user_id(0))]
    assert len(mine) == 5
    assert ids([v async for v in client.vehicles.list(page_size=2)]) == mine
    assert ids([t async for t in client.vehicle_trims.list(page_size=7)]) == [t["id"] for t in data.trims]
    assert ids([m async for m in client.vehicle_models.list(page_size=7)]) == [m["id"] for m in data.models]
    assert ids([m async for m in client.vehicle_makes.list(page_size=7)]) == [m["id"] for m in data.makes]
    assert len(data.makes) > 7 and len(data.models) > 7 and len(data.trims) > 7
    by_name = sorted(data.makes, key=lambda m: (m["name"].casefold(), m["name"]), reverse=True)
    assert ids([m async for m in client.vehicle_makes.list(page_size=3, ordering="-name")]) == [
        m["id"] for m in by_name
    ]
    vid = mine[0]
    for attr, kind in KINDS.items():
        service = getattr(client, attr)
        field = TIME_FIELD[kind]
        got = [getattr(rec, field) async for rec in service.list(vid, page_size=5)]
        expected = [rec[field] for rec in data.logs(kind, vid)]
        assert len(got) == len(expected) == 23, attr
        assert [t.isoformat().replace("+00:00", "Z") for t in got] == expected, attr


async def test_model_connector_pages_are_complete(styled: tuple[Simulator, EvEnergyClient]) -> None:
    sim, client = styled
    mid = max({m for (m, _r) in sim.data.connectors},
              key=lambda m: sum(1 for (x, _r) in sim.data.connectors if x == m))
    expected = [r for (m, r) in sim.data.connectors if m == mid]
    assert len(expected) > 1
    got = [c.region async for c in client.vehicle_models.list_connectors(mid, page_size=1)]
    assert [str(r) for r in got] == expected


@pytest.mark.parametrize("style", STYLES)
async def test_full_harvest_is_exactly_the_data(style: str, tmp_path: Path) -> None:
    cfg = SimulatorConfig(seed=11, users=2, vehicles=6, logs_per_kind=23, link_style=style)
    async with validated_simulator(cfg) as sim:
        clients = [
            EvEnergyClient(sim.user_token(i), base_url=sim.base_url, sleep=no_sleep,
                           retry=RetryPolicy(max_attempts=2))
            for i in range(2)
        ]
        try:
            async with Harvester(clients, kinds=tuple(LogKind), page_size=5) as h:
                report = await h.run(tmp_path)
        finally:
            for c in clients:
                await c.close()
        assert report.complete and report.ok
        for kind in LogKind:
            assert_exactly_once(harvested_lines(tmp_path, kind), expected_lines(sim, kind))


async def test_harvest_under_mixed_spellings_is_exactly_the_data(tmp_path: Path) -> None:
    """Spellings change from page to page within one list (the link_spelling edge kind)."""
    faults = FaultConfig(rate=0.6, seed=4, kinds={"link_spelling": 1.0})
    cfg = SimulatorConfig(seed=12, users=1, vehicles=4, logs_per_kind=31, faults=faults)
    async with validated_simulator(cfg) as sim:
        async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url, sleep=no_sleep) as c, \
                Harvester([c], kinds=tuple(LogKind), page_size=4) as h:
            report = await h.run(tmp_path)
        assert report.complete and report.ok
        assert sim.stats.faults_injected["link_spelling"] > 20
        for kind in LogKind:
            assert_exactly_once(harvested_lines(tmp_path, kind), expected_lines(sim, kind))
