"""Fixtures for the simulator's own tests (plain aiohttp client, not the library's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from evenergy_async.simulator import Simulator, SimulatorConfig

from ..spec_oracle import validated_simulator


@pytest.fixture
async def simulator() -> AsyncIterator[Simulator]:
    """A started simulator with a small data set (3 users, 6 vehicles, 30 logs per kind)."""
    async with validated_simulator(SimulatorConfig(users=3, vehicles=6, logs_per_kind=30)) as sim:
        yield sim


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s
