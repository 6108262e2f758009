"""The harvester's page-at-a-time dedup equals the record-by-record reference, on any page.

The harvester takes a fast path for the usual page (URL timestamps, strictly newest first,
clear of the previous page and of the previous run's tail) and leaves the boundary keys of
the states it makes unformatted until read. This checks, on adversarial pages (duplicates,
repeats across pages, disorder, naive and offset timestamps, escaped or odd URLs, missing
URLs, resumed passes with saved boundary and tail keys), that the batches, every committed
state and the counters are exactly those of the original per-record algorithm below.

The wire path (a sink declaring ``record_format = "wire"`` gets the server's JSON objects,
no models) must be indistinguishable in everything but the records' form: the same states
(keys, watermarks, tails, boundaries), so state files stay compatible and exactly-once
holds across the two paths, on the same adversarial pages and odd-but-valid timestamp
spellings (offsets, naive, lowercase, basic format, comma or 9-digit fractions), sparse
records without URL or timestamp, and unknown fields.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from evenergy_async import EvEnergyClient, MockTransport, Request, Response, VehicleStatusLog
from evenergy_async._converter import structure_list
from evenergy_async._harvest import Harvester, LogKind, MemorySink, MemoryStateStore, PartitionState
from evenergy_async._harvest._types import (
    LazyKeys,
    instant_keys,
    page_instants,
    page_keys,
    record_key,
    record_time,
    to_micros,
    with_lazy_boundary,
)

BASE = "https://api.ev.energy/v2"
VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
LIST = f"{BASE}/vehicles/{VID}/status_logs"
T = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)  # the run's start and `until`
# instants around the overlap floor (T - 10 min), so tails open and close mid-page
POOL = [T - timedelta(minutes=m, microseconds=u) for m in (0, 3, 9, 10, 11, 30) for u in (0, 1)]


def _wire_ts(dt: datetime, form: int) -> str:
    if form == 0:
        return dt.isoformat().replace("+00:00", "Z")
    if form == 1:
        return dt.isoformat()  # +00:00
    if form == 2:
        return dt.astimezone(UTC).replace(tzinfo=None).isoformat()  # naive
    if form == 4:  # lowercase, 9 fraction digits: parse_timestamp's fallback only
        return dt.strftime("%Y-%m-%dt%H:%M:%S.%f000z")
    if form == 5:  # ISO basic format
        return dt.strftime("%Y%m%dT%H%M%S.%fZ")
    if form == 6:  # comma fraction, space separator, -00:30
        return dt.astimezone(timezone(timedelta(minutes=-30))).strftime("%Y-%m-%d %H:%M:%S,%f-00:30")
    if form == 7:  # fromisoformat takes any date/time separator, even the URL's own "/", "?" and "%"
        return dt.strftime("%Y-%m-%d/%H:%M:%S.%fZ")
    if form == 8:
        return dt.strftime("%Y-%m-%d?%H:%M:%S.%fZ")
    if form == 9:
        return dt.strftime("%Y-%m-%d%%%H:%M:%S.%fZ")
    return dt.astimezone(timezone(timedelta(hours=1))).isoformat()  # +01:00


def _url(ts: str, form: int) -> Any:
    if form == 0:
        return f"{LIST}/{ts}"
    if form == 1:
        return f"{LIST}/{ts}/"  # trailing slash, as the spec's examples
    if form == 2:
        return f"{LIST}/{ts.replace(':', '%3A')}"
    if form == 3:
        return f"{LIST}/{ts}?expand=vehicle"
    if form == 4:
        return f"{LIST}/not-a-time"
    return None  # no URL


record = st.builds(
    lambda i, ts_form, url_form, with_field, extra: (i, ts_form, url_form, with_field, extra),
    st.integers(0, len(POOL) - 1),
    st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
    st.sampled_from([0, 0, 0, 0, 1, 2, 3, 4, 5]),
    st.sampled_from([True, False, False, None]),  # None: no time field even without a URL (sparse)
    st.sampled_from([0, 0, 1, 2]),
)


def _wire(spec: tuple[int, int, int, bool | None, int], n: int) -> dict[str, Any]:
    i, ts_form, url_form, with_field, extra = spec
    ts = _wire_ts(POOL[i], ts_form)
    out: dict[str, Any] = {"state_of_charge_percentage": n % 3}  # equal contents happen
    url = _url(ts, url_form)
    if url is not None:
        out["url"] = url
    if with_field or (url is None and with_field is not None):
        out["sampled_at"] = ts
    elif with_field is False and url is None:
        out["sampled_at"] = None
    if extra == 1:
        out["a_field_not_in_the_spec"] = [1, {"x": None}]  # kept in wire form, not in the model
    elif extra == 2:
        out["is_charging"] = None
    return out


def _sorted_pages(draw: Any) -> list[list[dict[str, Any]]]:
    """Mostly well-behaved pages (newest first), as the fast path sees them."""
    n_pages = draw(st.integers(1, 4))
    chosen = sorted(draw(st.sets(st.integers(0, len(POOL) - 1), max_size=12)))
    per = max(1, len(chosen) // n_pages + 1)
    pages = [chosen[k : k + per] for k in range(0, len(chosen), per)] or [[]]
    # the API's usual page: URL = list URL + "/" + the time field as written (the wire path's
    # shortcut), or a trailing slash, or no time field
    form = draw(st.sampled_from([0, 0, 1, 3, 7, 8]))
    return [
        [_wire((i, form, draw(st.sampled_from([0, 0, 1])), draw(st.sampled_from([True, False])), 0), n)
         for n, i in enumerate(p)]
        for p in pages
    ]


def _state0() -> PartitionState:
    return PartitionState(token="default", vehicle_id=VID, kind=LogKind.STATUS)


@st.composite
def scenario(draw: Any) -> tuple[list[list[dict[str, Any]]], PartitionState, int]:
    if draw(st.booleans()):
        pages = _sorted_pages(draw)
    else:
        pages = [[_wire(spec, n) for n, spec in enumerate(draw(st.lists(record, max_size=6)))]
                 for _ in range(draw(st.integers(1, 4)))]
    keys = [f"t:{to_micros(dt)}" for dt in POOL] + ["u:x", "h:y", "t:007", "t:abc"]
    start = draw(st.integers(0, len(pages) - 1))
    if start or draw(st.booleans()):  # a resumed pass: cursor, boundary and tail so far
        state = PartitionState(
            token="default",
            vehicle_id=VID,
            kind=LogKind.STATUS,
            watermark=draw(st.none() | st.just(to_micros(T - timedelta(minutes=10)))),
            tail_keys=tuple(draw(st.lists(st.sampled_from(keys), max_size=4))),
            cursor=f"{LIST}?page={start}" if start else None,
            pass_until=to_micros(T),
            pass_since=None,
            pass_tail_keys=tuple(draw(st.lists(st.sampled_from(keys), max_size=3))),
            pass_tail_open=draw(st.booleans()),
            boundary_keys=tuple(draw(st.lists(st.sampled_from(keys), max_size=4))),
        )
    else:  # a fresh pass after an earlier run (its tail) or the first one
        state = PartitionState(
            token="default",
            vehicle_id=VID,
            kind=LogKind.STATUS,
            watermark=draw(st.none() | st.just(to_micros(T - timedelta(minutes=5)))),
            tail_keys=tuple(draw(st.lists(st.sampled_from(keys), max_size=4))),
        )
    return pages, state, start


def reference(
    pages: Sequence[Sequence[Any]], state: PartitionState, next_urls: Sequence[str | None], overlap_us: int
) -> tuple[list[tuple[tuple[Any, ...], PartitionState]], int, int]:
    """The harvester's original per-record pass (before the fast path), page by page.

    A timestamped record older than the watermark minus the overlap was delivered already
    (the floor: a pass opened below it is one merged from another token label's state).
    """
    kind = state.kind
    assert state.pass_until is not None
    previous_tail = set(state.tail_keys)
    floor = state.watermark - overlap_us if state.watermark is not None else None
    new_watermark = min(state.pass_until, to_micros(T))
    tail_floor = new_watermark - overlap_us
    tail = list(state.pass_tail_keys)
    tail_open = state.pass_tail_open
    boundary = set(state.boundary_keys)
    out = []
    boundary_dupes = overlap_dupes = 0
    for items, next_url in zip(pages, next_urls, strict=True):
        fresh: list[Any] = []
        page_keys_: dict[str, None] = {}
        for rec in items:
            ts = record_time(rec, kind)
            key = record_key(rec, kind, ts)
            if key in boundary or key in page_keys_:
                boundary_dupes += 1
                continue
            page_keys_[key] = None
            if tail_open:
                if ts is not None and ts < tail_floor:
                    tail_open = False
                else:
                    tail.append(key)
            if key in previous_tail or (floor is not None and ts is not None and ts < floor):
                overlap_dupes += 1
                continue
            fresh.append(rec)
        if next_url is None:
            keep_old = state.watermark is not None and state.watermark > new_watermark
            state = attrs.evolve(
                state,
                watermark=state.watermark if keep_old else new_watermark,
                tail_keys=state.tail_keys if keep_old else tuple(tail),
                cursor=None,
                pass_until=None,
                pass_since=None,
                pass_tail_keys=(),
                boundary_keys=(),
                pass_tail_open=True,
                records=state.records + len(fresh),
                passes=state.passes + 1,
            )
        else:
            state = attrs.evolve(
                state,
                cursor=next_url,
                pass_tail_keys=tuple(tail),
                boundary_keys=tuple(page_keys_),
                pass_tail_open=tail_open,
                records=state.records + len(fresh),
            )
        out.append((tuple(fresh), state))
        boundary = set(page_keys_)
    return out, boundary_dupes, overlap_dupes


class RecordingStore(MemoryStateStore):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[PartitionState] = []

    async def commit(self, states: Sequence[PartitionState], **kw: Any) -> None:
        self.log.extend(states)
        await super().commit(states, **kw)


def _next(i: int, n: int) -> str | None:
    return f"{LIST}?page={i + 1}" if i + 1 < n else None


# the usual page's shape, but a time whose date/time separator is "?": its URL's segment is
# cut at the "?" (a date), unlike its time field -- the wire path's shortcut must not apply
_QUESTION_MARK = ([[_wire((i, 8, 0, True, 0), n) for n, i in enumerate([0, 2, 4])]], _state0(), 0)


@pytest.mark.parametrize("path", ["typed", "wire"])
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=scenario())
@example(case=_QUESTION_MARK)
async def test_pass_equals_the_per_record_reference(
    path: str, case: tuple[list[list[dict[str, Any]]], PartitionState, int]
) -> None:
    """``typed``: ``async for`` over model batches; ``wire``: ``run()`` into a wire sink."""
    pages, initial, start = case
    bodies = [json.dumps(p).encode() for p in pages]

    def handler(request: Request) -> Response:
        page = int(request.url.query.get("page", "0"))
        nxt = _next(page, len(pages))
        link = f'<{nxt}>; rel="next"' if nxt else '<about:blank>; rel="next"'
        return Response.build(200, bodies[page], {"Link": link}, url=request.url)

    store = RecordingStore()
    await store.commit([initial])
    store.log.clear()
    fresh_pass = initial.pass_until is None
    if fresh_pass:  # what _partition starts a fresh pass with
        since = None if initial.watermark is None else initial.watermark - 600_000_000
        initial = attrs.evolve(initial, pass_until=to_micros(T), pass_since=since)
    async with (
        EvEnergyClient("tok", base_url=BASE, transport=MockTransport(handler)) as client,
        Harvester(client, vehicles=[VID], kinds="status", until=T, now=lambda: T, state=store) as h,
    ):
        if path == "typed":
            got = [(b.records, b.state) async for b in h]
        else:
            sink = MemorySink(record_format="wire")
            await h.run(sink)
            assert all(r.__class__ is dict for _, _, r in sink.records)  # the server's objects, as sent
            served_dicts = [r for p in pages[start:] for r in p]
            assert all(any(r is s or r == s for s in served_dicts) for _, _, r in sink.records)
            got = [(tuple(structure_list([r for _, _, r in sink.records], VehicleStatusLog)), None)]
        report = h.report

    served = pages[start:]
    records = [structure_list(p, VehicleStatusLog) for p in served]
    expected, boundary_dupes, overlap_dupes = reference(
        records, initial, [_next(start + i, len(pages)) for i in range(len(served))], 600_000_000
    )
    if fresh_pass and initial.watermark is not None and initial.watermark >= to_micros(T):
        expected = []
    assert store.log == [s for _, s in expected]  # every committed state, boundary keys included
    if path == "typed":
        assert [r for r, _ in got] == [r for r, _ in expected if r]
    else:  # the same records, in the same order
        assert got[0][0] == tuple(r for rs, _ in expected for r in rs)
    assert (report.boundary_duplicates, report.overlap_duplicates) == (boundary_dupes, overlap_dupes)


# -- the pieces ---------------------------------------------------------------------------


def _recs(*urls: str | None, field: datetime | None = None) -> list[VehicleStatusLog]:
    return [VehicleStatusLog(url=u, sampled_at=field) for u in urls]


def test_page_keys_equal_record_keys() -> None:
    ts = ["2026-11-01T09:39:45.984584Z", "2026-11-01T09:39:44Z", "2026-11-01T10:39:43+01:00"]
    pages = [
        _recs(*(f"{LIST}/{t}" for t in ts)),
        _recs(*(f"{LIST}/{t}/" for t in ts)),
        _recs(f"{LIST}/{ts[0]}", f"{LIST}/2026-11-01T09:39:45", f"{LIST}/x"),  # naive, not a time
        _recs(f"{LIST}/2026-11-01T09%3A39%3A45Z", None, field=T),
        _recs(f"{LIST}/2026-11-01t09:39:45.1234567z"),  # parse_timestamp's fallback only
        _recs(None),
        [],
    ]
    for page in pages:
        keys, times = page_keys(page, LogKind.STATUS)
        assert times == [record_time(r, LogKind.STATUS) for r in page]
        assert keys == [record_key(r, LogKind.STATUS) for r in page]


def test_page_instants_only_for_strictly_newest_first_aware_pages() -> None:
    a, b = "2026-11-01T09:39:45Z", "2026-11-01T09:39:44Z"
    assert page_instants(_recs(f"{LIST}/{a}", f"{LIST}/{b}/")) is not None
    assert page_instants([]) == []
    assert page_instants(_recs(f"{LIST}/{b}", f"{LIST}/{a}")) is None  # oldest first
    assert page_instants(_recs(f"{LIST}/{a}", f"{LIST}/2026-11-01T10:39:45+01:00")) is None  # same instant
    assert page_instants(_recs(f"{LIST}/2026-11-01T09:39:45")) is None  # naive
    assert page_instants(_recs(f"{LIST}/{a}", f"{LIST}/2026-11-01T09:39:44")) is None  # mixed
    assert page_instants(_recs(f"{LIST}/{a}", None)) is None


def test_lazy_boundary_keys_read_as_the_tuple() -> None:
    dts = [T, T - timedelta(seconds=1)]

    def lazy() -> PartitionState:
        state = PartitionState(token="t", vehicle_id=VID, kind=LogKind.STATUS, cursor="c", pass_until=1)
        return with_lazy_boundary(state, LazyKeys(dts))

    eager = PartitionState(
        token="t", vehicle_id=VID, kind=LogKind.STATUS, cursor="c", pass_until=1, boundary_keys=tuple(instant_keys(dts))
    )
    assert eager.boundary_keys == tuple(f"t:{to_micros(d)}" for d in dts)
    assert lazy() == eager and eager == lazy() and hash(lazy()) == hash(eager)
    assert repr(lazy()) == repr(eager)
    assert attrs.asdict(lazy()) == attrs.asdict(eager)
    assert attrs.evolve(lazy(), records=1) == attrs.evolve(eager, records=1)
    assert pickle.loads(pickle.dumps(lazy())) == eager
    state = lazy()
    assert type(state.boundary_keys) is tuple and state.boundary_keys is state.boundary_keys


def test_partition_state_fields_are_the_ones_the_pass_sets() -> None:
    # Harvester._run_pass builds each page's state field by field (attrs.evolve costs ~4 µs a
    # page): a new field must be carried there too, then added here.
    assert [a.name for a in attrs.fields(PartitionState)] == [
        "token", "vehicle_id", "kind", "watermark", "tail_keys", "cursor", "pass_until", "pass_since",
        "pass_tail_keys", "pass_tail_open", "boundary_keys", "records", "passes", "covered_since", "pass_backfill",
    ]
