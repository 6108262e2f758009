"""Shared fixtures: the simulator on a free loopback port, and clients bound to it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async.simulator import Simulator, SimulatorConfig

from .pgserver import PgServer, PgUnavailable, start_server


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Override in a test module to change the data set."""
    return SimulatorConfig(seed=7, users=3, vehicles=9, logs_per_kind=30)


@pytest.fixture
async def sim(sim_config: SimulatorConfig) -> AsyncIterator[Simulator]:
    async with Simulator(sim_config) as s:
        yield s


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[EvEnergyClient]:
    """A client with user 0's token; retries do not sleep."""
    async with EvEnergyClient(
        sim.user_token(0), base_url=sim.base_url, sleep=no_sleep, retry=RetryPolicy(max_attempts=3)
    ) as c:
        yield c


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server for the session (see tests/pgserver.py). Never skipped: no
    server means the PostgreSQL tests fail, with the reason."""
    try:
        server = start_server()
    except PgUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_schema() -> str:
    """A schema name of the test's own (tables are created in it on first use)."""
    return f"t_{uuid.uuid4().hex[:12]}"
