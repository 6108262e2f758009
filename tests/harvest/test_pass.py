"""The pure pass module: windows, page observation and closing, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest
from yarl import URL

from evenergy_async import PaginationError, VehicleStatusLog
from evenergy_async._harvest import LogKind, PartitionState
from evenergy_async._harvest._pass import (
    Bounds,
    PagePass,
    backfill_window,
    close_pass,
    open_pass,
    pass_window,
    rebase_cursor,
    restart_until,
)
from evenergy_async._harvest._types import to_micros

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
LIST = f"https://api.ev.energy/v2/vehicles/{VID}/status_logs"
T = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
MIN = 60_000_000
BOUNDS = Bounds(since_us=None, until_us=to_micros(T), run_start_us=to_micros(T), overlap_us=10 * MIN)


def rec(minutes_ago: float) -> VehicleStatusLog:
    dt = T - timedelta(minutes=minutes_ago)
    return VehicleStatusLog(url=f"{LIST}/{dt.isoformat().replace('+00:00', 'Z')}", sampled_at=dt)


def key(minutes_ago: float) -> str:
    return f"t:{to_micros(T - timedelta(minutes=minutes_ago))}"


def fresh(**kw: object) -> PartitionState:
    return PartitionState(token="a", vehicle_id=VID, kind=LogKind.STATUS, **kw)  # type: ignore[arg-type]


def test_window_from_since_watermark_and_until() -> None:
    until = BOUNDS.until_us
    assert pass_window(None, BOUNDS) == (None, until)
    assert pass_window(fresh(), BOUNDS) == (None, until)
    assert pass_window(fresh(watermark=until - 60 * MIN), BOUNDS) == (until - 70 * MIN, until)
    assert pass_window(fresh(watermark=until), BOUNDS) is None  # nothing newer was asked for
    since = Bounds(since_us=until - 5 * MIN, until_us=until, run_start_us=until, overlap_us=10 * MIN)
    # a since above the watermark skips nothing: what the partition covered stays one interval
    assert pass_window(fresh(watermark=until - 60 * MIN), since) == (until - 70 * MIN, until)
    assert pass_window(fresh(watermark=until - 3 * MIN), since) == (until - 5 * MIN, until)  # the later start
    empty = Bounds(since_us=until + 1, until_us=until, run_start_us=until, overlap_us=0)
    assert pass_window(fresh(), empty) is None


def test_a_lower_since_opens_a_backfill_below_what_was_covered() -> None:
    until = BOUNDS.until_us
    lower = Bounds(since_us=until - 500 * MIN, until_us=until, run_start_us=until, overlap_us=10 * MIN)
    covered = fresh(watermark=until - 60 * MIN, covered_since=until - 300 * MIN, tail_keys=("t:1",), passes=1)
    assert backfill_window(covered, lower) == (until - 500 * MIN, until - 300 * MIN - 1)  # upper bound exclusive
    assert backfill_window(covered, BOUNDS) == (None, until - 300 * MIN - 1)  # since None: the beginning
    assert backfill_window(attrs.evolve(covered, covered_since=None), lower) is None  # covered from the beginning
    assert backfill_window(fresh(), lower) is None  # nothing completed yet
    higher = Bounds(since_us=until - 300 * MIN, until_us=until, run_start_us=until, overlap_us=10 * MIN)
    assert backfill_window(covered, higher) is None
    opened = open_pass(covered, lower)
    assert opened is not None and opened.pass_backfill
    assert (opened.pass_since, opened.pass_until) == (until - 500 * MIN, until - 300 * MIN - 1)
    closed = close_pass(opened, until, ("t:9",), 4)
    # the watermark and tail stay; covered_since goes down to the backfill's since
    assert (closed.watermark, closed.tail_keys, closed.covered_since) == (until - 60 * MIN, ("t:1",), until - 500 * MIN)
    assert (closed.pass_backfill, closed.pass_until, closed.records, closed.passes) == (False, None, 4, 2)
    # then the usual pass, which keeps covered_since
    after = open_pass(closed, lower)
    assert after is not None and not after.pass_backfill
    assert close_pass(after, until, (), 0).covered_since == until - 500 * MIN
    # the first completed pass sets covered_since to its since
    first = open_pass(fresh(), lower)
    assert first is not None and not first.pass_backfill
    assert close_pass(first, until, (), 0).covered_since == until - 500 * MIN


def test_a_backfill_pass_keeps_what_is_older_than_the_watermark_and_drops_what_was_covered() -> None:
    until = BOUNDS.until_us
    covered = fresh(watermark=until - 60 * MIN, covered_since=until - 300 * MIN, passes=1)
    lower = Bounds(since_us=until - 500 * MIN, until_us=until, run_start_us=until, overlap_us=10 * MIN)
    opened = open_pass(covered, lower)
    assert opened is not None
    observer = PagePass(opened, lower)
    # a server that ignored the until: a record at covered_since is dropped, older ones kept
    page = [rec(300), rec(301), rec(400)]
    records, state = observer.observe(page, None)
    assert [r.url for r in records] == [rec(301).url, rec(400).url]
    assert observer.overlap_duplicates == 1 and state.covered_since == until - 500 * MIN


def test_open_pass_resets_the_pass_fields_only() -> None:
    state = fresh(watermark=BOUNDS.until_us - 60 * MIN, tail_keys=("t:1",), records=7, passes=2)
    opened = open_pass(state, BOUNDS)
    assert opened is not None
    assert (opened.pass_since, opened.pass_until) == (BOUNDS.until_us - 70 * MIN, BOUNDS.until_us)
    assert (opened.cursor, opened.pass_tail_keys, opened.boundary_keys, opened.pass_tail_open) == (None, (), (), True)
    assert (opened.watermark, opened.tail_keys, opened.records, opened.passes) == (state.watermark, ("t:1",), 7, 2)


def test_pages_drop_repeats_and_the_previous_tail_and_close_the_pass() -> None:
    # the previous pass delivered the record 3 minutes ago (its tail): this pass drops it
    opened = open_pass(fresh(watermark=BOUNDS.until_us - 5 * MIN, tail_keys=(key(3),)), BOUNDS)
    assert opened is not None
    observer = PagePass(opened, BOUNDS)
    records, state = observer.observe([rec(1), rec(3), rec(8)], f"{LIST}?p=2")
    assert [r.url for r in records] == [rec(1).url, rec(8).url]
    assert state.cursor == f"{LIST}?p=2" and state.pass_tail_open
    assert state.pass_tail_keys == (key(1), key(3), key(8))
    assert state.boundary_keys == (key(1), key(3), key(8))
    assert state.records == 2 and state.watermark == opened.watermark  # not closed yet
    # the next page repeats the previous page's last record, then leaves the overlap
    records, state = observer.observe([rec(8), rec(12), rec(14)], None)
    assert [r.url for r in records] == [rec(12).url, rec(14).url]
    assert (observer.boundary_duplicates, observer.overlap_duplicates) == (1, 1)
    assert state.watermark == BOUNDS.until_us and state.tail_keys == (key(1), key(3), key(8))
    assert (state.cursor, state.pass_until, state.records, state.passes) == (None, None, 4, 1)


def test_fast_path_page_keeps_lazy_boundary_keys_equal_to_the_slow_ones() -> None:
    observer = PagePass(open_pass(fresh(), BOUNDS), BOUNDS)  # type: ignore[arg-type]
    records, state = observer.observe([rec(1), rec(2), rec(30)], f"{LIST}?p=2")
    assert len(records) == 3
    assert state.boundary_keys == (key(1), key(2), key(30))
    assert state.pass_tail_keys == (key(1), key(2)) and not state.pass_tail_open  # 30 min is below the overlap


def test_a_next_link_that_repeats_a_page_of_the_pass_is_a_loop() -> None:
    observer = PagePass(open_pass(fresh(), BOUNDS), BOUNDS)  # type: ignore[arg-type]
    observer.observe([rec(1)], f"{LIST}?p=2")
    observer.observe([rec(2)], f"{LIST}?p=3")
    with pytest.raises(PaginationError, match="loop"):
        observer.observe([rec(3)], f"{LIST}?p=2")


def test_a_pass_opened_below_the_watermark_drops_what_it_covers() -> None:
    # a pass opened from the beginning (another label's, merged) while every record up to
    # the watermark 30 min ago was delivered: older than 40 min (watermark - overlap) is
    # dropped, the overlap is de-duplicated by the tail keys, the rest is new
    state = fresh(watermark=BOUNDS.until_us - 30 * MIN, tail_keys=(key(35),), pass_until=BOUNDS.until_us)
    observer = PagePass(state, BOUNDS)
    records, _ = observer.observe([rec(5), rec(35), rec(38)], f"{LIST}?p=2")
    assert [r.url for r in records] == [rec(5).url, rec(38).url]
    records, closed = observer.observe([rec(41), rec(50)], None)  # a fast-path page, all below the floor
    assert records == () and observer.overlap_duplicates == 3
    assert closed.watermark == BOUNDS.until_us


def test_a_pass_that_ends_below_an_older_watermark_keeps_it() -> None:
    # an unfinished pass up to `until` 1 h ago, while a later pass already reached T
    state = fresh(watermark=BOUNDS.until_us, tail_keys=("t:5",), pass_until=BOUNDS.until_us - 60 * MIN)
    _, closed = PagePass(state, BOUNDS).observe([rec(70)], None)
    assert (closed.watermark, closed.tail_keys, closed.passes) == (BOUNDS.until_us, ("t:5",), 1)


def test_a_saved_cursor_moves_onto_the_configured_base_url() -> None:
    start = URL(f"https://proxy.internal/ev/v2/vehicles/{VID}/status_logs?page_size=7")
    old = f"http://127.0.0.1:8080/v2/vehicles/{VID}/status_logs?page_size=7&page_after=2026-11-14T11%3A36%3A27Z"
    assert rebase_cursor(old, start) == (
        f"https://proxy.internal/ev/v2/vehicles/{VID}/status_logs?page_size=7&page_after=2026-11-14T11%3A36%3A27Z"
    )
    same = "https://proxy.internal/ev/v2/pages/abc?p=2"
    assert rebase_cursor(same, start) == same  # the configured origin: resumed as it is
    assert rebase_cursor("?page=3", start) == "?page=3"  # relative: resolved against the list
    assert rebase_cursor("https://old.example/v2/pages/abc?p=2", start) is None  # no list path: restart
    running = fresh(pass_until=900, cursor="x", boundary_keys=("t:500", "t:450", "u:odd"))
    assert restart_until(running) == 449  # below the oldest record delivered
    assert restart_until(fresh(pass_until=900, cursor="x", boundary_keys=("u:odd",))) is None
