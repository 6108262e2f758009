"""The harvester end to end against the simulator over loopback (real aiohttp, the real client)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import (
    HarvestBatch,
    Harvester,
    JsonlSink,
    LogKind,
    MemorySink,
    MemoryStateStore,
    PostgresSink,
    shard_of,
)
from evenergy_async.simulator import Simulator, SimulatorConfig

from ..pgserver import PgServer
from ..spec_oracle import validated_simulator
from .conftest import (
    ALL_KINDS,
    Gated,
    JsonlTarget,
    Target,
    assert_exactly_once,
    expected_lines,
    harvested_lines,
    leftover_tasks,
    make_client,
    no_sleep,
    record_lines,
    vehicles_of,
)

T1 = datetime(2026, 11, 21, tzinfo=UTC)  # after every generated log (they end 2026-11-20)


def fixed(t: datetime) -> Any:
    return lambda: t


async def test_full_harvest_equals_simulator_data(
    sim: Simulator, clients: list[EvEnergyClient], target: Target
) -> None:
    async with (
        target.state_store() as state,
        target.sink() as sink,
        Harvester(clients, kinds=ALL_KINDS, state=state, page_size=7, concurrency=6, per_token_concurrency=3) as h,
    ):
        report = await h.run(sink)
    for kind in ALL_KINDS:
        assert_exactly_once(await target.lines(kind), expected_lines(sim, kind))
    assert report.complete and report.ok
    assert report.records_total == sum(sim.data.log_count(k.value) for k in ALL_KINDS)
    assert report.partitions_total == report.partitions_done == 12 * 4
    assert report.http_requests == sim.stats.requests  # every request the simulator saw is accounted for
    assert report.retries == 0
    assert {t.vehicles for t in report.tokens.values()} == {4}
    assert all(t.budget_remaining is not None for t in report.tokens.values())
    assert "harvest complete" in report.summary()
    assert report.max_queue_size <= report.queue_capacity


async def test_incremental_run_fetches_only_new_logs(
    sim: Simulator, clients: list[EvEnergyClient], tmp_path: Path
) -> None:
    state = MemoryStateStore()
    first = MemorySink()
    async with Harvester(clients, state=state, now=fixed(T1)) as h:
        r1 = await h.run(first)
    assert r1.complete
    vid0 = vehicles_of(sim, 0)[0]
    vid1 = vehicles_of(sim, 1)[2]
    added = {
        LogKind.STATUS: sim.add_logs("status", vid0, 3, after=T1),
        LogKind.COMMAND: sim.add_logs("command", vid1, 2, after=T1),
    }
    second = MemorySink()
    async with Harvester(clients, state=state, now=fixed(T1 + timedelta(days=1))) as h:
        r2 = await h.run(second)
    assert r2.complete
    assert len(second.records) == 5
    got = {(vid, kind, rec.url) for vid, kind, rec in second.records}
    want = {(vid0, LogKind.STATUS, r["url"]) for r in added[LogKind.STATUS]} | {
        (vid1, LogKind.COMMAND, r["url"]) for r in added[LogKind.COMMAND]
    }
    assert got == want
    # a third run finds nothing new, and the union of all runs is the data set exactly once
    third = MemorySink()
    async with Harvester(clients, state=state, now=fixed(T1 + timedelta(days=2))) as h:
        await h.run(third)
    assert third.records == []
    for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
        union = record_lines(first.records + second.records, kind)
        assert_exactly_once(union, expected_lines(sim, kind))


async def test_overlap_duplicates_are_dropped(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    """A run stopping inside the data, then one re-reading a day of overlap: each record once."""
    state = MemoryStateStore()
    cut = datetime(2026, 11, 15, tzinfo=UTC)
    first, second = MemorySink(), MemorySink()
    async with Harvester(clients, state=state, now=fixed(cut), overlap=timedelta(days=1)) as h:
        await h.run(first)
    async with Harvester(clients, state=state, now=fixed(T1), overlap=timedelta(days=1)) as h:
        r2 = await h.run(second)
    assert r2.overlap_duplicates > 0  # the overlap was really re-read...
    for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):  # ...and dropped
        assert_exactly_once(record_lines(first.records + second.records, kind), expected_lines(sim, kind))
    row = await state.load(vehicles_of(sim, 0)[0], LogKind.STATUS)
    assert row is not None and row.watermark_datetime == T1 and row.cursor is None


async def test_record_repeated_at_page_boundary_is_dropped(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    sim.inject_fault("repeat_record", count=6)
    sink = MemorySink()
    async with Harvester(clients, page_size=5) as h:
        report = await h.run(sink)
    assert sim.stats.faults_injected["repeat_record"] == 6
    assert report.boundary_duplicates == 6
    for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
        assert_exactly_once(record_lines(sink.records, kind), expected_lines(sim, kind))


async def test_failing_vehicles_are_reported_while_the_rest_complete(sim: Simulator, tmp_path: Path) -> None:
    good = vehicles_of(sim, 0)
    broken = good[1]
    unknown = "vhcl" + "0" * 26  # well formed, not this user's: 404
    sim.inject_fault("http_500", count=100, path=f"/v2/vehicles/{broken}/status_logs")
    async with (
        make_client(sim, 0) as client,
        Harvester(
            client, vehicles=[*good, unknown, "../../etc/passwd"], state=tmp_path / "s.sqlite", sleep=no_sleep
        ) as h,
    ):
        report = await h.run(tmp_path)
    assert not report.ok and not report.complete
    assert set(report.failed_vehicles) == {broken, unknown, "../../etc/passwd"}
    by_vehicle = {(f.vehicle_id, f.kind): f for f in report.failures}
    assert by_vehicle[(broken, LogKind.STATUS)].error == "ServerError"
    assert by_vehicle[(broken, LogKind.STATUS)].attempts == 3  # the harvester's own retries
    assert by_vehicle[(unknown, LogKind.STATUS)].status == 404
    assert by_vehicle[("../../etc/passwd", LogKind.STATUS)].attempts == 0  # refused before any request
    assert report.retry_reasons.get("harvester:500") == 2
    assert (broken, LogKind.LOCATION) not in by_vehicle  # only the failing partition failed
    expected = expected_lines(sim, LogKind.STATUS, [v for v in good if v != broken])
    assert_exactly_once(harvested_lines(tmp_path, LogKind.STATUS), expected)
    assert_exactly_once(harvested_lines(tmp_path, LogKind.COMMAND), expected_lines(sim, LogKind.COMMAND, good))
    # the failed partition's state did not advance: the next run (fault gone) picks it up
    sim.reset_faults()
    async with (
        make_client(sim, 0) as client,
        Harvester(client, vehicles=good, state=tmp_path / "s.sqlite", sleep=no_sleep) as h,
    ):
        again = await h.run(tmp_path)
    assert again.complete
    assert_exactly_once(harvested_lines(tmp_path, LogKind.STATUS), expected_lines(sim, LogKind.STATUS, good))


async def test_expired_token_fails_its_vehicles_fast(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    sim.expire_token(sim.user_token(1))
    sink = MemorySink()
    async with Harvester(clients, vehicles={"token0": vehicles_of(sim, 0), "token1": vehicles_of(sim, 1)}) as h:
        report = await h.run(sink)
    failed = {f.vehicle_id for f in report.failures}
    assert failed == set(vehicles_of(sim, 1))
    assert all(f.error == "UnauthorizedError" for f in report.failures)
    assert report.tokens["token1"].requests <= 3  # dead token: the rest fail without requests
    assert_exactly_once(
        record_lines(sink.records, LogKind.STATUS), expected_lines(sim, LogKind.STATUS, vehicles_of(sim, 0))
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_long_retry_after_parks_one_token_while_another_completes(target: Target) -> None:
    clock = FakeClock()
    config = SimulatorConfig(seed=3, users=2, vehicles=6, logs_per_kind=12, rate_limit=20, clock=clock)
    async with validated_simulator(config) as sim:
        async with make_client(sim, 0) as burner:  # someone else spends user 0's whole budget
            for _ in range(20):
                await burner.vehicles.get(vehicles_of(sim, 0)[0])
        async with (
            make_client(sim, 0) as c0,
            make_client(sim, 1) as c1,
            target.state_store() as state,
            target.sink() as sink,
            Harvester({"u0": c0, "u1": c1}, state=state, max_park=60.0, now=fixed(T1)) as h,
        ):
            report = await h.run(sink)
        assert not report.complete and report.ok  # parked is not failed
        assert [p.token for p in report.parked] == ["u0"]
        parked = report.parked[0]
        assert parked.until > T1 + timedelta(minutes=59)  # the simulator's Retry-After: ~an hour
        assert not parked.input_exhausted  # u0's vehicle listing itself is pending
        assert report.tokens["u1"].partitions_done == 9 and not report.tokens["u1"].abandoned
        assert sim.stats.rate_limited == 1  # one probe, then parked: no hammering
        assert_exactly_once(
            await target.lines(LogKind.STATUS), expected_lines(sim, LogKind.STATUS, vehicles_of(sim, 1))
        )
        async with target.state_store() as store:
            assert {p.token for p in await store.partitions()} == {"u1"}  # u0's state not advanced
        # an hour later the budget is back: the next run does the parked work, exactly once
        clock.now += 3600
        async with (
            make_client(sim, 0) as c0,
            make_client(sim, 1) as c1,
            target.state_store() as state,
            target.sink() as sink,
            Harvester({"u0": c0, "u1": c1}, state=state, now=fixed(T1)) as h,
        ):
            again = await h.run(sink)
        assert again.complete
        for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
            assert_exactly_once(await target.lines(kind), expected_lines(sim, kind))


async def test_known_budget_is_paced_without_429(tmp_path: Path) -> None:
    """Budget 8 per 0.4 s window, 13 requests needed: the harvester waits instead of hitting 429."""
    config = SimulatorConfig(seed=5, users=1, vehicles=4, logs_per_kind=5, rate_limit=8, rate_window=0.4)
    async with validated_simulator(config) as sim, make_client(sim, 0) as client:
        async with Harvester(client, state=MemoryStateStore(), budget_window=0.4, max_park=5.0) as h:
            report = await h.run(MemorySink())
        assert report.complete
        assert sim.stats.rate_limited == 0
        assert report.http_requests == 13
        assert report.tokens["default"].parks >= 1


async def test_budget_beyond_max_park_leaves_work_for_next_run() -> None:
    config = SimulatorConfig(seed=5, users=1, vehicles=4, logs_per_kind=5, rate_limit=7)
    async with validated_simulator(config) as sim, make_client(sim, 0) as client:
        state, sink = MemoryStateStore(), MemorySink()
        async with Harvester(client, state=state, max_park=1.0, per_token_concurrency=2, now=fixed(T1)) as h:
            report = await h.run(sink)
        assert sim.stats.rate_limited == 0  # the budget was known: no 429 at all
        assert report.http_requests == 7  # listing + 6 of the 12 partitions
        assert report.parked and report.partitions_parked > 0
        assert report.partitions_done + report.partitions_parked == 12
        sim.reset_rate_limits()
        # the same window: finished partitions need no request, the 6 parked ones do
        async with Harvester(client, state=state, max_park=1.0, now=fixed(T1)) as h:
            again = await h.run(sink)
        assert again.complete and again.http_requests == 7
        assert_exactly_once(record_lines(sink.records, LogKind.STATUS), expected_lines(sim, LogKind.STATUS))


class SlowSink(MemorySink):
    async def write(self, batch: HarvestBatch) -> None:
        await asyncio.sleep(0.002)
        await super().write(batch)


async def test_slow_sink_keeps_memory_bounded(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    sink = SlowSink()
    async with Harvester(
        clients, page_size=4, queue_size=3, concurrency=8, per_token_concurrency=4, commit_batches=1
    ) as h:
        report = await h.run(sink)
    assert report.complete
    assert report.max_queue_size == 3  # the queue filled up: the fetchers were held back
    workers = 3 * 4
    assert report.max_buffered_records <= (3 + workers + 1) * 4
    assert report.records_total > 10 * report.max_buffered_records  # independent of the total
    assert_exactly_once(record_lines(sink.records, LogKind.STATUS), expected_lines(sim, LogKind.STATUS))


@pytest.mark.parametrize("cancel_after", [0, 3, 17])
async def test_cancellation_leaves_no_tasks_and_consistent_state(
    sim: Simulator, clients: list[EvEnergyClient], target: Target, cancel_after: int
) -> None:
    async with target.state_store() as state:
        sink = Gated(target.sink(), cancel_after)
        await sink.inner.open()

        async def harvest() -> None:
            async with Harvester(clients, kinds=ALL_KINDS, state=state, page_size=5, commit_batches=2) as h:
                await h.run(sink)

        task = asyncio.create_task(harvest())
        await asyncio.wait_for(sink.reached.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sink.close()
        assert leftover_tasks() == set()
    if isinstance(target, JsonlTarget):
        async with target.state_store() as store:
            assert await store.integrity_check() == "ok"
    # resuming from the state finishes the job with every record exactly once
    async with (
        target.state_store() as state,
        target.sink() as sink2,
        Harvester(clients, kinds=ALL_KINDS, state=state, page_size=5) as h,
    ):
        report = await h.run(sink2)
    assert report.complete
    for kind in ALL_KINDS:
        assert_exactly_once(await target.lines(kind), expected_lines(sim, kind))
    if isinstance(sink2, PostgresSink):
        assert sink2.duplicates == 0  # one transaction per group: nothing committed twice


async def test_leaving_the_context_early_stops_the_tasks(clients: list[EvEnergyClient]) -> None:
    async with Harvester(clients, page_size=3, queue_size=2) as h:
        async for batch in h:
            assert batch.records
            break
    assert leftover_tasks() == set()
    assert h.report.cancelled and "cancelled" in h.report.summary()
    assert not clients[0].is_closed  # the harvester closes nothing it does not own


async def test_streaming_iteration_commits_on_next(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    state = MemoryStateStore()
    seen: list[tuple[str, LogKind, Any]] = []
    async with Harvester(clients, state=state, page_size=10, now=fixed(T1)) as h:
        async for batch in h:
            assert batch.records and batch.token in {"token0", "token1", "token2"}
            seen.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)
    assert h.report.complete
    for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
        assert_exactly_once(record_lines(seen, kind), expected_lines(sim, kind))
    # an interrupted stream: the batch in the consumer's hands when it stopped is not confirmed
    state2 = MemoryStateStore()
    first: list[tuple[str, LogKind, Any]] = []
    async with Harvester(clients, state=state2, page_size=10, now=fixed(T1)) as h:
        async for batch in h:
            first.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)
            if len(first) > 60:
                last = batch
                break
    rest: list[tuple[str, LogKind, Any]] = []
    async with Harvester(clients, state=state2, page_size=10, now=fixed(T1)) as h:
        async for batch in h:
            rest.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)
    again = {(v, k, r.url) for v, k, r in rest} & {(v, k, r.url) for v, k, r in first}
    assert again == {(last.vehicle_id, last.kind, r.url) for r in last.records}  # at least once for it
    for kind in (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND):
        union = record_lines(first, kind) | record_lines(rest, kind)
        assert union == expected_lines(sim, kind)


async def test_shards_split_the_fleet(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    vehicles: list[set[str]] = []
    for index in range(3):
        sink = MemorySink()
        async with Harvester(clients, kinds=["status"], shard=(index, 3)) as h:
            await h.run(sink)
        vehicles.append({vid for vid, _, _ in sink.records})
    everyone = {v["id"] for v in sim.data.vehicles}
    assert set().union(*vehicles) == everyone
    assert sum(len(s) for s in vehicles) == len(everyone)
    for index, share in enumerate(vehicles):
        assert all(shard_of(v, 3) == index for v in share)


async def test_vehicles_from_an_async_iterable_are_read_lazily(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    read: list[str] = []

    async def ids() -> Any:
        for vid in vehicles_of(sim, 2):
            read.append(vid)
            yield vid

    sink = MemorySink()
    async with Harvester(clients[2], vehicles=ids(), kinds="command", per_token_concurrency=1) as h:
        await h.run(sink)
    assert read == vehicles_of(sim, 2)
    assert_exactly_once(record_lines(sink.records, LogKind.COMMAND), expected_lines(sim, LogKind.COMMAND, read))


async def test_plan_forecasts_requests(sim: Simulator, clients: list[EvEnergyClient]) -> None:
    async with Harvester(
        clients, kinds=["status", "error"], page_size=10, since=datetime(2026, 11, 1, tzinfo=UTC)
    ) as h:
        plan = await h.plan()
    assert [t.vehicles for t in plan.tokens] == [4, 4, 4]
    assert all(t.list_requests == 1 for t in plan.tokens)
    # 23 logs per partition at 10 per page: 3 requests per partition, 8 partitions per token
    actual_pages = 3 * 8
    for t in plan.tokens:
        assert abs(t.log_requests - actual_pages) <= actual_pages * 0.5
        assert t.budget_limit == 1000 and t.budget_remaining is not None
    assert plan.estimated_seconds > 0 and "plan:" in plan.format()
    assert not plan.approximate


async def test_plan_time_beyond_budget_counts_windows(sim: Simulator) -> None:
    async with make_client(sim, 0) as c, Harvester(c, page_size=1, since=datetime(2026, 11, 1, tzinfo=UTC)) as h:
        plan = await h.plan()
    token = plan.tokens[0]
    assert token.requests > 0
    assert token.budget_remaining is not None
    if token.requests <= token.budget_remaining:
        assert plan.estimated_seconds < 60


async def test_sink_failure_surfaces_and_stops_everything(clients: list[EvEnergyClient]) -> None:
    class Broken(MemorySink):
        async def write(self, batch: HarvestBatch) -> None:
            raise OSError("disk full")

    state = MemoryStateStore()
    with pytest.raises(OSError, match="disk full"):
        async with Harvester(clients, state=state) as h:
            await h.run(Broken())
    assert leftover_tasks() == set()
    assert await state.partitions() == []  # nothing confirmed, nothing committed


async def test_argument_validation(clients: list[EvEnergyClient]) -> None:
    with pytest.raises(ValueError, match="mapping"):
        Harvester(clients, vehicles=["x"])
    with pytest.raises(ValueError, match="unknown log kind"):
        Harvester(clients[0], kinds="status,gps")
    with pytest.raises(ValueError, match="shard"):
        Harvester(clients[0], shard=(3, 3))
    with pytest.raises(ValueError, match="page_size"):
        Harvester(clients[0], page_size=101)
    h = Harvester(clients[0])
    with pytest.raises(RuntimeError, match="async with"):
        await h.run(MemorySink())


BAD_SETTINGS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"page_size": "100"}, TypeError, "page_size must be an integer, not str"),
    ({"page_size": 50.0}, TypeError, "page_size must be an integer, not float"),
    ({"page_size": True}, TypeError, "page_size must be an integer, not bool"),
    ({"concurrency": None}, TypeError, "concurrency must be an integer"),
    ({"per_token_concurrency": 0}, ValueError, "per_token_concurrency must be >= 1, got 0"),
    ({"queue_size": 1.5}, TypeError, "queue_size must be an integer"),
    ({"commit_batches": 0}, ValueError, "commit_batches must be >= 1"),
    ({"budget_reserve": -5}, ValueError, "budget_reserve must be >= 0"),
    ({"max_park": float("nan")}, ValueError, "max_park must be a number of seconds >= 0, got nan"),
    ({"max_park": "1h"}, TypeError, "max_park must be a number of seconds, not str"),
    ({"retry_backoff": -1}, ValueError, "retry_backoff must be a finite number of seconds >= 0"),
    ({"budget_window": 0}, ValueError, "budget_window must be a finite number of seconds > 0"),
    ({"commit_interval": float("inf")}, ValueError, "commit_interval must be a finite number"),
    ({"unreachable_after": float("nan")}, ValueError, "unreachable_after must be > 0 seconds"),
    ({"overlap": "10m"}, TypeError, "overlap must be a number of seconds, not str"),
    ({"overlap": -1}, ValueError, "overlap must be a finite number of seconds >= 0"),
    ({"shard": (1,)}, TypeError, "shard must be a pair"),
    ({"shard": ("0", 2)}, TypeError, "shard index must be an integer"),
    ({"kinds": 5}, TypeError, "kinds must be a kind"),
    ({"state": 123}, TypeError, "state must be a StateStore, a SQLite file's path or None, not int"),
    ({"since": datetime(2026, 11, 1)}, ValueError, r"since must be timezone-aware.*got datetime.datetime\(2026, 11, 1"),
    ({"until": datetime(2026, 11, 1, 12)}, ValueError, r"until must be timezone-aware"),
    ({"since": "2026-11-01"}, TypeError, "since must be a datetime"),
    (
        {"since": datetime(2026, 11, 2, tzinfo=UTC), "until": datetime(2026, 11, 1, tzinfo=UTC)},
        ValueError,
        r"until \(2026-11-01T00:00:00\+00:00\) is before since",
    ),
]


@pytest.mark.parametrize(("settings", "error", "says"), BAD_SETTINGS)
async def test_a_wrong_setting_is_a_clear_error_at_construction(
    clients: list[EvEnergyClient], settings: dict[str, Any], error: type[Exception], says: str
) -> None:
    """Each setting is checked by type and range when the Harvester is made: a message that
    names it, not a comparison failing deep in a run, or a NaN accepted and never compared."""
    with pytest.raises(error, match=says):
        Harvester(clients[0], **settings)


async def test_a_label_that_would_forge_a_report_line_is_refused(clients: list[EvEnergyClient]) -> None:
    """Labels are printed in reports, progress lines and logs: no control characters there."""
    for label in ("two\nlines", "bell\x07", " "):
        with pytest.raises(ValueError, match=r"label (holds control characters|is empty)"):
            Harvester({label: clients[0]})
        with pytest.raises(ValueError, match=r"label (holds control characters|is empty)"):
            Harvester(clients[0], credentials={label: "a-token"})
    Harvester({"fleet user 7 (ünï)": clients[0]})  # spaces and letters of any script are fine


async def test_overlap_in_seconds_is_a_timedelta(clients: list[EvEnergyClient]) -> None:
    assert Harvester(clients[0], overlap=600).overlap == timedelta(minutes=10)  # as the CLI's --overlap
    assert Harvester(clients[0], max_park=float("inf")).max_park == float("inf")  # wait as long as it takes
    assert Harvester(clients[0], max_park=None).max_park == float("inf")  # the same


async def test_client_retries_are_accounted_for(sim: Simulator) -> None:
    sim.inject_fault("http_503", count=4)
    sim.inject_fault("invalid_json", count=2)
    async with make_client(sim, 0, retry=RetryPolicy(max_attempts=5)) as c, Harvester(c) as h:
        report = await h.run(MemorySink())
    assert report.complete
    assert report.retry_reasons.get("503") == 4
    # the two invalid bodies were retried by the client or (attempts spent) by the harvester
    bodies = report.retry_reasons.get("invalid-body", 0) + report.retry_reasons.get("harvester:ResponseDecodeError", 0)
    assert bodies == 2
    assert report.retries == 6 == sum(report.retry_reasons.values())
    assert report.http_requests == sim.stats.requests


async def test_plan_then_run_reuses_the_vehicles_read(sim: Simulator) -> None:
    read: list[str] = []

    async def ids() -> Any:  # an async iterator can be read only once
        for vid in vehicles_of(sim, 0):
            read.append(vid)
            yield vid

    sink = MemorySink()
    async with make_client(sim, 0) as c, Harvester(c, vehicles=ids(), kinds="status") as h:
        plan = await h.plan(sample=1)
        assert plan.tokens[0].vehicles == 4 and plan.sample_requests == 1
        report = await h.run(sink)
    assert read == vehicles_of(sim, 0)
    assert report.complete and report.requests == 4  # the plan's sample is not counted in the run
    assert_exactly_once(record_lines(sink.records, LogKind.STATUS), expected_lines(sim, LogKind.STATUS, read))


async def test_run_closes_a_sink_it_opened_and_leaves_yours_open(
    sim: Simulator, tmp_path: Path, pg_server: PgServer, pg_schema: str
) -> None:
    """``run(JsonlSink("out"))``, as README's first example: the sink was not open, so ``run``
    opens it and closes it again (its lock, files and thread), also when the run fails; the same
    process can then harvest into the same directory again. It used to stay open: the next run
    into that directory stopped with OutputInUseError ("in use by another harvest"). A sink
    the caller entered stays open for the caller."""
    out, state = tmp_path / "out", tmp_path / "state.sqlite"
    ids = [v["id"] for v in sim.data.vehicles_of(sim.user_id(0))]

    async def failing_source() -> Any:
        yield ids[0]
        raise RuntimeError("the vehicle source failed")

    async with make_client(sim, 0) as client:
        sink = JsonlSink(out)
        async with Harvester(client, vehicles=failing_source(), state=state) as h:
            with pytest.raises(RuntimeError, match="the vehicle source failed"):
                await h.run(sink)
        assert not sink.opened
        for _ in range(2):  # a scheduler loop in one long-running process
            sink = JsonlSink(out)
            async with Harvester(client, vehicles=ids, kinds=ALL_KINDS, state=state, until=T1) as h:
                report = await h.run(sink)
            assert report.complete and not sink.opened
        for kind in ALL_KINDS:
            assert_exactly_once(harvested_lines(out, kind), expected_lines(sim, kind, ids))

        async with JsonlSink(tmp_path / "mine") as mine:
            async with Harvester(client, vehicles=ids, kinds=ALL_KINDS, state=tmp_path / "s2.sqlite", until=T1) as h:
                await h.run(mine)
            assert mine.opened  # the caller's: still open, its lock still held
        assert not mine.opened

        pg = PostgresSink(pg_server.dsn, schema=pg_schema)
        async with Harvester(client, vehicles=ids, kinds=ALL_KINDS, until=T1) as h:
            report = await h.run(pg)
        assert report.complete and not pg.opened  # its connection closed
