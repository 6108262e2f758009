"""Value types shared by the harvester, its state stores and its sinks."""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote

import attrs

from .._converter import parse_timestamp, unstructure
from .._models import VehicleAPIErrorLog, VehicleCommandLog, VehicleLocationLog, VehicleStatusLog

if TYPE_CHECKING:
    from .._client import EvEnergyClient
    from .._pagination import Paginator

__all__ = ["DEFAULT_KINDS", "HarvestBatch", "LogKind", "LogRecord", "PartitionState"]

LogRecord: TypeAlias = VehicleStatusLog | VehicleLocationLog | VehicleCommandLog | VehicleAPIErrorLog
"""One log record, as the client decodes it (every field may be missing)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LogKind(enum.StrEnum):
    """The four vehicle log kinds the harvester can fetch."""

    STATUS = "status"
    LOCATION = "location"
    COMMAND = "command"
    ERROR = "error"

    @property
    def endpoint(self) -> str:
        """The path segment and JSONL file stem: ``status_logs``..."""
        return f"{self.value}_logs"

    @property
    def filename(self) -> str:
        """The JSONL file the :class:`JsonlSink` writes this kind to."""
        return f"{self.value}_logs.jsonl"

    @property
    def time_field(self) -> str:
        """The record field the API filters and orders this kind by."""
        return "sampled_at" if self in (LogKind.STATUS, LogKind.LOCATION) else "logged_at"

    def paginator(
        self,
        client: EvEnergyClient,
        vehicle_id: str,
        *,
        since: datetime | None,
        until: datetime | None,
        page_size: int,
    ) -> Paginator[Any]:
        if self is LogKind.STATUS:
            return client.status_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        if self is LogKind.LOCATION:
            return client.location_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        if self is LogKind.COMMAND:
            return client.command_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        return client.error_logs.list(vehicle_id, since=since, until=until, page_size=page_size)

    @classmethod
    def parse_list(cls, value: str | Iterable[str | LogKind]) -> tuple[LogKind, ...]:
        """``"status,location"`` or an iterable of names -> kinds (order kept, no repeats)."""
        items = value.split(",") if isinstance(value, str) else list(value)
        out: list[LogKind] = []
        for item in items:
            name = item.strip().lower() if isinstance(item, str) else item.value
            if not name:
                continue  # "status," or ""
            if name.endswith("_logs"):
                name = name[: -len("_logs")]
            try:
                kind = cls(name)
            except ValueError:
                known = ", ".join(k.value for k in cls)
                raise ValueError(f"unknown log kind {item!r}; known: {known}") from None
            if kind not in out:
                out.append(kind)
        if not out:
            raise ValueError("no log kinds given")
        return tuple(out)


DEFAULT_KINDS: tuple[LogKind, ...] = (LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND)


# -- timestamps and record keys -------------------------------------------------


def to_micros(dt: datetime) -> int:
    """Microseconds since the epoch (UTC) of an aware datetime (naive: assumed UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=us)


def _url_micros(url: str) -> int | None:
    """The timestamp in a log record's URL (``.../status_logs/<ts>``), if it parses."""
    segment = url.rstrip("/").rsplit("/", 1)[-1]
    segment = unquote(segment.split("?", 1)[0])
    if not segment or not segment[:1].isdigit():
        return None
    try:
        return to_micros(parse_timestamp(segment))
    except Exception:  # a malformed URL never breaks a harvest: fall back to other keys
        return None


def record_time(record: Any, kind: LogKind) -> int | None:
    """A record's timestamp in microseconds: from its URL, else its time field, else None."""
    url = getattr(record, "url", None)
    if isinstance(url, str):
        us = _url_micros(url)
        if us is not None:
            return us
    value = getattr(record, kind.time_field, None)
    if isinstance(value, datetime):
        return to_micros(value)
    return None


def content_hash(record: Any) -> str:
    data = record if isinstance(record, dict) else unstructure(record)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def record_key(record: Any, kind: LogKind, ts: int | None = None) -> str:
    """A key identifying a record within its (vehicle, kind) partition.

    ``t:<micros>`` from the URL's or the time field's timestamp (unique per vehicle and kind),
    else ``u:<url>``, else ``h:<hash of the content>`` for a record without either.
    """
    if ts is None:
        ts = record_time(record, kind)
    if ts is not None:
        return f"t:{ts}"
    url = getattr(record, "url", None)
    if isinstance(url, str) and url:
        return f"u:{url}"
    return f"h:{content_hash(record)}"


# -- state ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class PartitionState:
    """What the harvester remembers about one (token, vehicle, kind) partition.

    ``watermark`` (microseconds, UTC) is the upper bound of the last *completed* pass: every
    record at or before it that the server listed then has been delivered. ``tail_keys``
    are the keys of the records that pass delivered at or after ``watermark - overlap``
    (the next pass re-reads that overlap and drops these). While a pass is running,
    ``cursor`` is the next page's URL, ``pass_until``/``pass_since`` its bounds,
    ``pass_tail_keys`` the overlap keys collected so far (``pass_tail_open`` until a record
    older than the overlap was seen) and ``boundary_keys`` the keys of the last delivered
    page (a record repeated at a page boundary is dropped).
    """

    token: str
    vehicle_id: str
    kind: LogKind = attrs.field(converter=LogKind)
    watermark: int | None = None
    tail_keys: tuple[str, ...] = ()
    cursor: str | None = None
    pass_until: int | None = None
    pass_since: int | None = None
    pass_tail_keys: tuple[str, ...] = ()
    pass_tail_open: bool = True
    boundary_keys: tuple[str, ...] = ()
    records: int = 0
    passes: int = 0

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.token, self.vehicle_id, self.kind.value)

    @property
    def in_progress(self) -> bool:
        return self.pass_until is not None

    @property
    def watermark_datetime(self) -> datetime | None:
        return from_micros(self.watermark) if self.watermark is not None else None


@attrs.frozen(slots=True)
class HarvestBatch:
    """One page worth of new records of one vehicle and kind (newest first).

    ``records`` are the client's log models; duplicates (overlap with an earlier run, a
    record repeated at a page boundary) are already dropped, so a batch may be empty: it
    then only advances the state (``last`` marks the partition's final page). ``state`` is
    what gets committed once the batch is delivered.
    """

    token: str
    vehicle_id: str
    kind: LogKind
    records: tuple[LogRecord, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    page_url: str | None
    last: bool
    state: PartitionState = attrs.field(repr=False)

    def __len__(self) -> int:
        return len(self.records)

    def dicts(self) -> list[dict[str, Any]]:
        """The records as JSON-able dicts (wire form), each with ``vehicle_id`` added first."""
        out: list[dict[str, Any]] = []
        for record in self.records:
            data = unstructure(record)
            row: dict[str, Any] = {"vehicle_id": self.vehicle_id}
            row.update(data)
            out.append(row)
        return out
