"""The bulk log harvester: concurrent, budget-aware, resumable, exactly once with a sink.

Structure of a run::

    per token:  producer (reads vehicle IDs lazily) -> bounded work queue -> N workers
    worker:     one (vehicle, kind) partition at a time, page by page:
                budget.acquire -> global semaphore -> GET one page -> de-duplicate
                -> bounded output queue (back-pressure)
    consumer:   run(sink): write batches, sink.commit() (fsync), state.commit(states + checkpoint)
                or ``async for batch in harvester`` (state committed when the next batch is asked for)
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .. import _observe as observe
from .._errors import EvEnergyError, PaginationError
from ._budget import Parked, TokenBudget
from ._fetcher import Fetcher, FetchFailed, Lane
from ._pass import Bounds, PagePass, open_pass
from ._report import HarvestReport, ParkedWork, TokenReport, VehicleFailure
from ._sinks import JsonlSink, Sink
from ._state import MemoryStateStore, SQLiteStateStore, StateStore
from ._types import (
    DEFAULT_KINDS,
    HarvestBatch,
    LogKind,
    PartitionState,
    from_micros,
    to_micros,
)
from ._vehicles import VehicleSource, list_vehicles, shard_of, source_ids, sources_by_label

if TYPE_CHECKING:
    import os

    from .._client import ClientStats, EvEnergyClient
    from ._planner import HarvestPlan

__all__ = ["Harvester", "VehicleSource", "shard_of"]

_END: Any = object()
_KIND_VALUES: dict[LogKind, str] = {kind: kind.value for kind in LogKind}


@attrs.define(eq=False)
class _Token:
    label: str
    lane: Lane
    report: TokenReport
    source: VehicleSource | None  # None: list the token's vehicles
    pending: set[tuple[str, LogKind]] = attrs.field(factory=set)
    input_exhausted: bool = False

    @property
    def client(self) -> EvEnergyClient:
        return self.lane.client

    @property
    def budget(self) -> TokenBudget:
        return self.lane.budget


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Harvester:
    """Harvest vehicle logs from one or several clients (one per user token).

    ``clients``: a client, a sequence of clients (labelled ``token0``, ``token1``... in the
    report) or a mapping label -> client. The state is keyed by (vehicle, kind), whichever
    token fetches it: tokens may be reordered, added, removed or rotated between runs, and a
    vehicle that several tokens can see is harvested by one of them. ``vehicles``: ``None`` for
    every vehicle each token can list, an iterable or async iterable of IDs (one client), or a
    mapping label -> IDs. ``since``/``until`` bound the window (inclusive, aware datetimes);
    ``until`` defaults to the run's start time, and with saved state each partition starts at
    its watermark minus ``overlap`` (the overlap's records that were already delivered are
    dropped). ``state`` is a :class:`StateStore` (yours: not opened or closed here) or a path
    for an owned :class:`SQLiteStateStore`; default an in-memory store.

    Use::

        async with Harvester(client, state="state.sqlite") as harvester:
            report = await harvester.run(JsonlSink("out"))
        # or stream: async for batch in harvester: ...   (a batch's state is committed when
        # the next batch is requested, or when the iteration ends)

    Concurrency: at most ``concurrency`` requests in flight overall and
    ``per_token_concurrency`` per token. Pacing: a token never sends more requests than its
    known remaining budget; a 429 whose ``Retry-After`` exceeds the client's cap parks the
    token until the deadline (others continue) or, beyond ``max_park`` seconds, leaves its
    work for the next run (reported in ``report.parked``). Memory: at most ``queue_size``
    batches wait for the consumer; a slow consumer slows the fetchers. By default that is
    ``2 * concurrency`` for ``run()`` (which commits up to ``commit_batches`` waiting batches
    at once) and half the fetchers (at least 4) for ``async for``, which takes one batch at
    a time: a longer queue only keeps more records alive, and costs CPU (caches, GC).

    The API gone: when no response has arrived for ``unreachable_after`` seconds and the
    requests fail at the connection level, the run stops -- what was delivered is
    committed -- and ``run()`` (or ``async for``) raises :class:`APIUnreachableError`
    naming the API's ``host:port``; the next run continues exactly once. ``None``: keep
    trying (each page then fails after ``max_attempts``).
    """

    def __init__(
        self,
        clients: EvEnergyClient | Sequence[EvEnergyClient] | Mapping[str, EvEnergyClient],
        *,
        vehicles: VehicleSource | Mapping[str, VehicleSource] | None = None,
        kinds: Iterable[LogKind | str] | str = DEFAULT_KINDS,
        since: datetime | None = None,
        until: datetime | None = None,
        state: StateStore | str | os.PathLike[str] | None = None,
        page_size: int = 100,
        concurrency: int = 64,
        per_token_concurrency: int = 8,
        queue_size: int | None = None,
        overlap: timedelta = timedelta(minutes=10),
        max_park: float = 3600.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.5,
        budget_reserve: int = 0,
        budget_window: float = 3600.0,
        shard: tuple[int, int] | None = None,
        commit_batches: int = 64,
        unreachable_after: float | None = 30.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        from .._client import EvEnergyClient

        if isinstance(clients, EvEnergyClient):
            named: dict[str, EvEnergyClient] = {"default": clients}
        elif isinstance(clients, Mapping):
            named = {str(k): v for k, v in clients.items()}
        else:
            named = {f"token{i}": c for i, c in enumerate(clients)}
        if not named:
            raise ValueError("no clients given")
        if not 1 <= page_size <= 100:
            raise ValueError("page_size must be 1..100")
        if concurrency < 1 or per_token_concurrency < 1:
            raise ValueError("concurrency and per_token_concurrency must be >= 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
            raise ValueError("shard must be (index, count) with 0 <= index < count")
        if overlap < timedelta(0):
            raise ValueError("overlap must be >= 0")
        if unreachable_after is not None and not unreachable_after > 0:
            raise ValueError("unreachable_after must be > 0 seconds (or None: never give up)")

        sources = sources_by_label(named, vehicles)

        self.kinds = LogKind.parse_list(kinds)
        self.since = _aware(since, "since")
        self.until = _aware(until, "until")
        self.page_size = page_size
        self.concurrency = concurrency
        self.per_token_concurrency = per_token_concurrency
        self._queue_size_given = queue_size is not None
        self.queue_size = queue_size if queue_size is not None else max(4, 2 * concurrency)
        if self.queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        self.overlap = overlap
        self.max_park = max_park
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.budget_window = budget_window
        self.shard = shard
        self.commit_batches = max(1, commit_batches)
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self._sleep = sleep

        self._state: StateStore = state if isinstance(state, StateStore) else MemoryStateStore()
        self._owned_state: SQLiteStateStore | None = None
        if state is not None and not isinstance(state, StateStore):
            self._owned_state = SQLiteStateStore(state)
            self._state = self._owned_state

        self._fetcher = Fetcher(
            concurrency=concurrency,
            max_attempts=max_attempts,
            retry_backoff=retry_backoff,
            sleep=sleep,
            clock=clock,
            unreachable_after=unreachable_after,
        )
        self._tokens = [
            _Token(
                label=label,
                lane=Lane(
                    label,
                    client,
                    TokenBudget(
                        window=budget_window, reserve=budget_reserve, max_park=max_park, clock=clock, wall=self._now
                    ),
                ),
                report=TokenReport(token=label),
                source=sources[label],
            )
            for label, client in named.items()
        ]
        self._tokens_by_label = {tok.label: tok for tok in self._tokens}
        self._planned_ids: dict[str, tuple[list[str], bool]] = {}  # label -> (IDs read, all of them)

        self._entered = False
        self._prepared = False
        self._started = False
        self._finished = False
        self._mode: str | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._claimed: set[str] = set()
        self._buffered = 0
        self._last: HarvestBatch | None = None
        self._stats_base: list[tuple[ClientStats, int, int, dict[str, int]]] = []
        self._t0 = 0.0
        start = self._now()
        self.report = HarvestReport(
            kinds=self.kinds,
            since=self.since,
            until=self.until or start,
            started_at=start,
            queue_capacity=self.queue_size,
            tokens={t.label: t.report for t in self._tokens},
        )

    def __repr__(self) -> str:
        labels = ", ".join(t.label for t in self._tokens)
        return f"<Harvester tokens=[{labels}] kinds={[k.value for k in self.kinds]}>"

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Harvester:
        if self._entered:
            raise RuntimeError("a Harvester can be entered only once")
        self._entered = True
        if self._owned_state is not None:
            await self._owned_state.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            await self._stop()
            if self._started and not self._finished:
                self.report.cancelled = True
                self._finalize()
        finally:
            if self._owned_state is not None:
                await self._owned_state.close()

    async def _stop(self) -> None:
        task = self._task
        if task is None:
            return
        if not task.done():
            task.cancel()
            await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # retrieved: never "exception was never retrieved"

    def _prepare(self) -> None:
        """Fix the run's clock: its start time, window bounds and counter baselines."""
        if not self._entered:
            raise RuntimeError("use the Harvester as `async with Harvester(...) as h`")
        if self._prepared:
            return
        self._prepared = True
        self._t0 = self._clock()
        self._fetcher.alive()
        start = self._now()
        self.report.started_at = start
        run_start_us = to_micros(start)
        self._bounds = Bounds(
            since_us=to_micros(self.since) if self.since is not None else None,
            until_us=to_micros(self.until) if self.until is not None else run_start_us,
            run_start_us=run_start_us,
            overlap_us=int(self.overlap.total_seconds() * 1_000_000),
        )
        self.report.until = from_micros(self._bounds.until_us)
        seen: set[int] = set()
        for tok in self._tokens:
            stats = tok.client.stats
            if id(stats) not in seen:
                seen.add(id(stats))
                self._stats_base.append((stats, stats.requests, stats.retries, dict(stats.retry_reasons)))

    def _start(self) -> None:
        self._prepare()
        if self._started:
            return
        self._started = True
        self._task = asyncio.create_task(self._supervise(), name="evenergy-harvest")

    # -- consuming -------------------------------------------------------------------

    async def run(self, sink: Sink | str | os.PathLike[str]) -> HarvestReport:
        """Harvest into ``sink`` (a :class:`Sink`, or a directory for an owned :class:`JsonlSink`).

        Each group of batches is written, the sink committed (made durable), then the state
        committed together with the sink's checkpoint. Returns the final report.
        """
        if self._mode is not None:
            raise RuntimeError("this Harvester has already been run or iterated")
        self._mode = "run"
        owned: JsonlSink | None = None
        if not isinstance(sink, Sink):
            owned = JsonlSink(sink)
            sink = owned
        try:
            checkpoint = await self._state.sink_checkpoint(sink.sink_id)
            await sink.recover(checkpoint)
            if checkpoint is None:
                # pin the sink's starting point before the first write: a crash before the
                # first state commit must roll back to it, not keep what was written
                initial = await sink.commit()
                if initial is not None:
                    await self._state.commit([], sink_id=sink.sink_id, checkpoint=initial)
            self._start()
            queue = self._queue
            done = False
            while not done:
                group = [await queue.get()]
                while len(group) < self.commit_batches and not queue.empty():
                    group.append(queue.get_nowait())
                batches: list[HarvestBatch] = []
                for item in group:
                    if item is _END:
                        done = True
                    else:
                        batches.append(item)
                if batches:
                    for batch in batches:
                        if batch.records:
                            await sink.write(batch)
                    new_checkpoint = await sink.commit()
                    await self._state.commit(
                        [b.state for b in batches],
                        sink_id=sink.sink_id if new_checkpoint is not None else None,
                        checkpoint=new_checkpoint,
                    )
                    self._delivered(batches)
            await self._join()
            return self.report
        finally:
            if owned is not None:
                await owned.close()

    def __aiter__(self) -> AsyncIterator[HarvestBatch]:
        return self

    async def __anext__(self) -> HarvestBatch:
        if self._mode not in (None, "iterate"):
            raise RuntimeError("this Harvester is being run with a sink")
        if self._mode is None and not self._queue_size_given:
            # one batch at a time: half the fetchers' worth of batches keeps them all busy
            fetchers = min(self.concurrency, self.per_token_concurrency * len(self._tokens))
            self.queue_size = self.report.queue_capacity = max(4, fetchers // 2)
            self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._mode = "iterate"
        if self._finished:
            raise StopAsyncIteration
        self._start()
        pending: list[HarvestBatch] = []
        if self._last is not None:
            pending.append(self._last)  # asking for the next batch confirms the previous one
            self._last = None
        while True:
            item = await self._queue.get()
            if item is _END:
                await self._commit_states(pending)
                await self._join()
                raise StopAsyncIteration
            if not item.records:
                pending.append(item)
                continue
            await self._commit_states(pending)
            self._last = item
            return item  # type: ignore[no-any-return]

    async def _commit_states(self, batches: list[HarvestBatch]) -> None:
        if batches:
            await self._state.commit([b.state for b in batches])
            self._delivered(batches)
            batches.clear()

    def _delivered(self, batches: list[HarvestBatch]) -> None:
        report = self.report
        report.commits += 1
        records = report.records
        for batch in batches:
            n = len(batch.records)
            report.batches += 1
            kind = _KIND_VALUES[batch.kind]
            records[kind] = records.get(kind, 0) + n
            self._token(batch.token).report.records += n
            self._buffered -= n

    async def _join(self) -> None:
        assert self._task is not None
        await asyncio.wait([self._task])
        if not self._task.cancelled():
            self._task.exception()
        self._finished = True
        self._finalize()
        if self._error is not None:
            raise self._error

    def _rebase_counters(self) -> None:
        """Forget the requests made so far (a plan's samples are not part of the run)."""
        self._fetcher.rebase([tok.lane for tok in self._tokens])
        self.report.requests = 0
        for tok in self._tokens:
            tok.report.requests = 0
        self._stats_base = [
            (stats, stats.requests, stats.retries, dict(stats.retry_reasons)) for stats, *_ in self._stats_base
        ]

    def _token(self, label: str) -> _Token:
        return self._tokens_by_label[label]

    # -- progress and the report --------------------------------------------------------

    def progress(self) -> HarvestReport:
        """The live report, with counters refreshed (call it from a progress display)."""
        self._refresh()
        return self.report

    @property
    def parked_tokens(self) -> list[str]:
        return [t.label for t in self._tokens if t.budget.parked]

    def _refresh(self) -> None:
        report = self.report
        if self._prepared:
            report.elapsed = self._clock() - self._t0
        http = 0
        reasons: Counter[str] = Counter(self._fetcher.retries)
        for stats, base_requests, _base_retries, base_reasons in self._stats_base:
            http += stats.requests - base_requests
            for reason, n in stats.retry_reasons.items():
                delta = n - base_reasons.get(reason, 0)
                if delta:
                    reasons[reason] += delta
        report.http_requests = http
        report.retry_reasons = dict(reasons)
        report.retries = sum(reasons.values())
        report.requests = self._fetcher.requests
        for tok in self._tokens:
            tok.report.requests = tok.lane.requests
            tok.report.budget_limit = tok.budget.limit
            tok.report.budget_remaining = tok.budget.remaining
            tok.report.parks = tok.budget.parks
            tok.report.parked_until = tok.budget.parked_until_wall if tok.budget.parked else None
            tok.report.abandoned = tok.budget.abandoned
            tok.report.input_exhausted = tok.input_exhausted
        report.max_buffered_records = max(report.max_buffered_records, self._buffered)

    def _finalize(self) -> None:
        self._refresh()
        report = self.report
        report.finished_at = self._now()
        report.parked = []
        parked = 0
        for tok in self._tokens:
            if tok.budget.abandoned:
                pending = tuple(sorted(tok.pending))
                parked += len(pending)
                report.parked.append(
                    ParkedWork(
                        token=tok.label,
                        until=tok.budget.parked_until_wall or report.finished_at,
                        pending=pending,
                        input_exhausted=tok.input_exhausted,
                    )
                )
        report.partitions_parked = parked
        observe.run_finished(report)

    # -- planning ----------------------------------------------------------------------

    async def plan(self, *, sample: int = 2) -> HarvestPlan:
        """A forecast without harvesting: requests per token and the time at current budgets.

        Lists the vehicles (if not given) and samples a few partitions per token and kind
        to estimate how many records and pages each holds; the IDs read are kept for a
        later ``run``. See :mod:`evenergy_async._harvest._planner` for the method.
        """
        from ._planner import PlanInput, make_plan

        if not self._entered:
            raise RuntimeError("use the Harvester as `async with Harvester(...) as h`")
        self._prepare()
        inputs: list[PlanInput] = []
        planned: dict[str, tuple[list[str], bool]] = {}
        for tok in self._tokens:
            before = tok.lane.requests
            failures_before = len(self.report.failures)
            ids: list[str] = []
            parked = False
            try:
                async for vid in self._vehicle_ids(tok):
                    if vid not in self._claimed:
                        self._claimed.add(vid)
                        ids.append(vid)
            except Parked:
                parked = True
            listed_all = not parked and not tok.budget.abandoned and len(self.report.failures) == failures_before
            planned[tok.label] = (ids, listed_all)
            inputs.append(
                PlanInput(
                    lane=tok.lane,
                    vehicle_ids=tuple(ids),
                    list_requests=tok.lane.requests - before,
                    parked=parked or tok.budget.abandoned,
                )
            )
        plan = await make_plan(
            inputs,
            fetcher=self._fetcher,
            state=self._state,
            kinds=self.kinds,
            bounds=self._bounds,
            since=self.since,
            page_size=self.page_size,
            concurrency=self.concurrency,
            per_token_concurrency=self.per_token_concurrency,
            budget_window=self.budget_window,
            sample=sample,
        )
        self._planned_ids = planned
        self._claimed.clear()
        self.report.failures.clear()  # a sample's failure is not the run's
        self._rebase_counters()
        return plan

    # -- the fetching side ---------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for tok in self._tokens:
                    tg.create_task(self._run_token(tok), name=f"evenergy-harvest-{tok.label}")
        except Exception as exc:  # the API gone, a store failure or a bug: surfaces from run()/__anext__
            self._error = _one_error(exc)
        await self._queue.put(_END)

    async def _run_token(self, tok: _Token) -> None:
        work: asyncio.Queue[tuple[str, LogKind] | None] = asyncio.Queue(maxsize=2 * self.per_token_concurrency)
        workers = self.per_token_concurrency
        async with asyncio.TaskGroup() as tg:
            for i in range(workers):
                tg.create_task(self._worker(tok, work), name=f"evenergy-harvest-{tok.label}-{i}")
            await self._produce(tok, work)
            for _ in range(workers):
                await work.put(None)

    async def _produce(self, tok: _Token, work: asyncio.Queue[tuple[str, LogKind] | None]) -> None:
        async for vehicle_id in self._vehicle_ids(tok):
            if tok.budget.abandoned:
                return
            if vehicle_id in self._claimed:
                continue
            self._claimed.add(vehicle_id)
            tok.report.vehicles += 1
            for kind in self.kinds:
                tok.report.partitions += 1
                self.report.partitions_total += 1
                tok.pending.add((vehicle_id, kind))
                await work.put((vehicle_id, kind))
        if not tok.budget.abandoned:
            tok.input_exhausted = True

    async def _vehicle_ids(self, tok: _Token) -> AsyncIterator[str]:
        """The token's vehicle IDs, sharded, read lazily (first those a ``plan()`` read)."""
        planned, complete = self._planned_ids.get(tok.label, ([], False))
        for vid in planned:
            yield vid
        if complete:
            return
        # the rest of the input (a re-iterated list or listing repeats IDs: the producer skips them)
        async for vid in source_ids(tok.source, self._list_vehicles(tok), self.shard):
            yield vid

    async def _list_vehicles(self, tok: _Token) -> AsyncIterator[str]:
        try:
            async for vid in list_vehicles(self._fetcher, tok.lane):
                yield vid
        except Parked:
            return
        except FetchFailed as failed:
            self._record_failure(tok, None, None, failed)

    async def _worker(self, tok: _Token, work: asyncio.Queue[tuple[str, LogKind] | None]) -> None:
        while True:
            item = await work.get()
            if item is None:
                return
            vehicle_id, kind = item
            with observe.partition(tok.client._core.observer.tracing, tok.label, vehicle_id, kind.value) as part:
                try:
                    await self._partition(tok, vehicle_id, kind)
                except Parked:
                    part.parked()
                    continue  # stays in tok.pending: reported as parked
                except FetchFailed as failed:
                    part.failed(failed.error)
                    tok.pending.discard(item)
                    self._record_failure(tok, vehicle_id, kind, failed)
                    continue
                part.done()
            tok.pending.discard(item)
            self.report.partitions_done += 1
            tok.report.partitions_done += 1

    def _record_failure(self, tok: _Token, vehicle_id: str | None, kind: LogKind | None, failed: FetchFailed) -> None:
        error = failed.error
        status = error.status if isinstance(error, EvEnergyError) else None
        self.report.failures.append(
            VehicleFailure(
                token=tok.label,
                vehicle_id=vehicle_id,
                kind=kind,
                error=type(error).__name__,
                status=status,
                message=str(error),
                attempts=failed.attempts,
            )
        )
        if vehicle_id is not None:
            self.report.partitions_failed += 1
            tok.report.partitions_failed += 1

    async def _partition(self, tok: _Token, vehicle_id: str, kind: LogKind) -> None:
        """Harvest one partition: finish a pass a previous run left unfinished, then one
        fresh pass from the watermark (minus the overlap) or ``since`` up to ``until``."""
        if tok.lane.dead is not None:
            raise FetchFailed(tok.lane.dead, 0)
        state = await self._state.load(vehicle_id, kind)
        if state is None:
            state = PartitionState(token=tok.label, vehicle_id=vehicle_id, kind=kind)
        elif state.token != tok.label:
            state = attrs.evolve(state, token=tok.label)  # "last fetched by"
        fresh_done = False
        while True:
            if state.pass_until is None:
                if fresh_done:
                    break
                opened = open_pass(state, self._bounds)
                if opened is None:
                    break
                state = opened
                fresh_done = True
            state = await self._run_pass(tok, state)

    async def _run_pass(self, tok: _Token, state: PartitionState) -> PartitionState:
        """Fetch the pages of the pass open in ``state`` and emit each one's new records."""
        kind = state.kind
        assert state.pass_until is not None
        try:
            paginator = kind.paginator(
                tok.client,
                state.vehicle_id,
                since=from_micros(state.pass_since) if state.pass_since is not None else None,
                until=from_micros(state.pass_until),
                page_size=self.page_size,
            )
        except ValueError as exc:  # an invalid vehicle ID: refused before any request
            raise FetchFailed(exc, 0) from exc
        if state.cursor is not None:
            try:
                paginator = paginator.resume(state.cursor)
            except PaginationError as exc:  # a saved cursor of another server
                raise FetchFailed(exc, 0) from exc
        fetch = self._fetcher.fetch
        lane = tok.lane
        observer = PagePass(state, self._bounds)
        url: str | None = None  # None: the paginator's own start (the first page or the cursor)
        try:
            while True:
                page, next_url = await fetch(lane, paginator, url)
                try:
                    records, state = observer.observe(page.items, page.next_url)
                except PaginationError as exc:
                    raise FetchFailed(exc, 1) from exc
                last = page.next_url is None
                await self._emit(
                    HarvestBatch(
                        token=tok.label,
                        vehicle_id=state.vehicle_id,
                        kind=kind,
                        records=records,
                        page_url=page.url,
                        last=last,
                        state=state,
                    )
                )
                if last:
                    return state
                url = next_url
        finally:
            self.report.boundary_duplicates += observer.boundary_duplicates
            self.report.overlap_duplicates += observer.overlap_duplicates

    async def _emit(self, batch: HarvestBatch) -> None:
        self._buffered += len(batch.records)
        if self._buffered > self.report.max_buffered_records:
            self.report.max_buffered_records = self._buffered
        await self._queue.put(batch)
        size = self._queue.qsize()
        if size > self.report.max_queue_size:
            self.report.max_queue_size = size


def _one_error(exc: BaseException) -> BaseException:
    """The error of a failed task tree: the first leaf when every leaf is of one type (several
    workers met the same outage), else the group itself."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(exc)
    if leaves and all(type(leaf) is type(leaves[0]) for leaf in leaves):
        return leaves[0]
    return exc
