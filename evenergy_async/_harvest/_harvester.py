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
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

import attrs

from .. import _observe as observe
from .._errors import (
    APIError,
    EvEnergyError,
    PaginationError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnauthorizedError,
)
from ._budget import Parked, TokenBudget
from ._report import HarvestReport, ParkedWork, TokenReport, VehicleFailure
from ._sinks import JsonlSink, Sink
from ._state import MemoryStateStore, SQLiteStateStore, StateStore
from ._types import (
    DEFAULT_KINDS,
    HarvestBatch,
    LazyKeys,
    LogKind,
    PartitionState,
    from_micros,
    page_instants,
    page_keys,
    time_key_micros,
    to_micros,
    with_lazy_boundary,
)

if TYPE_CHECKING:
    import os

    from .._client import ClientStats, EvEnergyClient
    from .._pagination import Page, Paginator
    from ._planner import HarvestPlan

__all__ = ["Harvester", "VehicleSource", "shard_of"]

VehicleSource: TypeAlias = Iterable[str] | AsyncIterable[str]
"""Vehicle IDs: a list (or any iterable), or an async iterable read lazily."""

_END: Any = object()
_KIND_VALUES: dict[LogKind, str] = {kind: kind.value for kind in LogKind}
_VEHICLE_PAGE = 100


def shard_of(vehicle_id: str, shards: int) -> int:
    """The shard (``0 <= s < shards``) a vehicle belongs to: a stable hash, same on every machine."""
    digest = hashlib.blake2b(vehicle_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class _Failed(Exception):
    def __init__(self, error: BaseException, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


@attrs.define(eq=False)
class _Token:
    label: str
    client: EvEnergyClient
    budget: TokenBudget
    report: TokenReport
    source: VehicleSource | None  # None: list the token's vehicles
    pending: set[tuple[str, LogKind]] = attrs.field(factory=set)
    dead: BaseException | None = None  # 401 that the client could not refresh
    input_exhausted: bool = False


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Harvester:
    """Harvest vehicle logs from one or several clients (one per user token).

    ``clients``: a client, a sequence of clients (labelled ``token0``, ``token1``... in the
    state: keep the order stable) or a mapping label -> client. ``vehicles``: ``None`` for
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

        sources: dict[str, VehicleSource | None]
        if vehicles is None:
            sources = dict.fromkeys(named)
        elif isinstance(vehicles, Mapping):
            unknown = set(vehicles) - set(named)
            if unknown:
                raise ValueError(f"vehicles given for unknown client labels: {sorted(unknown)}")
            sources = {label: vehicles.get(label, ()) for label in named}
        else:
            if isinstance(vehicles, str):
                raise TypeError("vehicles must be an iterable of IDs, not a string")
            if len(named) > 1:
                raise ValueError("with several clients, give vehicles as a mapping label -> vehicle IDs")
            sources = {label: vehicles for label in named}

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

        self._tokens = [
            _Token(
                label=label,
                client=client,
                budget=TokenBudget(
                    window=budget_window, reserve=budget_reserve, max_park=max_park, clock=clock, wall=self._now
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
        self._global = asyncio.Semaphore(concurrency)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._claimed: set[str] = set()
        self._buffered = 0
        self._last: HarvestBatch | None = None
        self._own_retries: Counter[str] = Counter()
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
        start = self._now()
        self.report.started_at = start
        self._run_start_us = to_micros(start)
        self._until_us = to_micros(self.until) if self.until is not None else self._run_start_us
        self.report.until = from_micros(self._until_us)
        self._since_us = to_micros(self.since) if self.since is not None else None
        self._overlap_us = int(self.overlap.total_seconds() * 1_000_000)
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
        self.report.requests = 0
        for tok in self._tokens:
            tok.report.requests = 0
        self._own_retries.clear()
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
        reasons: Counter[str] = Counter(self._own_retries)
        for stats, base_requests, _base_retries, base_reasons in self._stats_base:
            http += stats.requests - base_requests
            for reason, n in stats.retry_reasons.items():
                delta = n - base_reasons.get(reason, 0)
                if delta:
                    reasons[reason] += delta
        report.http_requests = http
        report.retry_reasons = dict(reasons)
        report.retries = sum(reasons.values())
        for tok in self._tokens:
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

        Lists the vehicles (if not given) and fetches the first page of ``sample`` partitions
        per token and kind to estimate record density; the IDs read are kept for a later
        ``run``. See :mod:`evenergy_async._harvest._planner` for the method.
        """
        from ._planner import make_plan

        if not self._entered:
            raise RuntimeError("use the Harvester as `async with Harvester(...) as h`")
        return await make_plan(self, sample=sample)

    # -- the fetching side ---------------------------------------------------------------

    async def _supervise(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for tok in self._tokens:
                    tg.create_task(self._run_token(tok), name=f"evenergy-harvest-{tok.label}")
        except Exception as exc:  # a bug or a store failure: surfaces from run()/__anext__
            self._error = exc.exceptions[0] if isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1 else exc
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
        async for vid in self._raw_vehicle_ids(tok):
            if self.shard is None or shard_of(vid, self.shard[1]) == self.shard[0]:
                yield vid

    async def _raw_vehicle_ids(self, tok: _Token) -> AsyncIterator[str]:
        source = tok.source
        if source is None:
            async for vid in self._list_vehicles(tok):
                yield vid
        elif isinstance(source, AsyncIterable):
            async for vid in source:
                yield str(vid)
        else:
            for vid in source:
                yield str(vid)

    async def _list_vehicles(self, tok: _Token) -> AsyncIterator[str]:
        paginator = tok.client.vehicles.list(page_size=_VEHICLE_PAGE)
        url: str | None = None
        while True:
            try:
                page, url = await self._fetch(tok, paginator, url)
            except Parked:
                return
            except _Failed as failed:
                self._record_failure(tok, None, None, failed)
                return
            for vehicle in page.items:
                yield vehicle.id
            if url is None:
                return

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
                except _Failed as failed:
                    part.failed(failed.error)
                    tok.pending.discard(item)
                    self._record_failure(tok, vehicle_id, kind, failed)
                    continue
                part.done()
            tok.pending.discard(item)
            self.report.partitions_done += 1
            tok.report.partitions_done += 1

    def _record_failure(self, tok: _Token, vehicle_id: str | None, kind: LogKind | None, failed: _Failed) -> None:
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
        if tok.dead is not None:
            raise _Failed(tok.dead, 0)
        state = await self._state.load(tok.label, vehicle_id, kind)
        if state is None:
            state = PartitionState(token=tok.label, vehicle_id=vehicle_id, kind=kind)
        fresh_done = False
        while True:
            if state.pass_until is None:
                if fresh_done:
                    break
                hi = self._until_us
                lo = self._since_us
                if state.watermark is not None:
                    if state.watermark >= hi:
                        break  # nothing newer than the watermark was asked for
                    from_watermark = state.watermark - self._overlap_us
                    lo = from_watermark if lo is None else max(lo, from_watermark)
                if lo is not None and lo > hi:
                    break
                state = attrs.evolve(
                    state,
                    pass_until=hi,
                    pass_since=lo,
                    cursor=None,
                    pass_tail_keys=(),
                    boundary_keys=(),
                    pass_tail_open=True,
                )
                fresh_done = True
            state = await self._run_pass(tok, state)

    async def _run_pass(self, tok: _Token, state: PartitionState) -> PartitionState:
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
            raise _Failed(exc, 0) from exc
        if state.cursor is not None:
            try:
                paginator = paginator.resume(state.cursor)
            except PaginationError as exc:  # a saved cursor of another server
                raise _Failed(exc, 0) from exc
        report = self.report
        new_watermark = min(state.pass_until, self._run_start_us)
        tail_floor = new_watermark - self._overlap_us
        tail = list(state.pass_tail_keys)
        tail_open = state.pass_tail_open
        previous_tail = frozenset(state.tail_keys)
        # Keys are t:<microseconds>, u:<url> or h:<hash>: a timestamped record's key can only
        # equal a canonical t: key, so an interval of microseconds stands for a key set.
        tail_us = time_key_micros(previous_tail)
        tail_span = (min(tail_us), max(tail_us)) if tail_us else None
        # the previous page's keys (a set, or LazyKeys from the fast path below) and the
        # oldest microsecond among its t: keys (None: it has none)
        boundary_keys = frozenset(state.boundary_keys)
        prev_keys: AbstractSet[str] | LazyKeys = boundary_keys
        prev_min: int | None = min(time_key_micros(boundary_keys), default=None)
        url: str | None = None  # None: the paginator's own start (the first page or the cursor)
        visited: set[str] = set()  # next links followed in this pass: a cycle is an error, not a hang
        while True:
            page, next_url = await self._fetch(tok, paginator, url)
            items = page.items
            boundary: tuple[str, ...] | LazyKeys
            records: tuple[Any, ...]
            dts = page_instants(items)
            span = (to_micros(dts[0]), to_micros(dts[-1])) if dts else None  # newest, oldest
            if dts is not None and _clear_of(span, prev_min, tail_span):
                # The usual page: every record keyed by its URL's instant, strictly newest
                # first, all older than the previous page's and outside the previous run's
                # tail: distinct keys that the loop below would all keep. Same outcome, and
                # no key is formatted but the overlap's (the state's boundary keys are lazy).
                records = tuple(items)
                if tail_open:  # the keys of the records down to the first one older than the overlap
                    for dt in dts:
                        us = to_micros(dt)
                        if us < tail_floor:
                            tail_open = False
                            break
                        tail.append(f"t:{us}")
                boundary = prev_keys = LazyKeys(dts)
                prev_min = span[1] if span else None
            else:
                keys, times = page_keys(items, kind)
                if isinstance(prev_keys, LazyKeys):
                    prev_keys = frozenset(prev_keys.keys())
                fresh: list[Any] = []
                page_keys_: dict[str, None] = {}
                prev_min = None
                for record, key, ts in zip(items, keys, times, strict=True):
                    if key in prev_keys or key in page_keys_:
                        report.boundary_duplicates += 1
                        continue
                    page_keys_[key] = None
                    if ts is not None and (prev_min is None or ts < prev_min):
                        prev_min = ts
                    if tail_open:
                        if ts is not None and ts < tail_floor:
                            tail_open = False
                        else:
                            tail.append(key)
                    if key in previous_tail:
                        report.overlap_duplicates += 1
                        continue
                    fresh.append(record)
                records = tuple(fresh)
                boundary = tuple(page_keys_)
                prev_keys = page_keys_.keys()
            last = page.next_url is None
            if last:
                keep_old = state.watermark is not None and state.watermark > new_watermark
                state = PartitionState(
                    token=state.token,
                    vehicle_id=state.vehicle_id,
                    kind=kind,
                    watermark=state.watermark if keep_old else new_watermark,
                    tail_keys=state.tail_keys if keep_old else tuple(tail),
                    records=state.records + len(records),
                    passes=state.passes + 1,
                )
            else:
                link = page.next_url
                assert link is not None  # not the last page
                if link == state.cursor or link in visited:
                    raise _Failed(PaginationError("pagination loop: the next page link repeats a page of this pass"), 1)
                visited.add(link)
                state = PartitionState(
                    token=state.token,
                    vehicle_id=state.vehicle_id,
                    kind=kind,
                    watermark=state.watermark,
                    tail_keys=state.tail_keys,
                    cursor=page.next_url,
                    pass_until=state.pass_until,
                    pass_since=state.pass_since,
                    pass_tail_keys=tuple(tail),
                    pass_tail_open=tail_open,
                    boundary_keys=boundary if isinstance(boundary, tuple) else (),
                    records=state.records + len(records),
                    passes=state.passes,
                )
                if isinstance(boundary, LazyKeys):
                    with_lazy_boundary(state, boundary)
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

    async def _emit(self, batch: HarvestBatch) -> None:
        self._buffered += len(batch.records)
        if self._buffered > self.report.max_buffered_records:
            self.report.max_buffered_records = self._buffered
        await self._queue.put(batch)
        size = self._queue.qsize()
        if size > self.report.max_queue_size:
            self.report.max_queue_size = size

    async def _fetch(
        self, tok: _Token, paginator: Paginator[Any], url: str | None = None
    ) -> tuple[Page[Any], str | None]:
        """One page (the paginator's first, or ``url`` as the previous page linked it) and the
        next page's URL, within the token's budget and the global cap, with the harvester's retries."""
        attempt = 0
        while True:
            if tok.dead is not None:
                raise _Failed(tok.dead, attempt)
            await tok.budget.acquire()
            attempt += 1
            try:
                if tok.dead is not None:  # it died while this request waited for the budget
                    raise _Failed(tok.dead, attempt - 1)
                async with self._global:
                    self.report.requests += 1
                    tok.report.requests += 1
                    page = await paginator.fetch_page(url)
                    return page, page.next_url
            except RateLimitError as exc:
                # Retry-After above the client's cap: park this token, others continue
                attempt -= 1
                self._own_retries["429-parked"] += 1
                tok.budget.park(exc.retry_after if exc.retry_after is not None else 60.0)
                observe.token_parked(tok.label, exc.retry_after, tok.budget.abandoned)
                continue
            except UnauthorizedError as exc:
                tok.dead = exc
                raise _Failed(exc, attempt) from exc
            except (TransportError, ServerError, ResponseDecodeError, PaginationError) as exc:
                retryable = not isinstance(exc, ResponseDecodeError) or exc.transient
                if not retryable or attempt >= self.max_attempts:
                    raise _Failed(exc, attempt) from exc
                self._own_retries[f"harvester:{_reason(exc)}"] += 1
                await self._sleep(min(30.0, self.retry_backoff * 2 ** (attempt - 1)))
                continue
            except (APIError, ValueError) as exc:  # 400/403/404/409/422..., or an invalid ID
                raise _Failed(exc, attempt) from exc
            finally:
                tok.budget.release(tok.client.rate_limit)


def _clear_of(span: tuple[int, int] | None, prev_min: int | None, tail_span: tuple[int, int] | None) -> bool:
    """Whether a page's (newest, oldest) microseconds (None: an empty page) are older than
    ``prev_min`` and outside ``tail_span`` (None: nothing to be clear of)."""
    if span is None:
        return True
    newest, oldest = span
    if prev_min is not None and newest >= prev_min:
        return False
    return tail_span is None or newest < tail_span[0] or oldest > tail_span[1]


def _reason(exc: BaseException) -> str:
    if isinstance(exc, APIError) and exc.status is not None:
        return str(exc.status)
    return type(exc).__name__
