"""One pass over a partition, without I/O: open it, observe its pages, close it.

A *pass* reads one (vehicle, kind) partition newest first over ``[pass_since, pass_until]``,
page by page. Everything the harvester decides about a page lives here as plain
computation on :class:`PartitionState` values (in the manner of singer-sdk's
``helpers/_state.py``): which window a fresh pass asks for (:func:`pass_window`,
:func:`open_pass`), and, for each page (:meth:`PagePass.observe`), which records are new
(de-duplication at page boundaries and against the previous pass's overlap tail), the
overlap tail the pass collects, the boundary keys it leaves for a resumed pass, the next
link's loop check, and the state after the page (the pass closed on its last page). The
harvester's loop only fetches pages, calls these and emits what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import attrs
from yarl import URL

from .._errors import PaginationError
from ._types import (
    LazyKeys,
    PartitionState,
    page_instants,
    page_keys,
    time_key_micros,
    to_micros,
    with_lazy_boundary,
)

__all__: list[str] = []  # private


@attrs.frozen
class Bounds:
    """A run's fixed bounds, in microseconds since the epoch (UTC)."""

    since_us: int | None
    """The run's ``since`` (None: from the beginning)."""
    until_us: int
    """The run's ``until`` (default: its start time)."""
    run_start_us: int
    """When the run started: no watermark goes beyond it."""
    overlap_us: int
    """How far below the watermark a fresh pass starts again."""


def pass_window(state: PartitionState | None, bounds: Bounds) -> tuple[int | None, int] | None:
    """The ``(since, until)`` a fresh pass of this partition asks for (None: nothing to do).

    From ``since`` (or the beginning), or from the watermark minus the overlap when that is
    later, up to ``until``; nothing when the watermark already reaches ``until``.
    """
    hi = bounds.until_us
    lo = bounds.since_us
    if state is not None and state.watermark is not None:
        if state.watermark >= hi:
            return None  # nothing newer than the watermark was asked for
        start = state.watermark - bounds.overlap_us
        # a since above the watermark does not skip the time in between: what a partition
        # covered stays one interval (a later, lower since backfills only below it)
        lo = start if lo is None or lo > state.watermark else max(lo, start)
    if lo is not None and lo > hi:
        return None
    return (lo, hi)


def backfill_window(state: PartitionState | None, bounds: Bounds) -> tuple[int | None, int] | None:
    """The ``(since, until)`` of the backfill pass this run owes the partition (None: none).

    A partition whose completed passes cover ``[covered_since, watermark]`` and a run asking
    for an earlier ``since``: ``[since, covered_since)`` (``until`` is inclusive, so one
    microsecond below: nothing the earlier passes delivered is asked for again). The run's
    ``until`` does not cap it, so what the partition covered stays one interval.
    """
    if state is None or state.watermark is None or state.covered_since is None:
        return None  # nothing completed yet, or covered from the beginning
    since = bounds.since_us
    if since is not None and since >= state.covered_since:
        return None
    return (since, state.covered_since - 1)


def open_pass(state: PartitionState, bounds: Bounds) -> PartitionState | None:
    """``state`` with a fresh pass opened (None: nothing to do): the backfill of
    :func:`backfill_window` if the run owes one, else the incremental :func:`pass_window`."""
    window = backfill_window(state, bounds)
    backfill = window is not None
    if window is None:
        window = pass_window(state, bounds)
        if window is None:
            return None
    lo, hi = window
    return attrs.evolve(
        state,
        pass_until=hi,
        pass_since=lo,
        pass_backfill=backfill,
        cursor=None,
        pass_tail_keys=(),
        boundary_keys=(),
        pass_tail_open=True,
    )


class PagePass:
    """The running pass of one partition: feed it each page, in order, with :meth:`observe`.

    ``state`` must have a pass open (``pass_until`` set): fresh from :func:`open_pass`, or
    an unfinished one as a previous run committed it (then the pages start at its cursor).

    What counts as delivered already: a record whose key is in ``state.tail_keys`` (the
    overlap of the pass that set the watermark), and a timestamped record older than
    ``watermark - overlap`` (every record up to the watermark was delivered). A fresh pass
    never asks for the latter; a pass that was opened below it (one that another token
    label ran, merged into this partition from an older state file) is held to it.
    A backfill pass (``state.pass_backfill``) has no such floor; it holds records at or after
    ``covered_since`` as delivered instead (its ceiling).
    ``boundary_duplicates`` and ``overlap_duplicates`` count the records dropped so far.
    """

    __slots__ = (
        "_ceiling",
        "_floor",
        "_prev_keys",
        "_prev_min",
        "_previous_tail",
        "_tail",
        "_tail_floor",
        "_tail_open",
        "_tail_span",
        "_visited",
        "_watermark",
        "boundary_duplicates",
        "overlap_duplicates",
        "state",
    )

    def __init__(self, state: PartitionState, bounds: Bounds) -> None:
        assert state.pass_until is not None, "no pass is open"
        self.state = state
        self.boundary_duplicates = 0
        self.overlap_duplicates = 0
        self._watermark = min(state.pass_until, bounds.run_start_us)
        self._tail_floor = self._watermark - bounds.overlap_us
        self._tail = list(state.pass_tail_keys)
        self._tail_open = state.pass_tail_open
        previous_tail = frozenset(state.tail_keys)
        self._previous_tail = previous_tail
        # Keys are t:<microseconds>, u:<url> or h:<hash>: a timestamped record's key can only
        # equal a canonical t: key, so an interval of microseconds stands for a key set.
        tail_us = time_key_micros(previous_tail)
        self._tail_span = (min(tail_us), max(tail_us)) if tail_us else None
        self._floor = state.watermark - bounds.overlap_us if state.watermark is not None else None
        self._ceiling = state.covered_since if state.pass_backfill else None
        if state.pass_backfill:
            self._floor = None
        # the previous page's keys (a set, or LazyKeys from the fast path) and the oldest
        # microsecond among its t: keys (None: it has none)
        boundary_keys = frozenset(state.boundary_keys)
        self._prev_keys: AbstractSet[str] | LazyKeys = boundary_keys
        self._prev_min: int | None = min(time_key_micros(boundary_keys), default=None)
        self._visited: set[str] = set()  # next links followed in this pass: a cycle is an error

    def observe(self, items: Sequence[Any], next_url: str | None) -> tuple[tuple[Any, ...], PartitionState]:
        """The page's new records (newest first) and the partition's state after it.

        ``next_url`` is the page's next link (None: the pass's last page, which closes the
        pass: new watermark and tail). Raises :class:`PaginationError` when the next link
        repeats a page of this pass.
        """
        state = self.state
        kind = state.kind
        tail = self._tail
        tail_open = self._tail_open
        tail_floor = self._tail_floor
        boundary: tuple[str, ...] | LazyKeys
        records: tuple[Any, ...]
        dts = page_instants(items)
        span = (to_micros(dts[0]), to_micros(dts[-1])) if dts else None  # newest, oldest
        floor = self._floor
        ceiling = self._ceiling
        if (
            dts is not None
            and _clear_of(span, self._prev_min, self._tail_span)
            and (floor is None or span is None or span[1] >= floor)
            and (ceiling is None or span is None or span[0] < ceiling)
        ):
            # The usual page: every record keyed by its URL's instant, strictly newest
            # first, all older than the previous page's and outside the previous run's
            # tail (and not below the floor): distinct keys that the loop below would all keep. Same outcome, and
            # no key is formatted but the overlap's (the state's boundary keys are lazy).
            records = tuple(items)
            if tail_open:  # the keys of the records down to the first one older than the overlap
                for dt in dts:
                    us = to_micros(dt)
                    if us < tail_floor:
                        tail_open = False
                        break
                    tail.append(f"t:{us}")
            boundary = self._prev_keys = LazyKeys(dts)
            self._prev_min = span[1] if span else None
        else:
            keys, times = page_keys(items, kind)
            prev_keys = self._prev_keys
            if isinstance(prev_keys, LazyKeys):
                prev_keys = frozenset(prev_keys.keys())
            previous_tail = self._previous_tail
            fresh: list[Any] = []
            page_keys_: dict[str, None] = {}
            prev_min = None
            for record, key, ts in zip(items, keys, times, strict=True):
                if key in prev_keys or key in page_keys_:
                    self.boundary_duplicates += 1
                    continue
                page_keys_[key] = None
                if ts is not None and (prev_min is None or ts < prev_min):
                    prev_min = ts
                if tail_open:
                    if ts is not None and ts < tail_floor:
                        tail_open = False
                    else:
                        tail.append(key)
                if (
                    key in previous_tail
                    or (floor is not None and ts is not None and ts < floor)
                    or (ceiling is not None and ts is not None and ts >= ceiling)
                ):
                    self.overlap_duplicates += 1
                    continue
                fresh.append(record)
            records = tuple(fresh)
            boundary = tuple(page_keys_)
            self._prev_keys = page_keys_.keys()
            self._prev_min = prev_min
        self._tail_open = tail_open
        if next_url is None:
            state = close_pass(state, self._watermark, tuple(tail), len(records))
        else:
            if next_url == state.cursor or next_url in self._visited:
                raise PaginationError("pagination loop: the next page link repeats a page of this pass")
            self._visited.add(next_url)
            state = PartitionState(
                token=state.token,
                vehicle_id=state.vehicle_id,
                kind=kind,
                watermark=state.watermark,
                tail_keys=state.tail_keys,
                cursor=next_url,
                pass_until=state.pass_until,
                pass_since=state.pass_since,
                covered_since=state.covered_since,
                pass_backfill=state.pass_backfill,
                pass_tail_keys=tuple(tail),
                pass_tail_open=tail_open,
                boundary_keys=boundary if isinstance(boundary, tuple) else (),
                records=state.records + len(records),
                passes=state.passes,
            )
            if isinstance(boundary, LazyKeys):
                with_lazy_boundary(state, boundary)
        self.state = state
        return records, state


def close_pass(state: PartitionState, watermark: int, tail: tuple[str, ...], records: int) -> PartitionState:
    """``state`` after its pass's last page (``records`` new ones): the pass's watermark and
    overlap tail, unless an earlier pass already reached further; a backfill pass lowers
    ``covered_since`` to its own since instead."""
    if state.pass_backfill:
        return PartitionState(
            token=state.token,
            vehicle_id=state.vehicle_id,
            kind=state.kind,
            watermark=state.watermark,
            tail_keys=state.tail_keys,
            covered_since=state.pass_since,
            records=state.records + records,
            passes=state.passes + 1,
        )
    keep_old = state.watermark is not None and state.watermark > watermark
    return PartitionState(
        token=state.token,
        vehicle_id=state.vehicle_id,
        kind=state.kind,
        watermark=state.watermark if keep_old else watermark,
        tail_keys=state.tail_keys if keep_old else tail,
        # the first completed pass sets what is covered; later ones continue it
        covered_since=state.pass_since if state.watermark is None else state.covered_since,
        records=state.records + records,
        passes=state.passes + 1,
    )


def _clear_of(span: tuple[int, int] | None, prev_min: int | None, tail_span: tuple[int, int] | None) -> bool:
    """Whether a page's (newest, oldest) microseconds (None: an empty page) are older than
    ``prev_min`` and outside ``tail_span`` (None: nothing to be clear of)."""
    if span is None:
        return True
    newest, oldest = span
    if prev_min is not None and newest >= prev_min:
        return False
    return tail_span is None or newest < tail_span[0] or oldest > tail_span[1]


def rebase_cursor(cursor: str, start: URL) -> str | None:
    """A saved next-page URL moved onto the configured API: the pass's list URL ``start``
    with the cursor's query, when the cursor is that list on another origin or base path.

    The same URL when it is already on ``start``'s origin or relative (``resume`` takes it as
    it is); None when it is on another origin and its path is not the list's (its page cannot
    be named on the configured API: the pass restarts below what it delivered, see
    :func:`restart_until`). Credentials only ever go to ``start``'s origin.
    """
    url = URL(cursor, encoded=True)
    if not url.is_absolute():
        return cursor
    tail = start.parts[-3:]  # ("vehicles", <vehicle id>, "<kind>_logs")
    if url.parts[-3:] != tail:
        return cursor if url.origin() == start.origin() else None
    base = str(start.with_query(None).with_fragment(None))
    query = url.raw_query_string
    return f"{base}?{query}" if query else base


def restart_until(state: PartitionState) -> int | None:
    """The ``until`` of a pass restarted without its cursor: one microsecond below the oldest
    record of the last page it delivered (pages come newest first, so everything at or above
    it was delivered); None when that page had no timestamped record."""
    oldest = min(time_key_micros(state.boundary_keys), default=None)
    return oldest - 1 if oldest is not None else None
