"""The bulk log harvester: concurrent, budget-aware, resumable, exactly once with a sink.

Structure of a run::

    feeder:     reads the credentials lazily, one token more whenever a worker is idle
    ready:      a FIFO of tokens that have work and may send now (each at most once in it)
    workers:    ``concurrency`` tasks for all tokens; each takes the next ready token, re-queues
                it at the tail when it can take more (round robin: fair shares), and runs one
                slice of work: read more of the token's vehicle IDs, or a partition's pages
                for as long as the token's budget admits them at once
                (budget.try_acquire -> GET one page -> de-duplicate -> bounded output queue)
    budget:     a token that may not send now is not waited for: its partition goes back to the
                front of its own queue and the token returns to ``ready`` by a timer (spent,
                parked) or when its request in flight ends; parked tokens hold no worker
    consumer:   run(sink): write batches, sink.commit() (fsync), state.commit(states + checkpoint)
                or ``async for batch in harvester`` (state committed when the next batch is asked for)

Choosing the next request is O(1) in the number of tokens and partitions: a deque pop, a
re-queue, a timer (a heap push) -- nothing scans the tokens.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import attrs

from .. import _observe as observe
from .._errors import AuthError, EvEnergyError, PaginationError, UnauthorizedError
from .._sansio import check_int, check_seconds
from ._budget import NotReady, Parked, TokenBudget
from ._credentials import Credentials, CredentialsFile, check_credentials, check_label, labelled
from ._fetcher import Fetcher, FetchFailed, Lane, credential_refused
from ._pass import Bounds, PagePass, open_pass, rebase_cursor, restart_until
from ._report import HarvestReport, ParkedWork, TokenReport, VehicleFailure
from ._sinks import JsonlSink, Sink, TransactionalSink, jsonl_sink_file
from ._state import MemoryStateStore, SQLiteStateStore, StateStore
from ._types import (
    DEFAULT_KINDS,
    HarvestBatch,
    InstantPage,
    LogKind,
    PartitionState,
    RecordFormat,
    from_micros,
    to_micros,
)
from ._vehicles import Listing, VehicleSource, list_vehicles, shard_of, source_ids, sources_by_label

if TYPE_CHECKING:
    from .._auth import Credential
    from .._client import ClientStats, EvEnergyClient
    from .._pagination import Paginator
    from ._planner import HarvestPlan

__all__ = ["Harvester", "VehicleSource", "shard_of"]

_END: Any = object()
_KIND_VALUES: dict[LogKind, str] = {kind: kind.value for kind in LogKind}


class _Token:
    """One token of the run: its lane, its report and its scheduling state (a few hundred bytes)."""

    __slots__ = (
        "blocked",
        "finished",
        "id_iter",
        "in_flight",
        "input_exhausted",
        "label",
        "lane",
        "listing",
        "parts",
        "pending",
        "planned",
        "queued",
        "reading",
        "report",
        "source",
        "timer",
    )

    def __init__(self, label: str, lane: Lane, report: TokenReport, source: VehicleSource | None) -> None:
        self.label = label
        self.lane = lane
        self.report = report
        self.source = source  # None: list the token's vehicles
        self.pending: set[tuple[str, LogKind]] = set()
        self.input_exhausted = False
        self.parts: deque[_Part] = deque()  # taken next: suspended partitions first, then new ones
        self.planned: deque[str] | None = None  # IDs a plan() read, handed out first
        self.id_iter: AsyncIterator[str] | None = None
        self.listing: Listing | None = None
        self.in_flight = 0  # slices running (reading the input counts)
        self.reading = False
        self.queued = False  # in the ready queue
        self.blocked = False  # its budget waits for one of its requests in flight
        self.timer: asyncio.TimerHandle | None = None
        self.finished = False

    @property
    def client(self) -> EvEnergyClient:
        return self.lane.client

    @property
    def budget(self) -> TokenBudget:
        return self.lane.budget


class _Part:
    """A partition handed to workers: its state and, while a pass runs, where the pass is."""

    __slots__ = ("fresh_done", "kind", "observer", "paginator", "state", "url", "vehicle_id")

    def __init__(self, vehicle_id: str, kind: LogKind) -> None:
        self.vehicle_id = vehicle_id
        self.kind = kind
        self.state: PartitionState | None = None  # loaded on the first slice
        self.fresh_done = False
        self.paginator: Paginator[Any] | None = None  # a pass is running
        self.url: str | None = None
        self.observer: PagePass | None = None


class _Written:
    """A batch the sink has taken (written, not yet committed): what its commit still needs."""

    __slots__ = ("count", "kind", "state", "token")

    def __init__(self, batch: HarvestBatch) -> None:
        self.token = batch.token
        self.kind = batch.kind
        self.state = batch.state
        self.count = len(batch.records)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        # as the client's list operations: a naive time read as UTC would move a window by the
        # local offset, and a first run would never fetch what lies in between
        raise ValueError(f"{name} must be timezone-aware, e.g. datetime(2026, 11, 1, tzinfo=UTC); got {value!r}")
    return value


class Harvester:
    """Harvest vehicle logs from one or several clients (one per user token).

    ``clients``: a client, a sequence of clients (labelled ``token0``, ``token1``... in the
    report) or a mapping label -> client. ``credentials``: many user credentials over one
    client's session and connection pool -- ``Harvester(client, credentials=...)`` with a
    mapping label -> credential, or an iterable or async iterable of credentials,
    ``(label, credential)`` pairs or :class:`CredentialEntry` records, read lazily (one more
    whenever a worker would be idle); the harvester makes a ``client.with_auth(credential)``
    view for each, so the connections stay within the client's ``max_connections`` however
    many tokens there are. The state is keyed by (vehicle, kind), whichever
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

    Concurrency: ``concurrency`` workers serve every token, at most ``per_token_concurrency``
    of them on one token; tokens take turns (round robin), and a token whose budget is
    spent or parked waits without holding a worker. Pacing: a token never sends more requests than its
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

    Group commit (``run()``): the batches of up to ``commit_batches`` pages are written, the
    sink made durable once (one fsync per file for :class:`JsonlSink`), then their states
    committed in one transaction; a group waits for more batches while its first one is
    younger than ``commit_interval`` seconds. A crash loses at most the uncommitted groups,
    which the next run fetches again (never twice in the output).
    """

    def __init__(
        self,
        clients: EvEnergyClient | Sequence[EvEnergyClient] | Mapping[str, EvEnergyClient],
        *,
        credentials: Credentials | None = None,
        vehicles: VehicleSource | Mapping[str, VehicleSource] | None = None,
        kinds: Iterable[LogKind | str] | str = DEFAULT_KINDS,
        since: datetime | None = None,
        until: datetime | None = None,
        state: StateStore | str | os.PathLike[str] | None = None,
        page_size: int = 100,
        concurrency: int = 64,
        per_token_concurrency: int = 8,
        queue_size: int | None = None,
        overlap: timedelta | float = timedelta(minutes=10),
        max_park: float | None = 3600.0,
        max_attempts: int = 3,
        retry_backoff: float = 0.5,
        budget_reserve: int = 0,
        budget_window: float = 3600.0,
        shard: tuple[int, int] | None = None,
        commit_batches: int = 64,
        unreachable_after: float | None = 30.0,
        commit_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        from .._client import EvEnergyClient

        self._base: EvEnergyClient | None = None
        self._stream: AsyncIterator[tuple[str, Credential | str]] | None = None
        self._vehicles_by_label: Mapping[str, VehicleSource] | None = None
        named: dict[str, EvEnergyClient] = {}
        sources: dict[str, VehicleSource | None] = {}
        if credentials is not None:
            if not isinstance(clients, EvEnergyClient):
                raise TypeError("with credentials=, give one client: its session and pool carry every token")
            check_credentials(credentials)
            if isinstance(credentials, Mapping):
                if not credentials:
                    raise ValueError("no credentials given")
                sources_by_label([check_label(str(label)) for label in credentials], vehicles)  # validates
            elif vehicles is not None and not isinstance(vehicles, Mapping):
                raise ValueError("with credentials=, give vehicles as a mapping label -> vehicle IDs (or None)")
            self._base = clients
            self._stream = labelled(credentials)
            self._vehicles_by_label = vehicles if isinstance(vehicles, Mapping) else None
        else:
            if isinstance(clients, EvEnergyClient):
                named = {"default": clients}
            elif isinstance(clients, Mapping):
                named = {check_label(str(k)): v for k, v in clients.items()}
            else:
                named = {f"token{i}": c for i, c in enumerate(clients)}
            if not named:
                raise ValueError("no clients given")
            sources = sources_by_label(named, vehicles)
        # every setting checked here, by type and range: a wrong one is a clear error now, not a
        # comparison failing deep in a run (or a NaN that never compares at all)
        check_int("page_size", page_size, 1, 100)
        check_int("concurrency", concurrency, 1)
        check_int("per_token_concurrency", per_token_concurrency, 1)
        check_int("max_attempts", max_attempts, 1)
        check_int("budget_reserve", budget_reserve, 0)
        check_int("commit_batches", commit_batches, 1)
        if queue_size is not None:
            check_int("queue_size", queue_size, 1)
        if shard is not None:
            if isinstance(credentials, CredentialsFile):
                raise ValueError(
                    "shard= does not split a CredentialsFile: every shard would refresh every token, and "
                    "each refresh kills the refresh token the others hold; give each worker its own file"
                )
            if not isinstance(shard, tuple | list) or len(shard) != 2:
                raise TypeError("shard must be a pair (index, count)")
            check_int("shard count", shard[1], 1)
            check_int("shard index", shard[0], 0, shard[1] - 1)
            shard = (shard[0], shard[1])
        if not isinstance(overlap, timedelta):
            overlap = timedelta(seconds=check_seconds("overlap", overlap))  # seconds, as the CLI takes it
        elif overlap < timedelta(0):
            raise ValueError("overlap must be >= 0")
        max_park = math.inf if max_park is None else check_seconds("max_park", max_park, infinite=True)  # None: no limit
        retry_backoff = check_seconds("retry_backoff", retry_backoff)
        budget_window = check_seconds("budget_window", budget_window, positive=True)
        commit_interval = check_seconds("commit_interval", commit_interval)
        if unreachable_after is not None:
            try:
                unreachable_after = check_seconds("unreachable_after", unreachable_after, positive=True, infinite=True)
            except ValueError:
                raise ValueError("unreachable_after must be > 0 seconds (or None: never give up)") from None
        if isinstance(kinds, str | LogKind) or hasattr(kinds, "__iter__"):
            self.kinds = LogKind.parse_list(kinds)
        else:
            raise TypeError(f"kinds must be a kind, a comma-separated string or an iterable of kinds, not {type(kinds).__name__}")
        self.since = _aware(since, "since")
        self.until = _aware(until, "until")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValueError(f"until ({self.until.isoformat()}) is before since ({self.since.isoformat()})")
        self.page_size = page_size
        self.concurrency = concurrency
        self.per_token_concurrency = per_token_concurrency
        self._queue_size_given = queue_size is not None
        self.queue_size = queue_size if queue_size is not None else max(4, 2 * concurrency)
        self.overlap = overlap
        self.max_park = max_park
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff
        self.budget_window = budget_window
        self.shard = shard
        self.commit_batches = commit_batches
        self.commit_interval = commit_interval
        self._clock = clock
        self._now = now or (lambda: datetime.now(UTC))
        self._sleep = sleep

        self._state: StateStore = state if isinstance(state, StateStore) else MemoryStateStore()
        self._owned_state: SQLiteStateStore | None = None
        if state is not None and not isinstance(state, StateStore):
            if not isinstance(state, str | os.PathLike):
                raise TypeError(f"state must be a StateStore, a SQLite file's path or None, not {type(state).__name__}")
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
        self._budget_reserve = budget_reserve
        self._tokens: dict[str, _Token] = {}  # admitted and not finished
        self._backlog: list[_Token] = []  # admitted, not yet handed to the workers
        self._abandoned: list[_Token] = []  # finished with work left (budget parked beyond max_park)
        self._live = 0
        self._stream_done = self._stream is None
        self._stats_clients: list[EvEnergyClient] = [self._base] if self._base is not None else list(named.values())
        self._planned_ids: dict[str, tuple[list[str], bool]] = {}  # label -> (IDs read, all of them)
        self._ready: asyncio.Queue[_Token | None] = asyncio.Queue()
        self._hungry = asyncio.Event()
        self._idle = 0
        self._all_done = False
        self.report = HarvestReport(
            kinds=self.kinds,
            since=self.since,
            until=self.until or datetime.now(UTC),  # set again below
            started_at=datetime.now(UTC),
            queue_capacity=self.queue_size,
            tokens={},
        )
        self._prepared = False
        for label, client in named.items():
            self._admit(label, client, sources[label])

        self._entered = False
        self._started = False
        self._finished = False
        self._mode: str | None = None
        self._record_format: RecordFormat = "typed"  # what run()'s sink declares
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.queue_size)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._claimed: set[str] = set()
        self._buffered = 0
        self._last: HarvestBatch | None = None
        self._stats_base: list[tuple[ClientStats, int, int, dict[str, int]]] = []
        self._t0 = 0.0
        start = self._now()
        self.report.until = self.until or start
        self.report.started_at = start

    def __repr__(self) -> str:
        labels = list(self.report.tokens)
        shown = ", ".join(labels[:10]) + (f", ... ({len(labels)} in all)" if len(labels) > 10 else "")
        more = "" if self._stream_done else " + credentials not read yet"
        return f"<Harvester tokens=[{shown}]{more} kinds={[k.value for k in self.kinds]}>"

    def _admit(
        self, label: str, client: EvEnergyClient | Credential | str, source: VehicleSource | None = None
    ) -> _Token:
        """A token joins the run: its lane (a ``with_auth`` view of the base client), budget, report."""
        from .._client import EvEnergyClient

        if label in self.report.tokens:
            raise ValueError(f"two credentials are labelled {label!r}")
        if not isinstance(client, EvEnergyClient):
            assert self._base is not None
            client = self._base.with_auth(client)
            if self._vehicles_by_label is not None:
                source = self._vehicles_by_label.get(label, ())
        budget = TokenBudget(
            window=self.budget_window,
            reserve=self._budget_reserve,
            max_park=self.max_park,
            clock=self._clock,
            wall=self._now,
        )
        if self._prepared:  # a token read after the start: its client may know its budget
            budget.seed(client.rate_limit)
        tok = _Token(label, Lane(label, client, budget), TokenReport(token=label), source)
        self.report.tokens[label] = tok.report
        self._tokens[label] = tok
        self._backlog.append(tok)
        self._live += 1
        return tok

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
        for tok in self._tokens.values():
            tok.budget.seed(tok.client.rate_limit)  # a budget the client knows needs no probe
        for client in self._stats_clients:
            stats = client.stats
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
        committed together with the sink's checkpoint; a :class:`TransactionalSink` that shares
        the state's database commits a group and its states in one transaction instead.
        Returns the final report. A sink that was not open (``run(JsonlSink("out"))``, a
        directory) is opened here and closed again when the run ends, however it ends; one you
        opened (``async with``) stays open for you.
        """
        if self._mode is not None:
            raise RuntimeError("this Harvester has already been run or iterated")
        owned: Sink | None = None
        if not isinstance(sink, Sink):
            sink = JsonlSink(sink)
        if getattr(sink, "opened", True) is False:
            owned = sink  # opened by its first use below, closed at the end
        if isinstance(sink, JsonlSink) and isinstance(self._state, SQLiteStateStore):
            clash = jsonl_sink_file(sink.directory, self._state.path)
            if clash is not None:  # refused before anything is written
                raise ValueError(
                    f"the state file {self._state.path} is the JSONL output's own file {clash}: the "
                    "sink would append to it or cut it back; keep the state elsewhere (the file there "
                    "now holds no records)"
                )
        self._mode = "run"
        record_format: RecordFormat = getattr(sink, "record_format", "typed")
        if record_format not in ("typed", "wire", "json"):
            raise ValueError(f"{sink!r}: record_format must be 'typed', 'wire' or 'json', not {record_format!r}")
        self._record_format = record_format
        try:
            # the first requests go out while the sink gets ready (its files, lock and checkpoint
            # take a few milliseconds: a round trip's worth); nothing is written before that
            self._start()
            try:
                checkpoint = await self._state.sink_checkpoint(sink.sink_id)
                await sink.recover(checkpoint)
                if checkpoint is None:
                    # pin the sink's starting point before the first write: a crash before the
                    # first state commit must roll back to it, not keep what was written
                    initial = await sink.commit()
                    if initial is not None:
                        await self._state.commit([], sink_id=sink.sink_id, checkpoint=initial)
            except BaseException:
                await self._stop()  # an output that cannot be used: no harvest into it
                raise
            atomic = sink if isinstance(sink, TransactionalSink) and sink.shares_transaction(self._state) else None
            done = False
            while not done:
                # a transactional sink takes whole batches with their states; others get each
                # batch as it comes (written, then committed with its group)
                batches, done = await self._next_group(None if atomic is not None else sink.write)
                if batches and atomic is not None:  # records and states in one transaction
                    whole = cast("list[HarvestBatch]", batches)  # nothing was written: no _Written
                    await atomic.commit_with_state(whole, [b.state for b in whole])
                    self._delivered(whole)
                elif batches:
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

    async def _next_group(
        self, write: Callable[[HarvestBatch], Awaitable[None]] | None
    ) -> tuple[list[HarvestBatch | _Written], bool]:
        """The next batches for ``run()`` to commit together, each given to ``write`` (if any) as it is
        taken and then kept as a :class:`_Written` (the sink holds the serialized records, the
        group only their state and count), and whether the stream ended. Up to ``commit_batches``; while its first batch is younger than
        ``commit_interval`` the group waits for more (fewer, larger commits: fewer fsyncs and
        state rows per record), and it is closed at once when the stream ends."""
        queue = self._queue
        item = await queue.get()
        if item is _END:
            return [], True
        batches: list[HarvestBatch | _Written] = [item]
        if write is not None and item.records:
            await write(item)
            batches[0] = _Written(item)
        limit = self.commit_batches
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.commit_interval
        while len(batches) < limit:
            if not queue.empty():
                item = queue.get_nowait()
            elif loop.time() >= deadline:
                break
            else:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await queue.get()
                except TimeoutError:
                    break
            if item is _END:
                return batches, True
            if write is not None and item.records:
                await write(item)
                item = _Written(item)
            batches.append(item)
        return batches, False

    def __aiter__(self) -> AsyncIterator[HarvestBatch]:
        return self

    async def __anext__(self) -> HarvestBatch:
        if self._mode not in (None, "iterate"):
            raise RuntimeError("this Harvester is being run with a sink")
        if self._mode is None and not self._queue_size_given:
            # one batch at a time: half the fetchers' worth of batches keeps them all busy
            tokens = len(self._tokens) if self._stream_done else self.concurrency
            fetchers = min(self.concurrency, self.per_token_concurrency * max(1, tokens))
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

    def _delivered(self, batches: Sequence[HarvestBatch | _Written]) -> None:
        report = self.report
        report.commits += 1
        records = report.records
        for batch in batches:
            n = batch.count if batch.__class__ is _Written else len(batch.records)  # type: ignore[union-attr]
            report.batches += 1
            kind = _KIND_VALUES[batch.kind]
            records[kind] = records.get(kind, 0) + n
            self.report.tokens[batch.token].records += n
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
        self._fetcher.rebase([tok.lane for tok in self._tokens.values()])
        self.report.requests = 0
        for tok in self._tokens.values():
            tok.report.requests = 0
        self._stats_base = [
            (stats, stats.requests, stats.retries, dict(stats.retry_reasons)) for stats, *_ in self._stats_base
        ]


    # -- progress and the report --------------------------------------------------------

    def progress(self) -> HarvestReport:
        """The live report, with counters refreshed (call it from a progress display)."""
        self._refresh()
        return self.report

    @property
    def parked_tokens(self) -> list[str]:
        return [t.label for t in self._tokens.values() if t.budget.parked]

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
        for tok in self._tokens.values():
            _refresh_token(tok)
        report.max_buffered_records = max(report.max_buffered_records, self._buffered)

    def _finalize(self) -> None:
        self._refresh()
        report = self.report
        report.finished_at = self._now()
        report.parked = []
        parked = 0
        for tok in [*self._abandoned, *self._tokens.values()]:
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
        if self._stream is not None and not self._stream_done:
            async for label, credential in self._stream:  # a plan covers every token
                self._admit(label, credential)
            self._stream_done = True
        for tok in list(self._tokens.values()):
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
            listing = [f for f in self.report.failures[failures_before:] if f.vehicle_id is None]
            inputs.append(
                PlanInput(
                    lane=tok.lane,
                    vehicle_ids=tuple(ids),
                    list_requests=tok.lane.requests - before,
                    parked=parked or tok.budget.abandoned,
                    listing_failure=listing[0] if listing else None,
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
                for i in range(self.concurrency):
                    tg.create_task(self._work(), name=f"evenergy-harvest-worker-{i}")
                tg.create_task(self._feed(), name="evenergy-harvest-feeder")
        except Exception as exc:  # the API gone, a store failure or a bug: surfaces from run()/__anext__
            self._error = _one_error(exc)
        finally:
            for tok in self._tokens.values():
                if tok.timer is not None:
                    tok.timer.cancel()
                    tok.timer = None
        await self._queue.put(_END)

    async def _feed(self) -> None:
        """Hand the admitted tokens to the workers, then read the credentials lazily: one
        more token whenever a worker is idle with nothing ready."""
        backlog, self._backlog = self._backlog, []
        for tok in backlog:
            self._planned(tok)
            self._schedule(tok)
        if self._stream is not None and not self._stream_done:
            ready = self._ready
            async for label, credential in self._stream:
                while self._idle <= ready.qsize():  # nobody is waiting for work
                    self._hungry.clear()
                    await self._hungry.wait()
                tok = self._admit(label, credential)
                self._backlog.clear()
                self._schedule(tok)
            self._stream_done = True
            if self._vehicles_by_label is not None:
                for label in self._vehicles_by_label:
                    if label not in self.report.tokens:
                        self.report.failures.append(
                            VehicleFailure(
                                token=label,
                                vehicle_id=None,
                                kind=None,
                                error="ValueError",
                                status=None,
                                message="vehicles were given for this label, but no credential has it",
                                attempts=0,
                            )
                        )
        self._stream_done = True
        self._check_done()

    def _planned(self, tok: _Token) -> None:
        planned, complete = self._planned_ids.pop(tok.label, ([], False))
        if planned:
            tok.planned = deque(planned)
        if complete:
            tok.source = ()  # nothing beyond the planned IDs

    def _schedule(self, tok: _Token) -> None:
        """Put ``tok`` in the ready queue if it has work it may start now (O(1))."""
        if tok.queued or tok.timer is not None or tok.blocked or tok.finished:
            return
        if tok.budget.abandoned or (not tok.parts and (tok.input_exhausted or tok.reading)):
            if tok.in_flight == 0:
                self._finish(tok)
            return
        if tok.in_flight >= (self.per_token_concurrency if tok.budget.remaining is not None else 1):
            return  # the end of one of its slices schedules it again (an unknown budget: one probe)
        tok.queued = True
        self._ready.put_nowait(tok)

    def _wake(self, tok: _Token) -> None:
        tok.timer = None
        self._schedule(tok)

    def _finish(self, tok: _Token) -> None:
        tok.finished = True
        _refresh_token(tok)
        del self._tokens[tok.label]
        if tok.budget.abandoned:
            self._abandoned.append(tok)
        self._live -= 1
        self._check_done()

    def _check_done(self) -> None:
        if self._live == 0 and self._stream_done and not self._all_done:
            self._all_done = True
            for _ in range(self.concurrency):
                self._ready.put_nowait(None)

    async def _work(self) -> None:
        """A worker: takes the next ready token and runs one slice of its work."""
        ready = self._ready
        loop = asyncio.get_running_loop()
        slice_of = self._slice
        while True:
            if ready.empty():
                self._idle += 1
                self._hungry.set()
                try:
                    tok = await ready.get()
                finally:
                    self._idle -= 1
            else:
                tok = ready.get_nowait()
            if tok is None:
                return
            tok.queued = False
            part: _Part | None = None
            if tok.parts and not tok.budget.abandoned:
                part = tok.parts.popleft()
            elif tok.input_exhausted or tok.reading or tok.budget.abandoned:
                self._schedule(tok)
                continue
            tok.in_flight += 1
            if part is None:
                tok.reading = True
            self._schedule(tok)  # another worker may take its next partition meanwhile
            try:
                delay = await (self._read_input(tok) if part is None else slice_of(tok, part))
            finally:
                tok.in_flight -= 1
                if part is None:
                    tok.reading = False
            if delay == math.inf:
                tok.blocked = True  # until one of its requests in flight ends
            else:
                tok.blocked = False
                if delay > 0 and tok.timer is None:
                    tok.timer = loop.call_later(delay, self._wake, tok)
            self._schedule(tok)

    async def _read_input(self, tok: _Token) -> float:
        """Read more of the token's vehicle IDs into partitions; the budget's delay (0: none)."""
        try:
            ids = await self._next_ids(tok)
        except NotReady as not_ready:
            return not_ready.delay
        except Parked:
            return 0.0
        except FetchFailed as failed:
            self._record_failure(tok, None, None, failed)
            tok.input_exhausted = True
            return 0.0
        claimed = self._claimed
        kinds = self.kinds
        parts: list[_Part] = []
        for vehicle_id in ids:
            if vehicle_id in claimed:
                continue
            claimed.add(vehicle_id)
            parts.extend(_Part(vehicle_id, kind) for kind in kinds)
        load_many = getattr(self._state, "load_many", None)
        if parts and load_many is not None:
            # their committed states in one round trip (a thread hop or a query per
            # partition otherwise); a failing store surfaces from run(), as a load would
            states = await load_many([(part.vehicle_id, part.kind) for part in parts])
            for part in parts:
                part.state = _taken(states.get((part.vehicle_id, part.kind.value)), tok, part)
        report = tok.report
        for part in parts:
            if part.kind is kinds[0]:
                report.vehicles += 1
                report.partitions += len(kinds)
                self.report.partitions_total += len(kinds)
            tok.pending.add((part.vehicle_id, part.kind))
            tok.parts.append(part)
        return 0.0

    async def _next_ids(self, tok: _Token) -> list[str]:
        """The next few vehicle IDs of the token (sets ``input_exhausted`` at the end)."""
        want = self.per_token_concurrency
        out: list[str] = []
        planned = tok.planned
        if planned:
            while planned and len(out) < want:
                out.append(planned.popleft())
            return out
        if tok.source is None:  # the API's listing, a page at a time, never waiting for the budget
            if tok.listing is None:
                tok.listing = Listing(tok.lane)
            ids = await tok.listing.next_page(self._fetcher, tok.lane)
            tok.input_exhausted = tok.listing.done
            shard = self.shard
            return ids if shard is None else [v for v in ids if shard_of(v, shard[1]) == shard[0]]
        if tok.id_iter is None:
            tok.id_iter = source_ids(tok.source, _nothing(), self.shard)
        try:
            while len(out) < want:
                out.append(await anext(tok.id_iter))
        except StopAsyncIteration:
            tok.input_exhausted = True
        return out

    async def _vehicle_ids(self, tok: _Token) -> AsyncIterator[str]:
        """The token's vehicle IDs, sharded, read lazily (for a plan)."""
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

    async def _slice(self, tok: _Token, part: _Part) -> float:
        """Run ``part`` for as long as the token's budget admits its pages at once; the delay
        until it may go on (0: it ended -- done, failed, or left for a later run)."""
        item = (part.vehicle_id, part.kind)
        try:
            delay = tok.budget.admits()
        except Parked:
            delay = 0.0  # raised again below, and observed
        if delay:  # not even a first page now: no span for an empty slice
            tok.parts.appendleft(part)
            return delay
        with observe.partition(tok.client._core.observer.tracing, tok.label, part.vehicle_id, part.kind.value) as scope:
            try:
                await self._advance(tok, part)
            except NotReady as not_ready:
                tok.parts.appendleft(part)  # first again when the token may send
                return not_ready.delay
            except Parked:
                scope.parked()
                return 0.0  # stays in tok.pending: reported as parked
            except FetchFailed as failed:
                self._end_pass(part)
                scope.failed(failed.error)
                tok.pending.discard(item)
                self._record_failure(tok, part.vehicle_id, part.kind, failed)
                return 0.0
            scope.done()
        tok.pending.discard(item)
        self.report.partitions_done += 1
        tok.report.partitions_done += 1
        return 0.0

    async def _advance(self, tok: _Token, part: _Part) -> None:
        """Harvest a partition from where it is: finish a pass a previous run left unfinished,
        then one fresh pass from the watermark (minus the overlap) or ``since`` up to
        ``until``. Raises ``NotReady`` (the partition keeps its place) when the budget does
        not admit the next page now."""
        if tok.lane.dead is not None:
            raise FetchFailed(tok.lane.dead, 0)
        state = part.state
        if state is None:  # not read with its token's other partitions (a store without load_many)
            state = part.state = _taken(await self._state.load(part.vehicle_id, part.kind), tok, part)
        fetch = self._fetcher.fetch
        lane = tok.lane
        while True:
            paginator = part.paginator
            observer = part.observer
            if paginator is None or observer is None:
                if state.pass_until is None:
                    if part.fresh_done:
                        return
                    opened = open_pass(state, self._bounds)
                    if opened is None:
                        return
                    state = part.state = opened
                    part.fresh_done = not opened.pass_backfill  # a backfill, then the usual pass
                paginator = part.paginator = self._paginator(tok, state)
                observer = part.observer = PagePass(state, self._bounds)
                part.url = None  # the paginator's own start (the first page or the cursor)
            page, next_url = await fetch(lane, paginator, part.url, wait=False)
            if not tok.queued:
                # the probe's answer made the budget known: the token's other partitions may
                # start now, not when this slice ends
                self._schedule(tok)
            try:
                records, state = observer.observe(page.items, page.next_url)
            except PaginationError as exc:
                raise FetchFailed(exc, 1) from exc
            part.state = state
            last = page.next_url is None
            await self._emit(
                HarvestBatch(
                    token=tok.label,
                    vehicle_id=state.vehicle_id,
                    kind=part.kind,
                    records=records,
                    page_url=page.url,
                    last=last,
                    state=state,
                    record_format=self._record_format,
                    instants=_instants(page.items, records),
                    own_vehicle_id=getattr(page.items, "own_vehicle_id", None),
                )
            )
            if last:
                self._end_pass(part)
            else:
                part.url = next_url

    def _paginator(self, tok: _Token, state: PartitionState) -> Paginator[Any]:
        """The paginator of the pass open in ``state`` (at its cursor when it was resumed)."""
        assert state.pass_until is not None
        until = state.pass_until
        for _ in range(2):
            try:
                paginator = state.kind.paginator(
                    tok.client,
                    state.vehicle_id,
                    since=from_micros(state.pass_since) if state.pass_since is not None else None,
                    until=from_micros(until),
                    page_size=self.page_size,
                    record_format=self._record_format,
                )
            except ValueError as exc:  # an invalid vehicle ID: refused before any request
                raise FetchFailed(exc, 0) from exc
            if state.cursor is None or until != state.pass_until:
                return paginator
            # a cursor saved under another base URL (host name, proxy) moves onto this one;
            # one that cannot restarts the pass below the last page it delivered
            cursor = rebase_cursor(state.cursor, paginator._start)
            if cursor is None:
                restart = restart_until(state)
                if restart is not None:
                    # (not below the pass's since: a record there was on the last page, and
                    # its boundary keys drop it)
                    until = restart if state.pass_since is None else max(restart, state.pass_since)
                    continue
                cursor = state.cursor  # refused below, as before
            try:
                return paginator.resume(cursor)
            except PaginationError as exc:  # a saved cursor of another server
                raise FetchFailed(exc, 0) from exc
        return paginator

    def _end_pass(self, part: _Part) -> None:
        observer = part.observer
        if observer is not None:
            self.report.boundary_duplicates += observer.boundary_duplicates
            self.report.overlap_duplicates += observer.overlap_duplicates
        part.paginator = part.observer = None
        part.url = None

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
                credentials_rejected=isinstance(error, UnauthorizedError)
                or (isinstance(error, AuthError) and credential_refused(error)),
            )
        )
        if vehicle_id is not None:
            self.report.partitions_failed += 1
            tok.report.partitions_failed += 1

    async def _emit(self, batch: HarvestBatch) -> None:
        self._buffered += len(batch.records)
        if self._buffered > self.report.max_buffered_records:
            self.report.max_buffered_records = self._buffered
        await self._queue.put(batch)
        size = self._queue.qsize()
        if size > self.report.max_queue_size:
            self.report.max_queue_size = size


def _taken(saved: PartitionState | None, tok: _Token, part: _Part) -> PartitionState:
    """The state a partition starts from: what the store had (now last fetched by ``tok``),
    or a fresh one."""
    if saved is None:
        return PartitionState(token=tok.label, vehicle_id=part.vehicle_id, kind=part.kind)
    if saved.token != tok.label:
        return attrs.evolve(saved, token=tok.label)  # "last fetched by"
    return saved


def _refresh_token(tok: _Token) -> None:
    report, budget = tok.report, tok.budget
    report.requests = tok.lane.requests
    report.budget_limit = budget.limit
    report.budget_remaining = budget.remaining
    report.parks = budget.parks
    report.parked_until = budget.parked_until_wall if budget.parked else None
    report.abandoned = budget.abandoned
    report.input_exhausted = tok.input_exhausted


async def _nothing() -> AsyncIterator[str]:
    return
    yield  # an async generator that yields nothing


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


def _instants(items: Any, records: tuple[Any, ...]) -> list[datetime] | None:
    """The URL instants of a page's records when every record of the page is new (the
    records are the page itself, in order) and the page came with them (:class:`InstantPage`)."""
    if items.__class__ is InstantPage and len(records) == len(items):
        instants: list[datetime] | None = items.url_instants
        return instants
    return None
