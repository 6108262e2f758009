"""Where harvested records go: the ``Sink`` protocol, a JSONL-files sink and an in-memory sink.

Exactly once with a sink works like this: the harvester ``write``s batches, then calls
``commit``, which makes them durable and returns a *checkpoint* (for :class:`JsonlSink`, the
byte length of every file). The checkpoint is stored in the same state-store transaction as
the partition states the batches cover. Before the first write of a run the harvester calls
``recover`` with the last committed checkpoint, and the sink rolls back everything written
after it (records whose state commit never happened: they will be fetched again).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ._types import HarvestBatch, LogKind, PartitionState, RecordFormat, dumps_json
from ._worker import WorkerThread, lock_file

if TYPE_CHECKING:
    from ._state import StateStore

_dumps = dumps_json


__all__ = ["JsonlSink", "MemorySink", "Sink", "SinkError", "TransactionalSink"]

LOCK_FILE = ".evenergy-harvest.lock"
ID_FILE = ".evenergy-sink-id"  # the output's identity in the state: travels with the directory
"""The file in a JSONL output directory that a :class:`JsonlSink` holds locked while open."""

T = TypeVar("T")


class SinkError(Exception):
    """The sink's files do not match the state (e.g. shorter than the committed checkpoint)."""


class OutputInUseError(SinkError):
    """Another sink (another process) has the output directory open: two harvests appending
    to the same files would each deliver every record."""


class UnknownOutputError(SinkError):
    """The output already holds records, and the state has no checkpoint for it: the state
    that wrote them is another one (or was deleted). Appending would deliver them again."""


@runtime_checkable
class Sink(Protocol):
    """The destination of a harvest run (``await harvester.run(sink)``).

    ``sink_id`` is a stable name under which the state store keeps the sink's checkpoint.
    ``recover`` is called once before the first ``write`` of a run; ``commit`` makes every
    batch written so far durable and returns the checkpoint to store with the state (or
    None when the sink keeps no position). ``close`` is the owner's business: the harvester
    closes only sinks it created itself.

    Record format: a sink that stores JSON declares the class (or instance) attribute
    ``record_format = "wire"`` and gets batches of the JSON objects the server sent
    (``dict``; no model is made, nor encoded back), with the same keys, states and
    exactly-once guarantee; ``batch.jsonl()`` and ``batch.record_json()`` serialize them.
    A sink that stores JSON text declares ``record_format = "json"``: each record is its JSON
    object's text (``bytes``, UTF-8, one line), the server's own where the ``fast`` extra can
    split the page without parsing it into objects, else the parsed object serialized once.
    Without the attribute (or ``"typed"``) batches hold the client's log models.
    """

    @property
    def sink_id(self) -> str: ...

    async def recover(self, checkpoint: str | None) -> None: ...

    async def write(self, batch: HarvestBatch) -> None: ...

    async def commit(self) -> str | None: ...

    async def close(self) -> None: ...


@runtime_checkable
class TransactionalSink(Sink, Protocol):
    """A sink that can also be the home of the harvest state (e.g. :class:`PostgresSink`).

    When ``shares_transaction(state)`` is true for the harvester's state store, ``run()``
    neither ``write``s nor ``commit``s batches one by one: it hands each group of batches and
    their partition states to ``commit_with_state``, which stores both in ONE transaction.
    """

    def shares_transaction(self, state: StateStore) -> bool: ...

    async def commit_with_state(self, batches: Sequence[HarvestBatch], states: Sequence[PartitionState]) -> None: ...


class MemorySink:
    """Keeps every delivered record in a list of ``(vehicle_id, kind, record)`` (tests, small jobs).

    Uncommitted records are rolled back by ``recover`` like the JSONL sink does. The records
    are the client's models, the JSON objects with ``record_format="wire"``, or their texts
    (``bytes``) with ``record_format="json"``.
    """

    def __init__(self, sink_id: str = "memory", *, record_format: RecordFormat = "typed") -> None:
        if record_format not in ("typed", "wire", "json"):
            raise ValueError("record_format must be 'typed', 'wire' or 'json'")
        self.record_format: RecordFormat = record_format
        self._id = sink_id
        self.records: list[tuple[str, LogKind, Any]] = []
        self.batches = 0
        self.commits = 0

    @property
    def sink_id(self) -> str:
        return self._id

    async def recover(self, checkpoint: str | None) -> None:
        keep = int(checkpoint) if checkpoint is not None else 0
        del self.records[keep:]

    async def write(self, batch: HarvestBatch) -> None:
        self.batches += 1
        self.records.extend((batch.vehicle_id, batch.kind, r) for r in batch.records)

    async def commit(self) -> str | None:
        self.commits += 1
        return str(len(self.records))

    async def close(self) -> None:
        return None


class JsonlSink:
    """One JSON-lines file per kind in ``directory`` (``status_logs.jsonl``...), appended to.

    Each line is one record as the server sent it (its JSON object: the fields it sent,
    unknown ones included, timestamps as spelled) with ``vehicle_id`` added first; the
    harvester hands this sink each record's JSON text (``record_format = "json"``), so no
    model is made and encoded back, and with the ``fast`` extra the usual page is not even
    parsed into objects: its lines hold the server's own text of each record (a typed batch
    written here is encoded from its models). ``commit`` flushes and
    fsyncs the files and returns their lengths; ``recover`` truncates every file back to the
    committed length (which also drops a partial last line left by a crash). Without any
    checkpoint (the state knows nothing of this sink), files that already hold records are
    refused with :class:`UnknownOutputError`: they came from another state (or one deleted
    since), and appending would write every record again. ``adopt_existing=True`` appends
    to them anyway (only a partial last line is cut); their records may then come twice.
    ``write`` serializes on the loop and buffers; file work (append, fsync) runs on one
    dedicated thread, in call order, at ``commit`` or once ``buffer_bytes`` are pending (the
    default holds a whole commit group of the harvester's: one thread hop per commit).
    """

    record_format: RecordFormat = "json"

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        fsync: bool = True,
        buffer_bytes: int = 8 * 1024 * 1024,
        adopt_existing: bool = False,
    ) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        self._id: str | None = None
        self._adopt_existing = adopt_existing
        self._lock_fd: int | None = None
        self._fsync = fsync
        self._buffer_bytes = buffer_bytes
        self._pending: dict[str, list[bytes]] = {}
        self._pending_bytes = 0
        self._files: dict[str, Any] = {}  # file name -> binary append handle
        self._sizes: dict[str, int] = {}  # file name -> length after the last write
        self._dirty: set[str] = set()
        self._new_files = False
        self._thread = WorkerThread("evenergy-sink", "sink")
        self.bytes_written = 0
        self.lines_written = 0

    def __repr__(self) -> str:
        return f"<JsonlSink {self.directory!r}>"

    @property
    def sink_id(self) -> str:
        """The output's identity, under which the state keeps its checkpoint: read from the
        directory's ``.evenergy-sink-id`` (made on first use), so that a directory moved or
        mounted elsewhere together with its state is still recognised. A directory written
        before that file existed keeps its old identity, ``jsonl:<absolute path>``."""
        if self._id is None:
            self._id = _sink_identity(self.directory)
        return self._id

    def path(self, kind: LogKind | str) -> str:
        return os.path.join(self.directory, LogKind(kind).filename)

    # -- lifecycle -------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """Whether it is open (its lock held): ``run()`` closes a sink it had to open itself."""
        return self._thread.running

    async def open(self) -> None:
        await self._thread.start(self._open_sync)

    async def close(self) -> None:
        await self._thread.stop(self._close_and_unlock)

    def _open_sync(self) -> None:
        os.makedirs(self.directory, 0o777, True)
        # one writer per directory: an advisory lock held while open (released by the kernel
        # when the process dies, so a killed run never leaves the output locked)
        self._lock_fd = lock_file(
            os.path.join(self.directory, LOCK_FILE),
            0o666,
            lambda: OutputInUseError(
                f"{self.directory} is in use by another harvest: wait for it to finish, or use another output"
            ),
        )

    def _close_and_unlock(self) -> None:
        self._close_sync()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    async def __aenter__(self) -> JsonlSink:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if not self._thread.running:
            await self.open()
        return await self._thread.run(fn, *args)

    def _close_sync(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    # -- Sink -------------------------------------------------------------------------

    async def recover(self, checkpoint: str | None) -> None:
        sizes: dict[str, int] | None = None
        if checkpoint is not None:
            try:
                data = json.loads(checkpoint)
                sizes = {str(k): int(v) for k, v in data["files"].items()}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise SinkError(f"unreadable JSONL sink checkpoint: {exc}") from exc
        await self._run(self._recover_sync, sizes)

    def _recover_sync(self, sizes: dict[str, int] | None) -> None:
        self._close_sync()
        self._pending.clear()  # written but never committed: dropped like the file tails
        self._pending_bytes = 0
        self._sizes.clear()
        self._dirty.clear()
        os.makedirs(self.directory, exist_ok=True)
        cuts: list[tuple[str, str, int, int]] = []  # every file checked before any is cut
        for kind in LogKind:
            name = kind.filename
            path = os.path.join(self.directory, name)
            try:
                actual = os.path.getsize(path)
            except FileNotFoundError:
                actual = None
            if sizes is None:
                # no checkpoint yet: nothing but a partial last line may be there
                if actual is None:
                    continue
                target = _complete_length(path, actual)
                if target and not self._adopt_existing:
                    raise UnknownOutputError(
                        f"{path} holds records that the state has no record of: use the state that "
                        "wrote them, or a new output directory"
                    )
            else:
                target = sizes.get(name, 0)
                if actual is None:
                    if target:
                        raise SinkError(
                            f"{path} is missing, but the state says {target} bytes of records were committed "
                            "to it: restore the file, or start a new output directory with a new state"
                        )
                    continue
                if actual < target:
                    raise SinkError(
                        f"{path} has {actual} bytes but the state says {target} were committed: "
                        "the file was changed outside the harvester; restore it, or start a new output "
                        "directory with a new state"
                    )
            cuts.append((name, path, actual, target))
        changed = False
        for name, path, actual, target in cuts:
            if actual != target:
                with open(path, "r+b") as fh:
                    fh.truncate(target)
                    fh.flush()
                    if self._fsync:
                        os.fsync(fh.fileno())
                changed = True
            self._sizes[name] = target
        if changed and self._fsync:
            _fsync_dir(self.directory)

    async def write(self, batch: HarvestBatch) -> None:
        """Serialize the batch; the bytes reach the file (one thread hop for many batches) at
        the next ``commit``, or as soon as ``buffer_bytes`` are pending."""
        if not batch.records:
            return
        chunks = batch.jsonl_chunks()
        name = batch.kind.filename
        pending = self._pending.get(name)
        if pending is None:
            pending = self._pending[name] = []
        pending += chunks
        self._pending_bytes += sum(map(len, chunks))
        self.lines_written += len(batch.records)
        if self._pending_bytes >= self._buffer_bytes:
            await self._run(self._write_sync, self._take_pending())

    def _take_pending(self) -> dict[str, list[bytes]]:
        pending, self._pending = self._pending, {}
        self._pending_bytes = 0
        return pending

    def _write_sync(self, pending: dict[str, list[bytes]]) -> None:
        for name, chunks in pending.items():
            handle = self._files.get(name)
            if handle is None:
                path = os.path.join(self.directory, name)
                if not os.path.exists(path):
                    self._new_files = True
                handle = self._files[name] = open(path, "ab")  # noqa: SIM115 - kept open across writes
                self._sizes.setdefault(name, handle.tell())
            size = self._write_chunks(handle, chunks)
            self._sizes[name] = self._sizes.get(name, 0) + size
            self._dirty.add(name)
            self.bytes_written += size

    def _write_chunks(self, handle: Any, chunks: list[bytes]) -> int:
        """Append ``chunks`` to an open file, in order; returns their length (a hook for crash
        tests). One ``writev`` for up to IOV_MAX chunks: no joined copy of a commit group (up
        to ``buffer_bytes``), and one system call, so one release of the GIL, per file and
        group (a ``write`` per chunk would wait for the event loop's thread to let go of the
        GIL once per chunk)."""
        size = sum(map(len, chunks))
        if _writev is None:
            handle.write(b"".join(chunks))
            return size
        handle.flush()  # nothing should be buffered: every write goes through here
        fd = handle.fileno()
        todo = [memoryview(chunk) for chunk in chunks if chunk]
        while todo:
            batch = todo[:_IOV_MAX]
            written = _writev(fd, batch)
            if written <= 0:
                raise OSError(errno.EIO, "writev wrote nothing")
            # a short write (rare for files; a signal, a full disk raising next time): go on
            # from the first byte not written
            done = 0
            while done < len(batch) and written >= len(batch[done]):
                written -= len(batch[done])
                done += 1
            if done < len(batch):
                batch[done] = batch[done][written:]
            todo = batch[done:] + todo[len(batch):]
        return size

    async def commit(self) -> str | None:
        return await self._run(self._commit_sync, self._take_pending())

    def _commit_sync(self, pending: dict[str, list[bytes]]) -> str:
        self._write_sync(pending)
        for name in sorted(self._dirty):
            handle = self._files[name]
            handle.flush()
            if self._fsync:
                os.fsync(handle.fileno())
        self._dirty.clear()
        if self._new_files and self._fsync:
            _fsync_dir(self.directory)
        self._new_files = False
        return json.dumps({"files": dict(sorted(self._sizes.items()))}, separators=(",", ":"))


_writev: Callable[[int, Sequence[Any]], int] | None = getattr(os, "writev", None)
try:
    _IOV_MAX = max(16, min(1024, os.sysconf("SC_IOV_MAX")))
except (AttributeError, OSError, ValueError):  # pragma: no cover - platforms without sysconf
    _IOV_MAX = 16


def _complete_length(path: str, size: int) -> int:
    """The length of ``path`` up to and including its last newline (0 if it has none)."""
    chunk = 65536
    with open(path, "rb") as fh:
        end = size
        while end > 0:
            start = max(0, end - chunk)
            fh.seek(start)
            block = fh.read(end - start)
            idx = block.rfind(b"\n")
            if idx >= 0:
                return start + idx + 1
            end = start
    return 0


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def jsonl_sink_file(directory: str | os.PathLike[str], path: str | os.PathLike[str]) -> str | None:
    """The file of a :class:`JsonlSink` on ``directory`` that ``path`` names (a kind's JSONL
    file, the lock or the identity file; symbolic links and ``..`` resolved), else None.
    A state file there would be appended to, cut back or locked as if it were the sink's own."""
    target = os.path.realpath(path)
    for name in (*(kind.filename for kind in LogKind), LOCK_FILE, ID_FILE):
        own = os.path.realpath(os.path.join(directory, name))
        if own == target:
            return own
    return None


def _read_identity(path: str) -> str | None:
    """An identity file's text (None: no file; "": empty). A file that is not short UTF-8 text
    without NUL is no identity this library wrote (it writes ``jsonl:<uuid>``, or for a directory
    from before identity files ``jsonl:<its path>``, which may hold any character a path can):
    a :class:`SinkError`, not a guess."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_ID_MAX + 1)
    except FileNotFoundError:
        return None
    try:
        ident = raw.decode("utf-8").removesuffix("\n")  # as written: a legacy path may end in a space
    except UnicodeDecodeError:
        ident = None
    if ident is None or len(raw) > _ID_MAX or "\x00" in ident:
        raise SinkError(
            f"{path} is not a JSONL output's identity file (not text): if it is not "
            "yours, move it away; a directory that holds records then needs the state that wrote them"
        )
    return ident


_ID_MAX = 8192  # jsonl: and a path of up to PATH_MAX bytes


def _sink_identity(directory: str) -> str:
    """Read (or make, durably) a JSONL output directory's identity file."""
    path = os.path.join(directory, ID_FILE)
    ident = _read_identity(path)
    if ident and not ident.isspace():
        return ident
    os.makedirs(directory, 0o777, True)
    legacy = any(os.path.exists(os.path.join(directory, kind.filename)) for kind in LogKind)
    # records written before identity files existed are known to their state by the path
    ident = f"jsonl:{directory}" if legacy else f"jsonl:{uuid.uuid4()}"
    tmp = f"{path}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(ident + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # complete, and only if absent: a concurrent maker's identity wins
        except FileExistsError:
            return _read_identity(path) or ident
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(directory)
    return ident
