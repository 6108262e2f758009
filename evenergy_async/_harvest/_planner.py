"""The forecast (dry run): how many requests a harvest needs per token, and how long it takes.

Method. The API has no record counts, so the planner samples: for each token and kind it
fetches the first page (the harvest's ``page_size``) of up to ``sample`` partitions, over the
window the harvest would ask for. A first page without a next link gives that partition's
exact count. A full one shows the records' density over the time it covers (newest to
oldest record on the page); the partition's history then reaches back to its oldest record
in the window, which the planner finds with a few one-record probes (``until`` moved back
exponentially, then bisected, to 1/64 of the span): its count is the page's density over the
partition's whole span (newest to oldest record). A sampled partition is then described by
(count, oldest, newest); every partition of the kind is estimated as the samples' mean count
of records inside its own window (``since`` or its watermark minus the overlap, up to
``until``), assuming records spread evenly over each sample's span, and costs
``max(1, ceil(records / page_size))`` requests (an empty answer is one request too). The
plan says ``approximate`` when a kind had no usable sample. Vehicle listing costs
``ceil(vehicles / 100)`` requests when the vehicles are not given.

Time: a token whose requests fit in its remaining budget needs ``requests * latency /
concurrency`` (latency measured on the sample requests); beyond the budget every further
``limit`` requests need one budget window (an hour for the real API). Tokens run in parallel,
so the harvest takes as long as its slowest token (and at least its total requests over the
global concurrency).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import APIUnreachableError
from ._budget import Parked
from ._pass import Bounds, backfill_window, pass_window
from ._report import VehicleFailure
from ._types import LogKind, from_micros, record_time

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .._pagination import Page, Paginator
    from ._fetcher import Fetcher, Lane
    from ._state import StateStore

__all__ = ["HarvestPlan", "TokenPlan"]


@attrs.frozen
class TokenPlan:
    """The forecast for one token."""

    token: str
    vehicles: int
    partitions: int
    list_requests: int
    """Requests to list the token's vehicles (0 when the IDs were given)."""
    log_requests: int
    estimated_records: int
    budget_limit: int | None
    budget_remaining: int | None
    """The budget after the planner's own sample requests."""
    seconds: float
    """Estimated duration for this token at the current budget."""
    parked: bool = False
    """The token could not be sampled (its budget is spent): the estimate is a floor."""
    listing_failure: VehicleFailure | None = None
    """Why the token's vehicles could not be listed, or None: its vehicles then count 0 here
    (a run would report the same failure)."""

    @property
    def requests(self) -> int:
        return self.list_requests + self.log_requests


@attrs.frozen
class HarvestPlan:
    """A harvest forecast (``await harvester.plan()``; ``evenergy-async harvest --plan``)."""

    tokens: tuple[TokenPlan, ...]
    kinds: tuple[LogKind, ...]
    since: datetime | None
    until: datetime
    page_size: int
    concurrency: int
    sample_requests: int
    """Requests the planner itself made (listing included)."""
    latency: float
    """Mean seconds per sampled request."""
    approximate: bool
    """True when some window had no known start (no ``since``, no watermark)."""

    @property
    def total_requests(self) -> int:
        return sum(t.requests for t in self.tokens)

    @property
    def estimated_records(self) -> int:
        return sum(t.estimated_records for t in self.tokens)

    @property
    def estimated_seconds(self) -> float:
        slowest = max((t.seconds for t in self.tokens), default=0.0)
        return max(slowest, self.total_requests * self.latency / max(1, self.concurrency))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": [k.value for k in self.kinds],
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "page_size": self.page_size,
            "total_requests": self.total_requests,
            "estimated_records": self.estimated_records,
            "estimated_seconds": round(self.estimated_seconds, 1),
            "sample_requests": self.sample_requests,
            "latency": round(self.latency, 4),
            "approximate": self.approximate,
            "tokens": [
                {
                    **attrs.asdict(t),
                    "requests": t.requests,
                    "seconds": round(t.seconds, 1),
                    "listing_failure": t.listing_failure.to_dict() if t.listing_failure else None,
                }
                for t in self.tokens
            ],
        }

    def format(self) -> str:
        lines = [
            f"plan: {self.total_requests} requests for ~{self.estimated_records} records "
            f"({', '.join(k.value for k in self.kinds)}; page size {self.page_size})"
            + (" [approximate: no --since and no saved state]" if self.approximate else ""),
            f"  window: {self.since.isoformat() if self.since else 'beginning'} .. {self.until.isoformat()}",
            f"  estimated time at current budgets: {_duration(self.estimated_seconds)}"
            f" (sampled with {self.sample_requests} requests, {self.latency * 1000:.0f} ms each)",
        ]
        for t in self.tokens:
            budget = f"{t.budget_remaining}/{t.budget_limit}" if t.budget_limit is not None else "unknown"
            lines.append(
                f"  token {t.token}: {t.vehicles} vehicles, {t.partitions} partitions, {t.requests} requests "
                f"({t.list_requests} listing + {t.log_requests} logs), ~{t.estimated_records} records, "
                f"budget {budget}, ~{_duration(t.seconds)}"
                + (" (budget spent: parked)" if t.parked else "")
                + (f" -- LISTING FAILED: {_failure_name(t.listing_failure)}" if t.listing_failure else "")
            )
        return "\n".join(lines)


def _failure_name(failure: VehicleFailure) -> str:
    """``"AuthError [400]"``: what failed, without the server's text."""
    return failure.error + (f" [{failure.status}]" if failure.status is not None else "")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@attrs.frozen
class _Sample:
    """What a sampled partition holds: ``count`` records from ``oldest`` to ``newest`` (µs)."""

    count: float
    oldest: int | None
    newest: int | None

    def within(self, lo: int | None, hi: int) -> float:
        """The records expected in ``[lo, hi]``, spread evenly over the sample's span."""
        if self.count <= 0 or self.oldest is None or self.newest is None:
            return 0.0
        start = self.oldest if lo is None else max(lo, self.oldest)
        end = min(hi, self.newest)
        if self.newest == self.oldest:
            return self.count if start <= end else 0.0
        if end < start:
            return 0.0
        return self.count * (end - start) / (self.newest - self.oldest)


@attrs.frozen
class PlanInput:
    """One token to plan for: its lane and the vehicle IDs read for it (claimed by no other)."""

    lane: Lane
    vehicle_ids: tuple[str, ...]
    list_requests: int
    """Requests the listing took (0 when the IDs were given)."""
    parked: bool
    """The listing stopped because the token's budget is spent."""
    listing_failure: VehicleFailure | None = None
    """The listing's failure, if it failed."""


async def make_plan(
    inputs: Sequence[PlanInput],
    *,
    fetcher: Fetcher,
    state: StateStore,
    kinds: tuple[LogKind, ...],
    bounds: Bounds,
    since: datetime | None,
    page_size: int,
    concurrency: int,
    per_token_concurrency: int,
    budget_window: float,
    sample: int,
) -> HarvestPlan:
    latencies: list[float] = []
    sample_requests = 0
    approximate = False
    plans: list[TokenPlan] = []
    for item in inputs:
        lane = item.lane
        before = lane.requests
        parked = item.parked
        windows: dict[tuple[str, LogKind], tuple[int | None, int] | None] = {}
        for vid in item.vehicle_ids:
            for kind in kinds:
                windows[(vid, kind)] = await _window(state, bounds, vid, kind)
        samples: dict[LogKind, list[_Sample]] = {kind: [] for kind in kinds}
        for kind in kinds:
            taken = 0
            for vid in item.vehicle_ids:
                if taken >= sample or parked or lane.budget.abandoned:
                    break
                window = windows[(vid, kind)]
                if window is None:
                    continue
                taken += 1
                t0 = time.perf_counter()
                try:
                    page, _ = await fetcher.fetch(lane, _paginator(lane, kind, vid, window[0], window[1], page_size))
                    latencies.append(time.perf_counter() - t0)
                    samples[kind].append(await _sample(fetcher, lane, kind, vid, window, page))
                except Parked:
                    parked = True
                    break
                except APIUnreachableError:
                    raise
                except Exception:  # a failing sample vehicle: the estimate uses the others
                    continue
        log_requests = 0
        estimated = 0
        for (_vid, kind), window in windows.items():
            if window is None:
                continue
            found = samples[kind]
            if found:
                est = sum(x.within(window[0], window[1]) for x in found) / len(found)
            else:
                est = 0.0
                approximate = True
            estimated += round(est)
            log_requests += max(1, math.ceil(round(est) / page_size))
        sample_requests += item.list_requests + lane.requests - before
        plans.append(
            TokenPlan(
                token=lane.label,
                vehicles=len(item.vehicle_ids),
                partitions=sum(1 for w in windows.values() if w is not None),
                list_requests=item.list_requests,
                log_requests=log_requests,
                estimated_records=estimated,
                budget_limit=lane.budget.limit,
                budget_remaining=lane.budget.remaining,
                seconds=0.0,
                parked=parked or lane.budget.abandoned,
                listing_failure=item.listing_failure,
            )
        )
    latency = sum(latencies) / len(latencies) if latencies else 0.05
    per_token = min(per_token_concurrency, concurrency)
    timed = []
    for p in plans:
        requests = p.requests
        fast = requests * latency / per_token
        if p.budget_remaining is not None and p.budget_limit and requests > p.budget_remaining:
            over = requests - p.budget_remaining
            seconds = over / p.budget_limit * budget_window + p.budget_remaining * latency / per_token
        else:
            seconds = fast
        timed.append(attrs.evolve(p, seconds=seconds))
    return HarvestPlan(
        tokens=tuple(timed),
        kinds=kinds,
        since=since,
        until=from_micros(bounds.until_us),
        page_size=page_size,
        concurrency=concurrency,
        sample_requests=sample_requests,
        latency=latency,
        approximate=approximate,
    )


async def _window(state: StateStore, bounds: Bounds, vid: str, kind: LogKind) -> tuple[int | None, int] | None:
    """The (since, until) this partition's next pass asks for (None: nothing to do)."""
    saved = await state.load(vid, kind)
    if saved is not None and saved.pass_until is not None:
        return (saved.pass_since, saved.pass_until)
    backfill = backfill_window(saved, bounds)  # a run that owes a backfill starts with it
    return backfill if backfill is not None else pass_window(saved, bounds)


def _paginator(lane: Lane, kind: LogKind, vid: str, lo: int | None, hi: int, page_size: int) -> Paginator[Any]:
    return kind.paginator(
        lane.client,
        vid,
        since=from_micros(lo) if lo is not None else None,
        until=from_micros(hi),
        page_size=page_size,
    )


_PRECISION = 64  # the oldest record is located to 1/64 of the partition's span


async def _sample(
    fetcher: Fetcher, lane: Lane, kind: LogKind, vid: str, window: tuple[int | None, int], page: Page[Any]
) -> _Sample:
    """What a partition holds, from its first page and, when there are more, a few probes."""
    times = [t for t in (record_time(r, kind) for r in page.items) if t is not None]
    if not times:  # no records, or none with a timestamp: the page's count is what we know
        return _Sample(float(len(page.items)), window[0], window[1])
    newest, oldest_page = max(times), min(times)
    if page.next_url is None:
        return _Sample(float(len(page.items)), oldest_page, newest)
    lo = window[0]

    async def any_at_or_before(instant: int) -> bool:
        if lo is not None and instant < lo:
            return False
        probe, _ = await fetcher.fetch(lane, _paginator(lane, kind, vid, lo, instant, 1))
        return bool(probe.items)

    # exponentially back from the page's oldest record until nothing is older, then bisect
    step = max(1, newest - oldest_page)
    known = oldest_page  # a record exists at or before it
    bound = oldest_page - step
    while await any_at_or_before(bound):
        known = bound
        step *= 2
        bound = oldest_page - step
        if bound < 0 or (lo is not None and bound < lo):
            bound = lo if lo is not None else 0
            if not await any_at_or_before(bound):
                break
            known = bound
            break
    if known != bound:  # the oldest record lies in (bound, known]
        while known - bound > max(1, (newest - known) // _PRECISION):
            middle = (known + bound) // 2
            if await any_at_or_before(middle):
                known = middle
            else:
                bound = middle
    oldest = known
    n = len(times)
    if newest == oldest_page or n < 2:
        return _Sample(float(n), oldest, newest)
    density = (n - 1) / (newest - oldest_page)  # records per µs over the page's span
    return _Sample(1 + density * (newest - oldest), oldest, newest)
