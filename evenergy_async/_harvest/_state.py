"""Where the harvester keeps its progress: the ``StateStore`` protocol and two stores.

Schema of :class:`SQLiteStateStore` (version 3)::

    CREATE TABLE partitions (
        vehicle_id TEXT NOT NULL, kind TEXT NOT NULL,
        token TEXT NOT NULL,        -- the label of the token that fetched it last (informative)
        watermark INTEGER,          -- µs since epoch: upper bound of the last completed pass
        tail_keys TEXT NOT NULL,    -- JSON list: keys delivered in [watermark - overlap, ...]
        cursor TEXT,                -- next page URL of the running pass (NULL: none running)
        pass_until INTEGER, pass_since INTEGER,
        pass_tail_keys TEXT NOT NULL, pass_tail_open INTEGER NOT NULL, boundary_keys TEXT NOT NULL,
        records INTEGER NOT NULL, passes INTEGER NOT NULL, updated_at TEXT NOT NULL,
        covered_since INTEGER,      -- µs: lower bound of the completed passes (NULL: the beginning)
        pass_backfill INTEGER NOT NULL, -- 1: the running pass is a backfill below covered_since
        PRIMARY KEY (vehicle_id, kind))
    CREATE TABLE sink_checkpoints (sink_id TEXT PRIMARY KEY, checkpoint TEXT NOT NULL,
                                   updated_at TEXT NOT NULL)
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)

Version 1 keyed partitions by (token label, vehicle_id, kind), so reordering or renaming
tokens re-harvested everything; opening a version 1 file migrates it in one transaction,
merging the rows of a (vehicle, kind) that several labels harvested
(:func:`merge_partition_states`). Version 2 had no ``covered_since``/``pass_backfill``:
opening it adds them (NULL and 0), so its partitions count as covered from the beginning --
the reading under which nothing is delivered twice (version 2 never went below a watermark
either); a run with a ``since`` earlier than those files' first runs does not backfill them.

Every :meth:`~StateStore.commit` is one SQLite transaction (WAL journal) that upserts only the
partitions it is given plus the sink's checkpoint, so a kill at any instant leaves either the
old or the new state, never a mix.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from ._types import LogKind, PartitionState, dumps_json
from ._worker import WorkerThread

__all__ = ["MemoryStateStore", "SQLiteStateStore", "StateStore"]

T = TypeVar("T")

SCHEMA_VERSION = 3


@runtime_checkable
class StateStore(Protocol):
    """Durable progress of a harvest, keyed by (vehicle, kind) -- never by the token label.

    ``commit`` must be atomic: all the given partition states and the sink checkpoint are
    stored together or not at all. The harvester calls it only after the sink has confirmed
    the batches the states cover.
    """

    async def load(self, vehicle_id: str, kind: LogKind) -> PartitionState | None:
        """The committed state of one partition (None if never committed)."""
        ...

    # Optional: ``async def load_many(self, keys: Sequence[tuple[str, LogKind]]) ->
    # dict[tuple[str, str], PartitionState]`` -- the committed states of several partitions
    # at once, keyed by ``(vehicle_id, kind value)`` (absent: never committed). The harvester
    # uses it, when a store has it, to read a token's next partitions in one round trip.

    async def commit(
        self,
        states: Sequence[PartitionState],
        *,
        sink_id: str | None = None,
        checkpoint: str | None = None,
    ) -> None:
        """Store ``states`` (later ones win for the same key) and the sink checkpoint, atomically."""
        ...

    async def sink_checkpoint(self, sink_id: str) -> str | None:
        """The checkpoint last committed for the sink ``sink_id`` (None if none)."""
        ...

    async def partitions(self) -> list[PartitionState]:
        """Every committed partition state (for reports and tests)."""
        ...


class MemoryStateStore:
    """A :class:`StateStore` in a dict: for tests, and for one-off harvests without resumption."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], PartitionState] = {}
        self._checkpoints: dict[str, str] = {}
        self.commits = 0

    async def load(self, vehicle_id: str, kind: LogKind) -> PartitionState | None:
        return self._rows.get((vehicle_id, LogKind(kind).value))

    async def load_many(self, keys: Sequence[tuple[str, LogKind]]) -> dict[tuple[str, str], PartitionState]:
        rows = self._rows
        found = ((vid, LogKind(kind).value) for vid, kind in keys)
        return {key: rows[key] for key in found if key in rows}

    async def commit(
        self,
        states: Sequence[PartitionState],
        *,
        sink_id: str | None = None,
        checkpoint: str | None = None,
    ) -> None:
        for state in states:
            self._rows[state.key] = state
        if sink_id is not None and checkpoint is not None:
            self._checkpoints[sink_id] = checkpoint
        self.commits += 1

    async def sink_checkpoint(self, sink_id: str) -> str | None:
        return self._checkpoints.get(sink_id)

    async def partitions(self) -> list[PartitionState]:
        return list(self._rows.values())

    async def __aenter__(self) -> MemoryStateStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def close(self) -> None:
        return None


_DDL = (
    """CREATE TABLE IF NOT EXISTS partitions (
        vehicle_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        token TEXT NOT NULL,
        watermark INTEGER,
        tail_keys TEXT NOT NULL DEFAULT '[]',
        cursor TEXT,
        pass_until INTEGER,
        pass_since INTEGER,
        pass_tail_keys TEXT NOT NULL DEFAULT '[]',
        pass_tail_open INTEGER NOT NULL DEFAULT 1,
        boundary_keys TEXT NOT NULL DEFAULT '[]',
        records INTEGER NOT NULL DEFAULT 0,
        passes INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL,
        covered_since INTEGER,
        pass_backfill INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (vehicle_id, kind)
    )""",
    """CREATE TABLE IF NOT EXISTS sink_checkpoints (
        sink_id TEXT PRIMARY KEY,
        checkpoint TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

_V2_COLUMNS = (
    "token, vehicle_id, kind, watermark, tail_keys, cursor, pass_until, pass_since, "
    "pass_tail_keys, pass_tail_open, boundary_keys, records, passes"
)
_COLUMNS = _V2_COLUMNS + ", covered_since, pass_backfill"

_UPSERT = f"""
INSERT INTO partitions ({_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (vehicle_id, kind) DO UPDATE SET
    token = excluded.token, watermark = excluded.watermark, tail_keys = excluded.tail_keys, cursor = excluded.cursor,
    pass_until = excluded.pass_until, pass_since = excluded.pass_since,
    pass_tail_keys = excluded.pass_tail_keys, pass_tail_open = excluded.pass_tail_open,
    boundary_keys = excluded.boundary_keys,
    records = excluded.records, passes = excluded.passes, updated_at = excluded.updated_at,
    covered_since = excluded.covered_since, pass_backfill = excluded.pass_backfill
"""

_UPSERT_SINK = """
INSERT INTO sink_checkpoints (sink_id, checkpoint, updated_at) VALUES (?, ?, ?)
ON CONFLICT (sink_id) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at
"""


def _row_to_state(row: Sequence[Any]) -> PartitionState:
    return PartitionState(
        token=row[0],
        vehicle_id=row[1],
        kind=LogKind(row[2]),
        watermark=row[3],
        tail_keys=tuple(json.loads(row[4])),
        cursor=row[5],
        pass_until=row[6],
        pass_since=row[7],
        pass_tail_keys=tuple(json.loads(row[8])),
        pass_tail_open=bool(row[9]),
        boundary_keys=tuple(json.loads(row[10])),
        records=row[11],
        passes=row[12],
        covered_since=row[13] if len(row) > 13 else None,
        pass_backfill=bool(row[14]) if len(row) > 14 else False,
    )


def _json_text(keys: Sequence[str]) -> str:
    """A list of keys as JSON text (orjson when installed: a state row has up to three)."""
    return dumps_json(list(keys)).decode()


def _state_to_row(state: PartitionState, now: str) -> tuple[Any, ...]:
    return (
        state.token,
        state.vehicle_id,
        state.kind.value,
        state.watermark,
        _json_text(state.tail_keys),
        state.cursor,
        state.pass_until,
        state.pass_since,
        _json_text(state.pass_tail_keys),
        int(state.pass_tail_open),
        _json_text(state.boundary_keys),
        state.records,
        state.passes,
        state.covered_since,
        int(state.pass_backfill),
        now,
    )


class SQLiteStateStore:
    """The default durable :class:`StateStore`: one SQLite file (stdlib ``sqlite3``, WAL).

    All database work runs on one dedicated thread, never on the event loop, and in call
    order; a commit whose awaiting task is cancelled still finishes (or not at all) as one
    transaction. Use as ``async with SQLiteStateStore(path) as state`` (or ``open``/``close``).

    ``cache_kib``: SQLite's page cache for the file (its default is 2 MiB). The state of a
    large fleet is many megabytes; a harvest reads each partition's row once and writes it
    back, so the pages need not stay in the harvest's memory (the OS's file cache keeps
    them): a small cache keeps the harvest's peak memory flat however long the run.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, synchronous: str = "NORMAL", cache_kib: int = 512
    ) -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("synchronous must be OFF, NORMAL, FULL or EXTRA")
        if isinstance(cache_kib, bool) or not isinstance(cache_kib, int) or cache_kib < 64:
            raise ValueError(f"cache_kib must be an integer >= 64, got {cache_kib!r}")
        self.path = os.fspath(path)
        self._synchronous = synchronous.upper()
        self._cache_kib = cache_kib
        self._thread = WorkerThread("evenergy-state", "state store")
        self._conn: sqlite3.Connection | None = None
        self.commits = 0

    def __repr__(self) -> str:
        return f"<SQLiteStateStore {self.path!r}>"

    # -- lifecycle -------------------------------------------------------------------

    async def open(self) -> None:
        await self._thread.start(self._open_sync)

    async def close(self) -> None:
        await self._thread.stop(self._close_sync)

    async def __aenter__(self) -> SQLiteStateStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _open_sync(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is enough for exactly-once: the sink is fsynced before each state commit,
            # so losing the newest commits (power loss) only means re-fetching, never a gap.
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute(f"PRAGMA cache_size=-{self._cache_kib}")  # negative: KiB
            conn.execute("BEGIN IMMEDIATE")
            for ddl in _DDL:
                conn.execute(ddl)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif row[0] == "1":
                _migrate_v1(conn)
            elif row[0] == "2":
                _migrate_v2(conn)
            elif int(row[0]) != SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise ValueError(f"{self.path}: state schema version {row[0]}, expected {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close_sync(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._thread.run(fn, *args)

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the state store is closed")
        return self._conn

    # -- StateStore ------------------------------------------------------------------

    async def load(self, vehicle_id: str, kind: LogKind) -> PartitionState | None:
        return await self._run(self._load_sync, vehicle_id, LogKind(kind).value)

    def _load_sync(self, vehicle_id: str, kind: str) -> PartitionState | None:
        row = (
            self._db()
            .execute(f"SELECT {_COLUMNS} FROM partitions WHERE vehicle_id = ? AND kind = ?", (vehicle_id, kind))
            .fetchone()
        )
        return _row_to_state(row) if row is not None else None

    async def load_many(self, keys: Sequence[tuple[str, LogKind]]) -> dict[tuple[str, str], PartitionState]:
        """The committed states of several partitions, in one trip to the database thread."""
        wanted = {(vid, LogKind(kind).value) for vid, kind in keys}
        return await self._run(self._load_many_sync, wanted) if wanted else {}

    def _load_many_sync(self, wanted: set[tuple[str, str]]) -> dict[tuple[str, str], PartitionState]:
        db = self._db()
        vehicles = sorted({vid for vid, _ in wanted})
        out: dict[tuple[str, str], PartitionState] = {}
        for i in range(0, len(vehicles), 500):  # well under SQLite's limit on bound variables
            chunk = vehicles[i : i + 500]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT {_COLUMNS} FROM partitions WHERE vehicle_id IN ({marks})"
            for row in db.execute(sql, chunk):
                key = (row[1], row[2])
                if key in wanted:
                    out[key] = _row_to_state(row)
        return out

    async def commit(
        self,
        states: Sequence[PartitionState],
        *,
        sink_id: str | None = None,
        checkpoint: str | None = None,
    ) -> None:
        latest = {state.key: state for state in states}  # later states of a partition win
        now = datetime.now(UTC).isoformat()
        sink = (sink_id, checkpoint, now) if sink_id is not None and checkpoint is not None else None
        # the rows are made on the store's thread: formatting a pass's boundary keys (a page
        # of instants each) is most of a commit's Python work, and the event loop has other
        await self._run(self._commit_sync, list(latest.values()), now, sink)
        self.commits += 1

    def _commit_sync(
        self, states: list[PartitionState], now: str, sink: tuple[str, str, str] | None
    ) -> None:
        rows = [_state_to_row(state, now) for state in states]
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                conn.executemany(_UPSERT, rows)
            if sink is not None:
                conn.execute(_UPSERT_SINK, sink)
            self._before_commit()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _before_commit(self) -> None:
        """Called inside the transaction just before COMMIT (a hook for crash tests)."""

    async def sink_checkpoint(self, sink_id: str) -> str | None:
        return await self._run(self._checkpoint_sync, sink_id)

    def _checkpoint_sync(self, sink_id: str) -> str | None:
        row = self._db().execute("SELECT checkpoint FROM sink_checkpoints WHERE sink_id = ?", (sink_id,)).fetchone()
        return str(row[0]) if row is not None else None

    async def partitions(self) -> list[PartitionState]:
        return await self._run(self._partitions_sync)

    def _partitions_sync(self) -> list[PartitionState]:
        rows = self._db().execute(f"SELECT {_COLUMNS} FROM partitions ORDER BY vehicle_id, kind").fetchall()
        return [_row_to_state(row) for row in rows]

    async def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``"ok"`` when the file is sound)."""
        return await self._run(lambda: str(self._db().execute("PRAGMA integrity_check").fetchone()[0]))


# -- migration from schema version 1 ------------------------------------------------------


def merge_partition_states(states: Sequence[PartitionState]) -> PartitionState:
    """One state for a (vehicle, kind) that several token labels harvested into one output.

    Version 1 keyed partitions by the token's label, so after tokens were reordered, added,
    removed or renamed the same partition could have been harvested under several labels.
    Everything those rows delivered is in the output; the merged state must not deliver
    any of it again:

    * It continues the row whose data reaches furthest: an unfinished pass's ``pass_until``,
      else the watermark (a finished row wins a tie): its cursor, if any, is kept, so the
      records that pass delivered are not fetched again.
    * Its watermark is the highest of all rows: every record up to it was delivered by some
      row. A pass continues below ``watermark - overlap`` only when it was opened there,
      and then drops what is older (see :class:`~._pass.PagePass`).
    * Its overlap tail holds every row's tail, plus the overlap keys and last page's keys of
      the other rows' unfinished passes: the records they delivered near the top of their
      pass are dropped if the continuing pass meets them again.

    What can still come twice: two unfinished passes under different labels that had both
    gone further than the overlap below their top -- the other pass's records beyond its
    overlap keys. (An old state file gets there only with two interrupted runs in a row,
    each with the tokens in another order.)
    """
    if len(states) == 1:
        return states[0]

    def reach(state: PartitionState) -> tuple[int, bool]:
        top = state.pass_until if state.pass_until is not None else state.watermark
        return (top if top is not None else -1, state.pass_until is None)

    base = max(states, key=reach)
    watermarks = [s.watermark for s in states if s.watermark is not None]
    tail: dict[str, None] = dict.fromkeys(base.tail_keys)
    for state in states:
        if state is base:
            continue
        tail.update(dict.fromkeys(state.tail_keys))
        if state.pass_until is not None:
            tail.update(dict.fromkeys(state.pass_tail_keys))
            tail.update(dict.fromkeys(state.boundary_keys))
    return attrs.evolve(
        base,
        watermark=max(watermarks) if watermarks else None,
        tail_keys=tuple(tail),
        records=sum(s.records for s in states),
        passes=max(s.passes for s in states),
    )


def _migrate_v1(conn: sqlite3.Connection) -> None:
    """Re-key a version 1 file's partitions by (vehicle, kind), inside the open transaction."""
    conn.execute("ALTER TABLE partitions RENAME TO partitions_v1")
    conn.execute(_DDL[0])
    now = datetime.now(UTC).isoformat()
    rows = conn.execute(f"SELECT {_V2_COLUMNS} FROM partitions_v1 ORDER BY vehicle_id, kind, token")
    group: list[PartitionState] = []
    out: list[tuple[Any, ...]] = []
    for row in rows:
        state = _row_to_state(row)
        if group and state.key != group[0].key:
            out.append(_state_to_row(merge_partition_states(group), now))
            group = []
        group.append(state)
        if len(out) >= 1000:
            conn.executemany(_UPSERT, out)
            out = []
    if group:
        out.append(_state_to_row(merge_partition_states(group), now))
    conn.executemany(_UPSERT, out)
    conn.execute("DROP TABLE partitions_v1")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))


def _migrate_v2(conn: sqlite3.Connection) -> None:
    """Add version 3's columns, inside the open transaction: NULL ``covered_since`` (from the
    beginning: see the module doc) and no backfill running."""
    conn.execute("ALTER TABLE partitions ADD COLUMN covered_since INTEGER")
    conn.execute("ALTER TABLE partitions ADD COLUMN pass_backfill INTEGER NOT NULL DEFAULT 0")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
