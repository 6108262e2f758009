"""Shared fixtures: the simulator on a free loopback port, and clients bound to it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async.simulator import Simulator, SimulatorConfig

from . import quirks
from .pgserver import PgServer, PgUnavailable, start_server
from .spec_oracle import Recorder, set_recorder, validated_simulator


async def no_sleep(_: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Override in a test module to change the data set."""
    return SimulatorConfig(seed=7, users=3, vehicles=9, logs_per_kind=30)


@pytest.fixture
async def sim(sim_config: SimulatorConfig) -> AsyncIterator[Simulator]:
    async with validated_simulator(sim_config) as s:
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
@pytest.fixture(autouse=True)
def spec_violations(request: pytest.FixtureRequest) -> Iterator[Recorder]:
    """Every exchange with a simulator this test starts is checked against the OpenAPI document
    (``tests/spec_oracle.py``); any violation fails the test at teardown."""
    marker = request.node.get_closest_marker("invalid_requests")
    rec = Recorder(
        request.node.nodeid,
        tolerate_invalid_requests=marker is not None,
        tolerate_accepted=marker is not None and bool(marker.kwargs.get("accepted")),
    )
    set_recorder(rec)
    try:
        yield rec
    finally:
        set_recorder(None)
    if rec.check_pending():
        pytest.fail(rec.report(), pytrace=False)
    if marker is not None and not rec.tolerated:
        pytest.fail("marked invalid_requests, but every request conformed to the document: drop the mark",
                    pytrace=False)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a whole-suite run, an allow-list entry that nothing needed is a failure."""
    cfg = session.config
    whole = (cfg.args_source == pytest.Config.ArgsSource.TESTPATHS and not cfg.option.collectonly
             and not cfg.option.keyword
             and not cfg.option.markexpr and not getattr(cfg.option, "lf", False)
             and not getattr(cfg.option, "deselect", None))
    unused = quirks.unused()
    if whole and unused and session.testsfailed == 0:
        reporter = cfg.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"tests/quirks.py: allow-list entries no exchange needed: {unused}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
