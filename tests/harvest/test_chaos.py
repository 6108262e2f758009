"""Chaos: 52,800 records over four tokens with 10% of the requests faulted (every fault kind),
into each sink (JSONL files, PostgreSQL tables)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import Harvester, HarvestReport, LogKind, PostgresSink
from evenergy_async._harvest._verify import expected_keys
from evenergy_async.simulator import FAULT_KINDS, FaultConfig, SimulatorConfig

from ..spec_oracle import validated_simulator
from .conftest import Target, no_sleep

RETRIED = {
    "http_500",
    "http_502",
    "http_503",
    "rate_limit_short",
    "drop_mid_body",
    "truncated_json",
    "invalid_json",
    "stall",
    "malformed_link",
    "drop_before_response",
    "drop_after_processing",
}


async def test_chaos_harvest_is_exactly_once(target: Target) -> None:
    paths: Any = frozenset({"log_lists", "vehicles"})  # (the converter= field confuses mypy)
    faults = FaultConfig(rate=0.10, seed=2024, stall_seconds=4.0, paths=paths)
    config = SimulatorConfig(seed=9, users=4, vehicles=120, logs_per_kind=110, faults=faults)
    async with validated_simulator(config) as sim:
        clients = [
            EvEnergyClient(
                sim.user_token(i),
                base_url=sim.base_url,
                timeout=2.0,  # well above a slow answer on a loaded machine: only stalls time out
                sleep=no_sleep,
                retry=RetryPolicy(max_attempts=4),
            )
            for i in range(4)
        ]
        reports: list[HarvestReport] = []
        try:
            for c in clients:
                await c.__aenter__()
            # long 429s (an hour) park their token; the next run (budget back) continues
            for _ in range(8):
                async with (
                    target.state_store() as state,
                    target.sink() as sink,
                    Harvester(
                        clients,
                        kinds=tuple(LogKind),
                        state=state,
                        max_park=0,
                        sleep=no_sleep,
                        until=datetime(2026, 11, 22, tzinfo=UTC),
                    ) as h,
                ):
                    reports.append(await h.run(sink))
                if isinstance(sink, PostgresSink):
                    assert sink.duplicates == 0  # records and watermarks in one transaction: nothing re-sent
                sim.reset_rate_limits()
                if reports[-1].complete:
                    break
        finally:
            for c in clients:
                await c.close()
        assert reports[-1].complete
        total = 0
        for kind in LogKind:
            # by key: "unknown_enum" faults change record contents on purpose, never identities
            got = await target.keys(kind)
            expected = expected_keys(sim, kind)
            assert len(got) == len(set(got)) and set(got) == expected
            total += len(got)
        assert total == 52_800
        injected = sim.stats.faults_injected
        assert set(injected) >= {"http_500", "http_503", "stall", "repeat_record", "rate_limit_long", "invalid_json"}
        assert set(injected) <= set(FAULT_KINDS)
        # accounting: every request the server saw is in the reports, and every fault that costs
        # a retry shows up as exactly one (aiohttp's own silent resend is off in the transport)
        retries = sum(r.retries for r in reports)
        parked = sum(r.retry_reasons.get("429-parked", 0) for r in reports)
        assert parked == injected["rate_limit_long"]
        assert sim.stats.requests == sum(r.http_requests for r in reports)
        assert retries - parked == sum(n for k, n in injected.items() if k in RETRIED)
        assert sum(r.boundary_duplicates for r in reports) == injected["repeat_record"]
