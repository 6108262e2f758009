"""PostgreSQL as the home of both the harvested records and the harvest state (asyncpg, optional).

Install with ``pip install 'evenergy_async[postgres]'``; asyncpg is imported only when a store
or sink is opened. Schema (version 2) in ``<schema>`` (default ``evenergy``)::

    schema_version (version integer PRIMARY KEY, applied_at timestamptz)
    status_logs, location_logs, command_logs, error_logs (
        vehicle_id text, ts timestamptz,      -- the kind's sampled_at / logged_at
        record jsonb,                         -- the record in wire form
        fetched_at timestamptz,               -- when the harvester handed its page to the sink
        PRIMARY KEY (vehicle_id, ts))
    untimed_logs (                            -- the rare record with no timestamp at all
        kind text, vehicle_id text,
        record_key text,                      -- 'u:<its URL>' or 'h:<hash of its content>'
        record jsonb, fetched_at timestamptz,
        PRIMARY KEY (kind, vehicle_id, record_key))
    partitions (vehicle_id text, kind text, token text, watermark bigint, tail_keys text[],
        cursor text, pass_until bigint, pass_since bigint, pass_tail_keys text[],
        pass_tail_open boolean, boundary_keys text[], records bigint, passes bigint,
        updated_at timestamptz,
        covered_since bigint,                 -- version 2; NULL: from the beginning
        pass_backfill boolean,                -- version 2; the running pass is a backfill
        PRIMARY KEY (vehicle_id, kind))
    sink_checkpoints (sink_id text PRIMARY KEY, checkpoint text, updated_at timestamptz)

Exactly once by construction: a :class:`PostgresSink` whose state store is a
:class:`PostgresStateStore` of the same database and schema is a :class:`TransactionalSink`:
the harvester hands it each group of batches with their partition states, and ONE transaction
loads the records (COPY straight into the table inside a savepoint; when a record is already
there, the savepoint is rolled back and they go through a temporary staging table and
``INSERT ... ON CONFLICT DO NOTHING``) and upserts the watermarks. A crash leaves both or neither; nothing is cut back.
With any other state store the sink commits the records on their own first; a crash before
the state commit then re-fetches them, and the primary keys drop them again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any, TypeVar

from ._sinks import SinkError
from ._types import (
    HarvestBatch,
    LogKind,
    PartitionState,
    RecordFormat,
    _untimed_key,
    page_times,
    to_micros,
)

if TYPE_CHECKING:
    from ._state import StateStore

__all__ = ["DatabaseError", "PostgresSink", "PostgresStateStore"]

T = TypeVar("T")

SCHEMA_VERSION = 2
DEFAULT_SCHEMA = "evenergy"
UNTIMED_TABLE = "untimed_logs"

_SCHEMES = ("postgresql://", "postgres://")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_PASSWORD_IN_NETLOC = re.compile(r"(://[^/?#@:]*:)[^/?#@]*@")
_PASSWORD_IN_QUERY = re.compile(r"([?&]password=)[^&#]*", re.IGNORECASE)


class DatabaseError(SinkError):
    """The database refused or failed (unreachable, authentication, permissions, a newer schema).

    The message never holds the DSN's password.
    """


def is_database_url(value: str | None) -> bool:
    """Whether ``value`` is a ``postgresql://`` (or ``postgres://``) URL."""
    return isinstance(value, str) and value.strip().lower().startswith(_SCHEMES)


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    out = _PASSWORD_IN_NETLOC.sub(r"\1***@", dsn)
    return _PASSWORD_IN_QUERY.sub(r"\1***", out)


def _password_of(dsn: str) -> str | None:
    found = _PASSWORD_IN_NETLOC.search(dsn)
    if found is not None:
        start = found.end(1)
        password = dsn[start : found.end() - 1]
        if password:
            return password
    query = _PASSWORD_IN_QUERY.search(dsn)
    if query is not None and query.end() > query.end(1):
        return dsn[query.end(1) : query.end()]
    return None


def _check_dsn(dsn: str) -> str:
    if not isinstance(dsn, str) or not is_database_url(dsn):
        shown = redact_dsn(dsn) if isinstance(dsn, str) else type(dsn).__name__
        raise ValueError(f"not a PostgreSQL URL (postgresql://user@host/db): {shown!r}")
    return dsn.strip()


def _check_schema(schema: str) -> str:
    if not isinstance(schema, str) or not _IDENT.fullmatch(schema):
        raise ValueError(f"schema must be a plain SQL identifier (letters, digits, _), got {schema!r}")
    return schema


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError as exc:
        raise ImportError(
            "PostgreSQL support needs asyncpg: pip install 'evenergy_async[postgres]'"
        ) from exc
    return asyncpg


def _table(kind: LogKind) -> str:
    return kind.endpoint  # status_logs...


def _migrations(s: str) -> dict[int, tuple[str, ...]]:
    """The DDL that brings the schema ``s`` (quoted) from version ``n - 1`` to ``n``."""
    log_tables = tuple(
        f"""CREATE TABLE {s}.{_table(kind)} (
            vehicle_id text NOT NULL,
            ts timestamptz NOT NULL,
            record jsonb NOT NULL,
            fetched_at timestamptz NOT NULL,
            PRIMARY KEY (vehicle_id, ts)
        )"""
        for kind in LogKind
    )
    return {
        1: (
            *log_tables,
            f"""CREATE TABLE {s}.{UNTIMED_TABLE} (
                kind text NOT NULL,
                vehicle_id text NOT NULL,
                record_key text NOT NULL,
                record jsonb NOT NULL,
                fetched_at timestamptz NOT NULL,
                PRIMARY KEY (kind, vehicle_id, record_key)
            )""",
            f"""CREATE TABLE {s}.partitions (
                vehicle_id text NOT NULL,
                kind text NOT NULL,
                token text NOT NULL,
                watermark bigint,
                tail_keys text[] NOT NULL DEFAULT '{{}}',
                cursor text,
                pass_until bigint,
                pass_since bigint,
                pass_tail_keys text[] NOT NULL DEFAULT '{{}}',
                pass_tail_open boolean NOT NULL DEFAULT true,
                boundary_keys text[] NOT NULL DEFAULT '{{}}',
                records bigint NOT NULL DEFAULT 0,
                passes bigint NOT NULL DEFAULT 0,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (vehicle_id, kind)
            )""",
            f"""CREATE TABLE {s}.sink_checkpoints (
                sink_id text PRIMARY KEY,
                checkpoint text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            )""",
        ),
        # what a partition's completed passes covered (a lower since backfills below it);
        # rows of version 1 count as covered from the beginning (NULL), as in the SQLite store
        2: (
            f"ALTER TABLE {s}.partitions ADD COLUMN covered_since bigint, "
            "ADD COLUMN pass_backfill boolean NOT NULL DEFAULT false",
        ),
    }


class _Connection:
    """One asyncpg connection, its schema made sure of, used by one operation at a time.

    Every operation runs in a task of its own that a cancellation of the caller does not
    stop: a transaction is committed or rolled back whole, never cut in the middle; the
    cancelled caller waits for it to end, then raises ``CancelledError``.
    """

    def __init__(self, dsn: str, schema: str, what: str) -> None:
        self.dsn = _check_dsn(dsn)
        self.schema = _check_schema(schema)
        self.q = f'"{self.schema}"'
        self.what = what
        self._password = _password_of(self.dsn)
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._inflight: set[asyncio.Task[Any]] = set()

    @property
    def redacted(self) -> str:
        return redact_dsn(self.dsn)

    def error(self, doing: str, exc: BaseException) -> DatabaseError:
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return DatabaseError(f"{self.what} ({self.redacted}, schema {self.schema}): {doing} failed: {text}")

    @property
    def opened(self) -> bool:
        return self._conn is not None

    async def open(self, setup: Any = None) -> None:
        if self._conn is not None:
            return
        asyncpg = _asyncpg()
        try:
            conn = await asyncpg.connect(self.dsn)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise self.error("connecting", exc) from exc
        except ValueError as exc:  # a malformed DSN (asyncpg's own parsing)
            raise self.error("parsing the DSN", exc) from None
        try:
            await ensure_schema(conn, self.schema)
            if setup is not None:
                await setup(conn)
        except DatabaseError:
            await conn.close()
            raise
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            await conn.close()
            raise self.error("creating the schema", exc) from exc
        self._conn = conn

    async def close(self) -> None:
        if self._inflight:
            await asyncio.wait(set(self._inflight))
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def run(self, doing: str, op: Any) -> Any:
        """``await op(conn)`` under the lock, in a task a cancellation does not interrupt."""
        if self._conn is None:
            raise RuntimeError(f"the {self.what} is not open (use `async with` or `await ....open()`)")
        task = asyncio.ensure_future(self._locked(doing, op))
        self._inflight.add(task)
        task.add_done_callback(self._done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # the operation ends first (a transaction is never cut in half; a read is short),
            # then the cancellation goes on: nothing is left running behind the caller
            if not task.done():
                await asyncio.wait([task])
            raise

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: its caller may have been cancelled meanwhile

    async def _locked(self, doing: str, op: Any) -> Any:
        asyncpg = _asyncpg()
        async with self._lock:
            try:
                return await op(self._conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
                raise self.error(doing, exc) from exc


def _lock_key(schema: str) -> int:
    digest = hashlib.blake2b(f"evenergy_async:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def ensure_schema(conn: Any, schema: str) -> None:
    """Create (or migrate) ``schema`` to :data:`SCHEMA_VERSION`; refuse a newer one.

    Concurrent first uses (N workers starting together) are serialised by an advisory lock.
    """
    q = f'"{_check_schema(schema)}"'
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _lock_key(schema))
        exists = await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema)
        if not exists:
            await conn.execute(f"CREATE SCHEMA {q}")
        if await conn.fetchval("SELECT to_regclass($1)", f"{q}.schema_version") is None:
            await conn.execute(
                f"CREATE TABLE {q}.schema_version (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now())"
            )
        current = await conn.fetchval(f"SELECT max(version) FROM {q}.schema_version") or 0
        if current > SCHEMA_VERSION:
            raise DatabaseError(
                f"schema {schema} is at version {current}, newer than this release's {SCHEMA_VERSION}: upgrade evenergy_async"
            )
        migrations = _migrations(q)
        for version in range(current + 1, SCHEMA_VERSION + 1):
            for ddl in migrations[version]:
                await conn.execute(ddl)
            await conn.execute(f"INSERT INTO {q}.schema_version (version) VALUES ($1)", version)


# -- state ---------------------------------------------------------------------------------

_STATE_COLUMNS = (
    "vehicle_id, kind, token, watermark, tail_keys, cursor, pass_until, pass_since, "
    "pass_tail_keys, pass_tail_open, boundary_keys, records, passes, covered_since, pass_backfill"
)


def _upsert_state_sql(q: str) -> str:
    return f"""
INSERT INTO {q}.partitions ({_STATE_COLUMNS}, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, now())
ON CONFLICT (vehicle_id, kind) DO UPDATE SET
    token = excluded.token, watermark = excluded.watermark, tail_keys = excluded.tail_keys,
    cursor = excluded.cursor, pass_until = excluded.pass_until, pass_since = excluded.pass_since,
    pass_tail_keys = excluded.pass_tail_keys, pass_tail_open = excluded.pass_tail_open,
    boundary_keys = excluded.boundary_keys, records = excluded.records, passes = excluded.passes,
    covered_since = excluded.covered_since, pass_backfill = excluded.pass_backfill,
    updated_at = excluded.updated_at
"""


def _state_rows(states: Iterable[PartitionState]) -> list[tuple[Any, ...]]:
    latest: dict[tuple[str, str], PartitionState] = {}
    for state in states:  # later states of a partition win
        latest[(state.vehicle_id, state.kind.value)] = state
    return [
        (
            s.vehicle_id,
            s.kind.value,
            s.token,
            s.watermark,
            list(s.tail_keys),
            s.cursor,
            s.pass_until,
            s.pass_since,
            list(s.pass_tail_keys),
            s.pass_tail_open,
            list(s.boundary_keys),
            s.records,
            s.passes,
            s.covered_since,
            s.pass_backfill,
        )
        for s in latest.values()
    ]


def _row_to_state(row: Any) -> PartitionState:
    return PartitionState(
        token=row["token"],
        vehicle_id=row["vehicle_id"],
        kind=LogKind(row["kind"]),
        watermark=row["watermark"],
        tail_keys=tuple(row["tail_keys"]),
        cursor=row["cursor"],
        pass_until=row["pass_until"],
        pass_since=row["pass_since"],
        pass_tail_keys=tuple(row["pass_tail_keys"]),
        pass_tail_open=row["pass_tail_open"],
        boundary_keys=tuple(row["boundary_keys"]),
        records=row["records"],
        passes=row["passes"],
        covered_since=row["covered_since"],
        pass_backfill=row["pass_backfill"],
    )


class PostgresStateStore:
    """A :class:`StateStore` in PostgreSQL: the ``partitions`` table, keyed by (vehicle, kind).

    Shared by any number of workers; each commits only the partitions it harvests (with
    ``shard=`` they never overlap). The token label is stored for information only.
    Use as ``async with PostgresStateStore(dsn) as state``.
    """

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA) -> None:
        self._db = _Connection(dsn, schema, "PostgreSQL state store")
        self.commits = 0

    def __repr__(self) -> str:
        return f"<PostgresStateStore {self._db.redacted} schema={self._db.schema!r}>"

    @property
    def schema(self) -> str:
        return self._db.schema

    @property
    def dsn(self) -> str:
        """The DSN with its password redacted (safe to print)."""
        return self._db.redacted

    def _same_database(self, dsn: str, schema: str) -> bool:
        return self._db.dsn == dsn and self._db.schema == schema

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> PostgresStateStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def load(self, vehicle_id: str, kind: LogKind) -> PartitionState | None:
        """The committed state of (``vehicle_id``, ``kind``), whichever token label committed it."""
        sql = f"SELECT {_STATE_COLUMNS} FROM {self._db.q}.partitions WHERE vehicle_id = $1 AND kind = $2"
        kind_value = LogKind(kind).value

        async def op(conn: Any) -> Any:
            return await conn.fetchrow(sql, vehicle_id, kind_value)

        row = await self._db.run("loading a partition", op)
        return _row_to_state(row) if row is not None else None

    async def load_many(self, keys: Sequence[tuple[str, LogKind]]) -> dict[tuple[str, str], PartitionState]:
        """The committed states of several partitions, in one query."""
        wanted = {(vid, LogKind(kind).value) for vid, kind in keys}
        if not wanted:
            return {}
        sql = f"SELECT {_STATE_COLUMNS} FROM {self._db.q}.partitions WHERE vehicle_id = ANY($1::text[])"
        vehicles = sorted({vid for vid, _ in wanted})

        async def op(conn: Any) -> Any:
            return await conn.fetch(sql, vehicles)

        out: dict[tuple[str, str], PartitionState] = {}
        for row in await self._db.run("loading partitions", op):
            state = _row_to_state(row)
            if state.key in wanted:
                out[state.key] = state
        return out

    async def commit(
        self,
        states: Sequence[PartitionState],
        *,
        sink_id: str | None = None,
        checkpoint: str | None = None,
    ) -> None:
        rows = _state_rows(states)
        q = self._db.q

        async def op(conn: Any) -> None:
            async with conn.transaction():
                if rows:
                    await conn.executemany(_upsert_state_sql(q), rows)
                if sink_id is not None and checkpoint is not None:
                    await conn.execute(
                        f"INSERT INTO {q}.sink_checkpoints (sink_id, checkpoint) VALUES ($1, $2) "
                        "ON CONFLICT (sink_id) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = now()",
                        sink_id,
                        checkpoint,
                    )
                self._before_commit()

        await self._db.run("committing the state", op)
        self.commits += 1

    def _before_commit(self) -> None:
        """Called inside the transaction just before COMMIT (a hook for crash tests)."""

    async def sink_checkpoint(self, sink_id: str) -> str | None:
        sql = f"SELECT checkpoint FROM {self._db.q}.sink_checkpoints WHERE sink_id = $1"

        async def op(conn: Any) -> Any:
            return await conn.fetchval(sql, sink_id)

        value = await self._db.run("reading a sink checkpoint", op)
        return str(value) if value is not None else None

    async def partitions(self) -> list[PartitionState]:
        sql = f"SELECT {_STATE_COLUMNS} FROM {self._db.q}.partitions ORDER BY vehicle_id, kind"

        async def op(conn: Any) -> Any:
            return await conn.fetch(sql)

        return [_row_to_state(row) for row in await self._db.run("listing partitions", op)]


# -- the sink --------------------------------------------------------------------------------


def _stage(kind: LogKind) -> str:
    return f"evenergy_stage_{kind.value}"


_STAGE_UNTIMED = "evenergy_stage_untimed"


COPY_FROM = 100
"""``method="auto"``: a kind's records per transaction from which COPY beats one unnest INSERT
(measured with ``benchmarks/postgres_load.py``: with COPY straight into the table, it cost the
server and this process less than unnest at 100 records in two runs; below, per-statement
costs favour the one INSERT)."""

_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z in microseconds since the Unix epoch


async def _setup_sink_connection(conn: Any) -> None:
    """The sink's connection: temporary staging tables (emptied at every commit), and codecs
    that take the harvester's own forms -- microseconds for ``timestamptz``, the JSON bytes for
    ``jsonb`` -- so no datetime or str is built per record only to be encoded again."""
    for kind in LogKind:
        await conn.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_stage(kind)} "
            "(vehicle_id text, ts timestamptz, record jsonb, fetched_at timestamptz) ON COMMIT DELETE ROWS"
        )
    await conn.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE_UNTIMED} "
        "(kind text, vehicle_id text, record_key text, record jsonb, fetched_at timestamptz) ON COMMIT DELETE ROWS"
    )
    # both exchanged in their binary wire forms by asyncpg's own C codecs, no Python call per
    # value: timestamptz is an int8 of microseconds since 2000-01-01 UTC, jsonb a version byte
    # (1) and the JSON text
    await conn.set_builtin_type_codec("timestamptz", schema="pg_catalog", codec_name="int8")
    await conn.set_builtin_type_codec("jsonb", schema="pg_catalog", codec_name="bytea")


def _without_nul(data: bytes) -> bytes:
    """PostgreSQL text (and so jsonb) cannot hold U+0000: it is stored as U+FFFD instead."""
    return re.sub(rb"(?<!\\)((?:\\\\)*)\\u0000", rb"\1\\ufffd", data)


class _Rows:
    """Batches to load, per kind; their rows are made while COPY streams them (so the server
    parses one chunk while the next is encoded here). Records without a timestamp are set
    aside in ``untimed`` on the way (a kind's rows made again replace its untimed ones)."""

    __slots__ = ("batches", "count", "untimed")

    def __init__(self) -> None:
        self.batches: dict[LogKind, list[tuple[HarvestBatch, int]]] = {}
        self.untimed: list[tuple[str, str, str, bytes, int]] = []
        self.count = 0

    def add(self, batch: HarvestBatch, fetched_us: int) -> None:
        if not batch.records:
            return
        pending = self.batches.get(batch.kind)
        if pending is None:
            pending = self.batches[batch.kind] = []
        pending.append((batch, fetched_us))
        self.count += len(batch.records)

    def timed(self, kind: LogKind) -> Iterator[tuple[str, int, bytes, int]]:
        """The kind's rows in the sink connection's wire forms (see ``_setup_sink_connection``):
        ``(vehicle_id, ts, record, fetched_at)``, the times in microseconds since 2000-01-01
        UTC, the record as jsonb's binary form."""
        epoch = _PG_EPOCH_US
        # a second pass (the staged load after a key conflict) sets the kind's untimed aside anew
        self.untimed = [row for row in self.untimed if row[0] != kind.value]
        for batch, fetched in self.batches[kind]:
            records = batch.records
            vid = batch.vehicle_id
            datas = batch.record_json()
            times = page_times(records, kind, batch.instants)
            fetched_pg = fetched - epoch
            if None not in times and not any(map(_contains, datas, repeat(b"\\u0000"))):
                # the usual page: its rows made by C-level maps
                yield from zip(repeat(vid), map(_sub, times, repeat(epoch)), map(_JSONB_V1.__add__, datas), repeat(fetched_pg))
                continue
            for record, us, data in zip(records, times, datas, strict=True):
                if b"\\u0000" in data:
                    data = _without_nul(data)
                if us is None:
                    self.untimed.append((kind.value, vid, _untimed_key(record, kind), _JSONB_V1 + data, fetched_pg))
                else:
                    yield (vid, us - epoch, _JSONB_V1 + data, fetched_pg)


_JSONB_V1 = b"\x01"  # jsonb's binary form: this version byte, then the JSON text
_contains = operator.contains
_sub = operator.sub


class PostgresSink:
    """Harvested records into PostgreSQL, one table per kind (see the module doc for the schema).

    With a :class:`PostgresStateStore` of the same DSN and schema as the harvester's state,
    each group of batches and its partition states commit in one transaction (see
    :class:`TransactionalSink`). Otherwise ``write`` buffers, and ``commit`` loads the records
    in a transaction of their own and returns no checkpoint (the primary keys make a re-sent
    record a no-op). ``method``: ``"copy"`` (COPY, see below), ``"unnest"`` (one ``INSERT ... SELECT FROM
    unnest(...) ON CONFLICT DO NOTHING``: fewer round trips, faster for small loads) or
    ``"auto"`` (the default: COPY from :data:`COPY_FROM` records of a kind in one
    transaction, unnest below); ``benchmarks/postgres_load.py`` measures all three. COPY goes
    straight into the table; only when a record of the load is already there is the load
    done again through the staging table (``staged_loads`` counts those).
    ``duplicates`` counts the records the primary keys dropped.
    """

    record_format: RecordFormat = "json"
    """The harvester hands this sink each record's JSON text (see :class:`~._sinks.Sink`):
    ``record`` holds the record as the API sent it (unknown fields kept), and no model is made
    or encoded back."""

    def __init__(self, dsn: str, *, schema: str = DEFAULT_SCHEMA, method: str = "auto") -> None:
        if method not in ("auto", "copy", "unnest"):
            raise ValueError("method must be 'auto', 'copy' or 'unnest'")
        self._db = _Connection(dsn, schema, "PostgreSQL sink")
        self.method = method
        self._pending = _Rows()
        self.records_written = 0
        self.duplicates = 0
        self.transactions = 0
        self.staged_loads = 0

    def __repr__(self) -> str:
        return f"<PostgresSink {self._db.redacted} schema={self._db.schema!r}>"

    @property
    def schema(self) -> str:
        return self._db.schema

    @property
    def dsn(self) -> str:
        """The DSN with its password redacted (safe to print)."""
        return self._db.redacted

    @property
    def sink_id(self) -> str:
        return f"postgresql:{self._db.redacted}#{self._db.schema}"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """Whether it is open: ``run()`` closes a sink it had to open itself."""
        return self._db.opened

    async def open(self) -> None:
        await self._db.open(_setup_sink_connection)

    async def close(self) -> None:
        await self._db.close()

    async def __aenter__(self) -> PostgresSink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- Sink ---------------------------------------------------------------------------

    async def recover(self, checkpoint: str | None) -> None:
        """Nothing to cut back: only committed transactions are in the tables."""
        await self.open()
        self._pending = _Rows()

    async def write(self, batch: HarvestBatch) -> None:
        self._pending.add(batch, to_micros(datetime.now(UTC)))

    async def commit(self) -> str | None:
        rows, self._pending = self._pending, _Rows()
        if rows.count:
            await self._transaction(rows, [])
        return None

    # -- TransactionalSink ------------------------------------------------------------------

    def shares_transaction(self, state: StateStore) -> bool:
        """Whether ``state`` lives in this sink's database and schema (then one transaction does both)."""
        return isinstance(state, PostgresStateStore) and state._same_database(self._db.dsn, self._db.schema)

    async def commit_with_state(self, batches: Sequence[HarvestBatch], states: Sequence[PartitionState]) -> None:
        """Load ``batches``' records and upsert ``states`` in ONE transaction."""
        rows = _Rows()
        now = to_micros(datetime.now(UTC))
        for batch in batches:
            rows.add(batch, now)
        await self._transaction(rows, _state_rows(states))

    async def _transaction(self, rows: _Rows, states: list[tuple[Any, ...]]) -> None:
        q = self._db.q
        method = self.method

        async def op(conn: Any) -> int:
            inserted = 0
            async with conn.transaction():
                for kind, pending in rows.batches.items():
                    target = f"{q}.{_table(kind)}"
                    use_copy = method == "copy" or (
                        method == "auto" and sum(len(b.records) for b, _ in pending) >= COPY_FROM
                    )
                    if use_copy:
                        status = await self._copy(conn, kind, rows)
                    else:
                        columns = list(zip(*rows.timed(kind), strict=True)) or [(), (), (), ()]
                        self._after_copy()
                        status = await conn.execute(
                            f"INSERT INTO {target} (vehicle_id, ts, record, fetched_at) "
                            "SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::jsonb[], $4::timestamptz[]) "
                            "ON CONFLICT (vehicle_id, ts) DO NOTHING",
                            *columns,
                        )
                    inserted += _rowcount(status)
                if rows.untimed:
                    await conn.copy_records_to_table(
                        _STAGE_UNTIMED,
                        records=rows.untimed,
                        columns=("kind", "vehicle_id", "record_key", "record", "fetched_at"),
                    )
                    status = await conn.execute(
                        f"INSERT INTO {q}.{UNTIMED_TABLE} (kind, vehicle_id, record_key, record, fetched_at) "
                        f"SELECT kind, vehicle_id, record_key, record, fetched_at FROM {_STAGE_UNTIMED} "
                        "ON CONFLICT (kind, vehicle_id, record_key) DO NOTHING"
                    )
                    inserted += _rowcount(status)
                if states:
                    await conn.executemany(_upsert_state_sql(q), states)
                self._before_commit()
            self._after_commit()
            return inserted

        inserted = await self._db.run("loading records", op)
        self.transactions += 1
        self.records_written += inserted
        self.duplicates += rows.count - inserted

    async def _copy(self, conn: Any, kind: LogKind, rows: _Rows) -> str:
        """COPY a kind's rows straight into its table, in a savepoint: the usual load, where no
        record is there yet (the harvester sends each once), writes each row once. A record
        already there (a re-run after a state was lost, a state store of its own committing
        after this sink) fails the COPY on the primary key: the savepoint is rolled back and
        the rows are made again, COPYed into the staging table and moved by ``INSERT ... ON
        CONFLICT DO NOTHING``. Returns the command status (its row count: the rows added)."""
        columns = ("vehicle_id", "ts", "record", "fetched_at")
        asyncpg = _asyncpg()
        try:
            async with conn.transaction():  # nested: a savepoint
                status: str = await conn.copy_records_to_table(
                    _table(kind), schema_name=self._db.schema, records=rows.timed(kind), columns=columns
                )
                self._after_copy()
            return status
        except asyncpg.UniqueViolationError:
            self.staged_loads += 1
        await conn.copy_records_to_table(_stage(kind), records=rows.timed(kind), columns=columns)
        self._after_copy()
        status = await conn.execute(
            f"INSERT INTO {self._db.q}.{_table(kind)} (vehicle_id, ts, record, fetched_at) "
            f"SELECT vehicle_id, ts, record, fetched_at FROM {_stage(kind)} "
            "ON CONFLICT (vehicle_id, ts) DO NOTHING"
        )
        return status

    # crash-test hooks (called inside the transaction, or right after COMMIT)
    def _after_copy(self) -> None:
        """Called inside the transaction once the first rows are staged (a hook for crash tests)."""

    def _before_commit(self) -> None:
        """Called inside the transaction just before COMMIT (a hook for crash tests)."""

    def _after_commit(self) -> None:
        """Called right after COMMIT returned (a hook for crash tests)."""

    # -- reading back ------------------------------------------------------------------------

    async def counts(self) -> dict[str, tuple[int, int]]:
        """Per table: (rows, distinct (vehicle_id, ts)) -- equal by the primary key."""
        q = self._db.q

        async def op(conn: Any) -> dict[str, tuple[int, int]]:
            out: dict[str, tuple[int, int]] = {}
            for kind in LogKind:
                row = await conn.fetchrow(
                    f"SELECT count(*) AS n, count(DISTINCT (vehicle_id, ts)) AS d FROM {q}.{_table(kind)}"
                )
                out[_table(kind)] = (row["n"], row["d"])
            n = await conn.fetchval(f"SELECT count(*) FROM {q}.{UNTIMED_TABLE}")
            out[UNTIMED_TABLE] = (n, n)
            return out

        result: dict[str, tuple[int, int]] = await self._db.run("counting rows", op)
        return result

    async def records(self, kind: LogKind | str) -> list[tuple[str, dict[str, Any]]]:
        """(vehicle_id, record) of every stored record of ``kind`` (timed and untimed), for checks."""
        kind = LogKind(kind)
        q = self._db.q

        async def op(conn: Any) -> list[Any]:
            rows = list(await conn.fetch(f"SELECT vehicle_id, record::text AS r FROM {q}.{_table(kind)}"))
            rows += await conn.fetch(
                f"SELECT vehicle_id, record::text AS r FROM {q}.{UNTIMED_TABLE} WHERE kind = $1", kind.value
            )
            return rows

        return [(row["vehicle_id"], json.loads(row["r"])) for row in await self._db.run("reading records", op)]


def _rowcount(status: str) -> int:
    """The row count of an ``INSERT 0 <n>`` command status."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:  # pragma: no cover - asyncpg always returns the status
        return 0
