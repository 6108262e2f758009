"""The forecast (dry run): how many requests a harvest needs per token, and how long it takes.

Method. The API has no record counts, so the planner samples: for each token and kind it
fetches the first page (the harvest's ``page_size``) of up to ``sample`` partitions, over the
window the harvest would ask for. A sampled page without a next link gives that partition's
exact count; a full page gives a density (records per second over the time span the page
covers). Every partition is then estimated as ``max(1, ceil(density * its window /
page_size))`` requests (at least one request per partition: an empty answer is one request
too), using its own window (``since`` or its watermark minus the overlap, up to ``until``).
Without ``since`` and without a watermark the window's start is unknown; the sampled
partitions' counts are then used as they are and the plan says ``approximate``. Vehicle
listing costs ``ceil(vehicles / 100)`` requests when the vehicles are not given.

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
from ._pass import Bounds, pass_window
from ._types import LogKind, from_micros, record_time

if TYPE_CHECKING:
    from collections.abc import Sequence

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
                {**attrs.asdict(t), "requests": t.requests, "seconds": round(t.seconds, 1)} for t in self.tokens
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
                f"budget {budget}, ~{_duration(t.seconds)}" + (" (budget spent: parked)" if t.parked else "")
            )
        return "\n".join(lines)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@attrs.define
class _Sample:
    records_per_us: list[float] = attrs.field(factory=list)
    counts: list[int] = attrs.field(factory=list)


@attrs.frozen
class PlanInput:
    """One token to plan for: its lane and the vehicle IDs read for it (claimed by no other)."""

    lane: Lane
    vehicle_ids: tuple[str, ...]
    list_requests: int
    """Requests the listing took (0 when the IDs were given)."""
    parked: bool
    """The listing stopped because the token's budget is spent."""


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
        samples: dict[LogKind, _Sample] = {kind: _Sample() for kind in kinds}
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
                    page, _ = await fetcher.fetch(
                        lane,
                        kind.paginator(
                            lane.client,
                            vid,
                            since=from_micros(window[0]) if window[0] is not None else None,
                            until=from_micros(window[1]),
                            page_size=page_size,
                        ),
                    )
                except Parked:
                    parked = True
                    break
                except APIUnreachableError:
                    raise
                except Exception:  # a failing sample vehicle: the estimate uses the others
                    continue
                latencies.append(time.perf_counter() - t0)
                _add_sample(samples[kind], page.items, page.next_url is None, kind, window)
        log_requests = 0
        estimated = 0
        for (_vid, kind), window in windows.items():
            if window is None:
                continue
            s = samples[kind]
            if window[0] is not None and s.records_per_us:
                est = sum(s.records_per_us) / len(s.records_per_us) * (window[1] - window[0])
            elif s.counts:
                est = sum(s.counts) / len(s.counts)
                approximate = approximate or window[0] is None
            else:
                est = 0.0
                approximate = True
            estimated += round(est)
            log_requests += max(1, math.ceil(est / page_size))
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
    return pass_window(saved, bounds)


def _add_sample(s: _Sample, items: list[Any], complete: bool, kind: LogKind, window: tuple[int | None, int]) -> None:
    lo, hi = window
    if complete:
        s.counts.append(len(items))
        if lo is not None and hi > lo:
            s.records_per_us.append(len(items) / (hi - lo))
        return
    times = [t for t in (record_time(r, kind) for r in items) if t is not None]
    if not times:
        s.counts.append(len(items) * 2)
        return
    oldest = min(times)
    span = max(1, hi - oldest)
    s.records_per_us.append(len(items) / span)
    if lo is not None:
        s.counts.append(round(len(items) / span * (hi - lo)))
    else:
        s.counts.append(len(items) * 2)  # at least two pages; the history's start is unknown
