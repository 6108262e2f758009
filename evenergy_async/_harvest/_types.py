"""Value types shared by the harvester, its state stores and its sinks."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice, repeat
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypeVar
from urllib.parse import unquote

import attrs

from .._converter import (
    JsonListDecoder,
    ListBodyDecoder,
    json_list_decoder,
    list_body_decoder,
    parse_timestamp,
    structure,
    structure_list,
    unstructure,
)
from .._errors import ResponseDecodeError
from .._models import VehicleAPIErrorLog, VehicleCommandLog, VehicleLocationLog, VehicleStatusLog
from .._sansio import decode_json

if TYPE_CHECKING:
    from .._client import EvEnergyClient
    from .._pagination import Paginator

__all__ = ["DEFAULT_KINDS", "HarvestBatch", "LogKind", "LogRecord", "PartitionState", "RecordFormat"]

LogRecord: TypeAlias = VehicleStatusLog | VehicleLocationLog | VehicleCommandLog | VehicleAPIErrorLog
"""One log record, as the client decodes it (every field may be missing)."""

RecordFormat: TypeAlias = Literal["typed", "wire", "json"]
"""How a batch carries its records: ``"typed"``, the client's log models; ``"wire"``, the JSON
objects as the server sent them (``dict``); ``"json"``, each record's JSON object as text
(``bytes``: UTF-8, one line), for sinks that store JSON text (see :class:`~._sinks.Sink`)."""

if TYPE_CHECKING:  # a default for the type checker only: a bare HarvestBatch holds models
    from typing_extensions import TypeVar as _TypeVarWithDefault

    R = _TypeVarWithDefault("R", default=LogRecord)
else:
    R = TypeVar("R")

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

    @property
    def model(self) -> type[LogRecord]:
        """The client's model of this kind's records."""
        return _MODELS[self]

    def paginator(
        self,
        client: EvEnergyClient,
        vehicle_id: str,
        *,
        since: datetime | None,
        until: datetime | None,
        page_size: int,
        record_format: RecordFormat = "typed",
    ) -> Paginator[Any]:
        """The list of this kind's logs: its items are the kind's models, decoded as the list
        operation decodes them (:func:`typed_records`); ``record_format="wire"``: the JSON
        objects as sent (checked by :func:`wire_records`), not models."""
        if self is LogKind.STATUS:
            p: Paginator[Any] = client.status_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        elif self is LogKind.LOCATION:
            p = client.location_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        elif self is LogKind.COMMAND:
            p = client.command_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        else:
            p = client.error_logs.list(vehicle_id, since=since, until=until, page_size=page_size)
        if record_format == "wire":
            p = p._with_structure(partial(wire_records, kind=self))
        elif record_format == "json":
            splitter = json_list_decoder(("url", self.time_field), present=("vehicle_id",))
            from_body = None if splitter is None else partial(json_records_from_body, decoder=splitter, kind=self)
            p = p._with_structure(partial(json_records, kind=self), from_body)
        else:
            decoder = list_body_decoder(self.model)
            from_body = None if decoder is None else partial(typed_records_from_body, decoder=decoder, kind=self)
            p = p._with_structure(partial(typed_records, kind=self), from_body)
        return p

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
_MODELS: dict[LogKind, type[LogRecord]] = {
    LogKind.STATUS: VehicleStatusLog,
    LogKind.LOCATION: VehicleLocationLog,
    LogKind.COMMAND: VehicleCommandLog,
    LogKind.ERROR: VehicleAPIErrorLog,
}


# -- wire records ------------------------------------------------------------------


class InstantPage(list):  # type: ignore[type-arg]
    """A list page's records (wire: the JSON objects as parsed, :func:`wire_records`; typed:
    the models, :func:`typed_records`), with ``url_instants``: each record's URL timestamp,
    when every URL is the same list URL plus ``/`` plus the record's own time field as sent
    (the API's usual page). Then :func:`_url_datetimes` would parse exactly these strings,
    and the instants parsed from the time fields (by the wire check, or by the decoder) are
    used instead. None otherwise (the URLs are parsed one by one).
    """

    __slots__ = ("own_vehicle_id", "url_instants", "wire")

    url_instants: list[datetime] | None
    wire: list[dict[str, Any]] | None  # json-format pages: the parsed objects, when at hand
    own_vehicle_id: bool  # json-format pages: whether a record has a "vehicle_id" key


def wire_records(data: Any, kind: LogKind) -> list[dict[str, Any]]:
    """A list page's records as the JSON objects the server sent, for a wire-format harvest.

    Checked as far as the harvester reads them, with the typed decoder's rules: the page is
    an array of objects, ``url`` a string or null, the kind's time field a timestamp string
    or null. A page that breaks them raises the :class:`ResponseDecodeError` that decoding
    it into models raises (same message and path); other fields are kept as sent (unknown
    ones too), unchecked.
    """
    tf = kind.time_field
    try:
        # the usual page: every record has both fields, as strings fromisoformat takes
        times = [r[tf] for r in data]  # TypeError for a non-object (a JSON array or scalar)
        dts = list(map(_fromiso, times))  # TypeError for a non-string, ValueError for a bad one
        urls = [r["url"] for r in data]
        joined = "\n".join(urls)  # TypeError unless every URL is a string
    except (KeyError, TypeError, ValueError):
        return _wire_records_checked(data, kind)
    page = InstantPage(data)
    page.url_instants = dts if _urls_are_times(urls, joined, times) else None
    return page


def _urls_are_times(urls: list[str], joined: str, times: list[str]) -> bool:
    """Is every URL ``<list URL>/<its time field>`` (``joined`` is the URLs joined by newline)?

    One comparison of two joined strings: with no newline in the list URL or the time
    fields, the expected string has one newline between URLs, so equal strings mean no URL
    holds one either and each URL equals its expected form. Its last segment is then the
    time field as written, unless that holds "/" (fromisoformat takes any separator between
    date and time), "%" or "?", which the URL parsing treats apart: those pages go the
    general way. False for an empty page.
    """
    if not urls:
        return False
    first, ts0 = urls[0], times[0]
    base = first[: len(first) - len(ts0)]
    tj = "".join(times)
    return (
        first.endswith(ts0)
        and base.endswith("/")
        and "\n" not in base
        and "\n" not in tj
        and "/" not in tj
        and "%" not in tj
        and "?" not in tj
        and joined == base + ("\n" + base).join(times)
    )


def typed_records(data: Any, kind: LogKind) -> list[Any]:
    """A list page's records as the kind's models (the list operation's own decoding), and,
    for the API's usual page, their URL timestamps without parsing a URL (:class:`InstantPage`)."""
    models = structure_list(data, kind.model)
    page = InstantPage(models)
    page.url_instants = None
    tf = kind.time_field
    try:
        times = [r[tf] for r in data]
        urls = [r["url"] for r in data]
        joined = "\n".join(urls)  # TypeError unless every URL is a string
        same = _urls_are_times(urls, joined, times)  # TypeError unless every time is a string
    except (KeyError, TypeError):
        return page
    if same:
        # the decoder's parse of each time field: the same string _url_micros would parse
        page.url_instants = list(map(operator.attrgetter(tf), models))
    return page


def typed_records_from_body(body: bytes, decoder: ListBodyDecoder, kind: LogKind) -> list[Any] | None:
    """:func:`typed_records` of a page's body bytes by the C decoder (the ``fast`` extra), or
    None when it declines (the page then goes the general way). The URL check reads the raw
    strings the decoder also returns, as :func:`typed_records` reads the parsed page's."""
    fast = decoder.decode(body)
    if fast is None:
        return None
    get_time = operator.attrgetter(kind.time_field)
    page = InstantPage(fast.items)
    page.url_instants = list(map(get_time, fast.items)) if _usual_strings(fast.fields, get_time) else None
    return page


_get_url = operator.attrgetter("url")


def _usual_strings(fields: list[Any], get_time: Callable[[Any], Any]) -> bool:
    """:func:`_urls_are_times` of the raw strings a C decoder read (``url`` and the time field
    of each record; False when one is null or missing)."""
    times = list(map(get_time, fields))
    urls = list(map(_get_url, fields))
    try:
        return _urls_are_times(urls, "\n".join(urls), times)  # TypeError for a null URL or time
    except TypeError:
        return False


def json_records(data: Any, kind: LogKind) -> list[bytes]:
    """A list page's records as JSON text, one ``bytes`` each (``record_format="json"``), from
    the parsed page: :func:`wire_records`' checks and instants, each object serialized once."""
    wire = wire_records(data, kind)
    page = InstantPage(dumps_each(wire))
    page.url_instants = wire.url_instants if wire.__class__ is InstantPage else None
    page.wire = wire
    page.own_vehicle_id = any(map(_contains, wire, repeat("vehicle_id")))
    return page


def json_records_from_body(body: bytes, decoder: JsonListDecoder, kind: LogKind) -> list[bytes] | None:
    """:func:`json_records` of the API's usual page straight from its body bytes (the C
    decoder of the ``fast`` extra): each record's text as the server wrote it, no object
    made. None for any other page (it then goes the general way): one whose URLs are not
    the list URL plus the time field as sent, or whose time fields ``fromisoformat`` refuses,
    or where a record has its own ``vehicle_id`` (rare: the parsed page tells which)."""
    split = decoder.decode(body)
    if split is None:
        return None
    texts, fields, present = split
    if present:
        return None
    get_time = operator.attrgetter(kind.time_field)
    if not _usual_strings(fields, get_time):
        return None
    try:
        dts = list(map(_fromiso, map(get_time, fields)))
    except ValueError:
        return None
    page = InstantPage(texts)
    page.url_instants = dts
    page.wire = None
    page.own_vehicle_id = False
    return page


def as_wire(records: Sequence[Any]) -> Sequence[Any]:
    """Records as :func:`record_time`, :func:`record_key` and :func:`page_keys` read them: JSON
    texts (``record_format="json"``) as their parsed objects, other records as they are."""
    if not records or records[0].__class__ is not bytes:
        return records
    wire = getattr(records, "wire", None)
    if wire is not None:
        return wire  # type: ignore[no-any-return]
    return _loads_text(b"[" + b",".join(records) + b"]")  # type: ignore[no-any-return]


def _loads_text(data: bytes) -> Any:
    """A JSON text the harvester holds (valid JSON: msgspec or a serializer made it), parsed.
    The stdlib takes what orjson refuses: a number beyond a double's range (``1e999``), which
    the C splitter passes through as the server wrote it."""
    try:
        return decode_json(data)
    except ValueError:
        return json.loads(data)


def _wire_records_checked(data: Any, kind: LogKind) -> list[dict[str, Any]]:
    if data.__class__ is not list:
        structure_list(data, kind.model)  # raises its "expected array" error
        raise ResponseDecodeError("expected array", path="$")  # pragma: no cover - it raised
    tf = kind.time_field
    for r in data:
        ok = r.__class__ is dict
        if ok:
            url = r.get("url")
            ok = url is None or url.__class__ is str
        if ok:
            value = r.get(tf)
            if value is not None:
                try:
                    ok = value.__class__ is str and parse_timestamp(value) is not None
                except ValueError:
                    ok = False
        if not ok:
            # the typed decoder's verdict and message: raises, unless only its slower rules
            # (which parse_timestamp shares) accept the page
            structure_list(data, kind.model)
            break
    return data


# -- timestamps and record keys -------------------------------------------------


def to_micros(dt: datetime) -> int:
    """Microseconds since the epoch (UTC) of an aware datetime (naive: assumed UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
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
    """A record's timestamp in microseconds: from its URL, else its time field, else None.

    ``record`` is a model or, in wire format, the JSON object (``dict``): the same record
    gives the same value either way (the time field's string is parsed as the decoder does).
    """
    if record.__class__ is bytes:
        record = _loads_text(record)
    if record.__class__ is dict:
        url = record.get("url")
        value = record.get(kind.time_field)
        if isinstance(value, str):
            try:
                value = parse_timestamp(value)
            except ValueError:  # not a timestamp: no record the decoder accepts has it
                value = None
    else:
        url = getattr(record, "url", None)
        value = getattr(record, kind.time_field, None)
    if isinstance(url, str):
        us = _url_micros(url)
        if us is not None:
            return us
    if isinstance(value, datetime):
        return to_micros(value)
    return None


_fromiso = datetime.fromisoformat


def _url_datetimes(records: Sequence[Any]) -> list[datetime] | None:
    """``fromisoformat`` of each record's URL's last segment, for the common page only.

    None unless every record has a ``str`` URL whose last segment has no ``%`` escape or
    query and parses. ``fromisoformat`` accepts only strings starting with an ASCII digit,
    so these are exactly the segments :func:`_url_micros` parses on its first try: for an
    aware result, ``to_micros`` of it is :func:`record_time`.
    """
    if records.__class__ is InstantPage and records.url_instants is not None:
        return records.url_instants
    try:
        if records and records[0].__class__ is dict:  # wire format
            segments = [record["url"].rstrip("/").rpartition("/")[2] for record in records]
        else:
            segments = [record.url.rstrip("/").rpartition("/")[2] for record in records]
        joined = "".join(segments)
        if "%" in joined or "?" in joined:  # unquote() and the "?" cut would change them
            return None
        return list(map(_fromiso, segments))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None  # a record without a str URL, a segment that is not a timestamp...


def _micros_list(dts: Iterable[datetime]) -> list[int]:
    """``to_micros`` of aware datetimes (a TypeError for a naive one)."""
    deltas = map(operator.sub, dts, repeat(_EPOCH))
    return [(d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds for d in deltas]


def page_times(
    records: Sequence[Any], kind: LogKind, instants: Sequence[datetime] | None = None
) -> list[int | None]:
    """:func:`record_time` of every record of a page: the same values, computed in bulk.

    The common page (see :func:`_url_datetimes`, all aware) goes through C-level maps; any
    other page is done record by record by :func:`record_time` itself. ``instants``: the
    records' URL timestamps, already parsed (:attr:`HarvestBatch.instants`).
    """
    dts = instants if instants is not None and len(instants) == len(records) else None
    if dts is None:
        if records.__class__ is not InstantPage or records.url_instants is None:
            records = as_wire(records)  # JSON texts: their objects
        dts = _url_datetimes(records)
    if dts is not None:
        try:
            return list(_micros_list(dts))
        except TypeError:  # a naive timestamp: record_time's job
            pass
    return [record_time(record, kind) for record in records]


def page_keys(records: Sequence[Any], kind: LogKind) -> tuple[list[str], list[int | None]]:
    """:func:`record_key` and :func:`record_time` of every record of a page (same values)."""
    records = as_wire(records)
    times = page_times(records, kind)
    try:
        keys = ["t:%d" % ts for ts in times]  # type: ignore[str-format]  # noqa: UP031 - fastest
    except TypeError:  # some record has no timestamp (None)
        keys = [f"t:{ts}" if ts is not None else _untimed_key(r, kind) for r, ts in zip(records, times, strict=True)]
    return keys, times


def page_instants(records: Sequence[Any]) -> list[datetime] | None:
    """The URL timestamps of a page if each is aware and the page is strictly newest first.

    Then every record's key is ``t:<to_micros of its instant>`` (:func:`record_key`), the
    keys are distinct, and comparing instants compares keys: the harvester's dedup checks
    need no key at all. None for any other page (it takes the record-by-record path).
    """
    dts = _url_datetimes(records)
    if not dts:
        return dts
    if dts[0].tzinfo is None:
        return None  # naive: record_time takes it as UTC, record by record
    try:
        # strictly decreasing instants (comparing naive with aware raises TypeError)
        if all(map(operator.gt, dts, islice(dts, 1, None))):
            return dts
    except TypeError:
        pass
    return None


def instant_keys(dts: Sequence[datetime]) -> list[str]:
    """``t:<micros>`` of aware instants: the keys :func:`record_key` gives their records."""
    return ["t:%d" % us for us in _micros_list(dts)]  # noqa: UP031


def time_key_micros(keys: Iterable[str]) -> list[int]:
    """The microseconds of the keys that :func:`record_key` can produce as ``t:<micros>``.

    Other keys (``u:``/``h:``, or text no ``t:`` key of a timestamp can equal) are left out:
    none of them can equal the key of a record that has a timestamp.
    """
    out: list[int] = []
    for key in keys:
        if key[:2] == "t:":
            try:
                us = int(key[2:])
            except ValueError:
                continue
            if f"t:{us}" == key:  # canonical: "t:007", "t:+7", "t: 7" are no record's key
                out.append(us)
    return out


class LazyKeys:
    """The keys of a page of :func:`page_instants`, formatted only if someone reads them.

    Held in :attr:`PartitionState.boundary_keys`' slot; reading the attribute turns it into
    the tuple :func:`instant_keys` gives (see ``_BoundaryKeysSlot``). Nothing else sees it.
    """

    __slots__ = ("_dts",)

    def __init__(self, dts: Sequence[datetime]) -> None:
        self._dts = dts

    def keys(self) -> tuple[str, ...]:
        return tuple(instant_keys(self._dts))


def _untimed_key(record: Any, kind: LogKind) -> str:
    if record.__class__ is bytes:
        record = _loads_text(record)
    if record.__class__ is dict:
        url = record.get("url")
        if isinstance(url, str) and url:
            return f"u:{url}"
        return f"h:{content_hash(canonical_wire(record, kind))}"
    url = getattr(record, "url", None)
    if isinstance(url, str) and url:
        return f"u:{url}"
    return f"h:{content_hash(record)}"


def canonical_wire(record: dict[str, Any], kind: LogKind) -> dict[str, Any]:
    """A wire record as its model encodes it (what :func:`content_hash` of the model hashes):
    known fields only, every one present, timestamps in the API's UTC spelling. A record
    the model refuses is returned as it is (no model of it exists to agree with)."""
    try:
        data: dict[str, Any] = unstructure(structure(record, kind.model))
    except ResponseDecodeError:
        return record
    return data


def content_hash(record: Any) -> str:
    """A hash of a record's content: a model's wire form, or a JSON object as it is (give
    :func:`canonical_wire` of a wire record for the hash its model has)."""
    data = record if isinstance(record, dict) else unstructure(record)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.blake2b(blob, digest_size=16).hexdigest()


def record_key(record: Any, kind: LogKind, ts: int | None = None) -> str:
    """A key identifying a record within its (vehicle, kind) partition.

    ``t:<micros>`` from the URL's or the time field's timestamp (unique per vehicle and kind),
    else ``u:<url>``, else ``h:<hash of the content>`` for a record without either. A model
    and its wire form (the JSON object) have the same key.
    """
    if ts is None:
        ts = record_time(record, kind)
    if ts is not None:
        return f"t:{ts}"
    return _untimed_key(record, kind)


# -- state ------------------------------------------------------------------------


@attrs.frozen(slots=True)
class PartitionState:
    """What the harvester remembers about one (vehicle, kind) partition.

    A partition is identified by what identifies its data, the vehicle and the kind,
    whichever token fetched it: ``token`` only says which token label fetched it last
    (informative; reordering, adding, removing or rotating tokens changes nothing).

    ``watermark`` (microseconds, UTC) is the upper bound of the last *completed* pass: every
    record at or before it that the server listed then has been delivered. ``tail_keys``
    are the keys of the records that pass delivered at or after ``watermark - overlap``
    (the next pass re-reads that overlap and drops these). While a pass is running,
    ``cursor`` is the next page's URL, ``pass_until``/``pass_since`` its bounds,
    ``pass_tail_keys`` the overlap keys collected so far (``pass_tail_open`` until a record
    older than the overlap was seen) and ``boundary_keys`` the keys of the last delivered
    page (a record repeated at a page boundary is dropped).

    ``covered_since`` (meaningful once ``watermark`` is set) is the lower bound of what the
    completed passes delivered: every record in ``[covered_since, watermark]`` that the server
    listed then; None means from the beginning (also what a state written before this field
    existed is taken to mean). A run whose ``since`` is earlier first runs a *backfill* pass
    (``pass_backfill``) over ``[since, covered_since)``, which lowers ``covered_since`` when it
    completes and leaves the watermark and tail alone.
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
    covered_since: int | None = None
    pass_backfill: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """``(vehicle_id, kind)``: what a state store keys the partition by."""
        return (self.vehicle_id, self.kind.value)

    @property
    def in_progress(self) -> bool:
        return self.pass_until is not None

    @property
    def watermark_datetime(self) -> datetime | None:
        return from_micros(self.watermark) if self.watermark is not None else None


class _BoundaryKeysSlot:
    """``PartitionState.boundary_keys``: the slot, read as a tuple even when it holds LazyKeys.

    The harvester stores a page's keys unformatted (LazyKeys) in the state it attaches to
    each batch, as most states are superseded by the next page's before anyone reads them;
    the first read (a state store writing it, a resumed pass, ``==``, ``repr``, pickling,
    ``attrs.evolve``/``asdict``) formats them and keeps the tuple. Every read sees a tuple.
    """

    def __init__(self, slot: Any) -> None:
        self._slot = slot  # the member descriptor attrs' slotted class made

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        value = self._slot.__get__(obj, objtype)
        if value.__class__ is LazyKeys:
            value = value.keys()
            self._slot.__set__(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self._slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self._slot.__delete__(obj)


_BOUNDARY_SLOT = _BoundaryKeysSlot(PartitionState.__dict__["boundary_keys"])
setattr(PartitionState, "boundary_keys", _BOUNDARY_SLOT)  # noqa: B010 - replaces the slot's descriptor


def with_lazy_boundary(state: PartitionState, keys: LazyKeys) -> PartitionState:
    """``state`` (just made, not yet shared) with ``keys`` as its boundary keys, unformatted."""
    _BOUNDARY_SLOT.__set__(state, keys)
    return state


try:  # optional speed-up (the ``fast`` extra)
    import orjson

    _dumps: Any = orjson.dumps
    _DumpsError: type[Exception] = orjson.JSONEncodeError
except ImportError:  # pragma: no cover - exercised only without orjson
    orjson = None  # type: ignore[assignment]
    _DumpsError = ValueError

    def _dumps(data: Any) -> bytes:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


_contains = operator.contains
_tail = operator.itemgetter(slice(1, None))  # a JSON object's text after its "{"


def dumps_json(data: Any) -> bytes:
    """Compact JSON bytes (orjson when installed, else the stdlib). Text orjson refuses (a
    lone surrogate from the stdlib parser) is written with ``\\u`` escapes instead."""
    try:
        return _dumps(data)  # type: ignore[no-any-return]
    except (_DumpsError, TypeError, ValueError, UnicodeEncodeError):
        return json.dumps(data, separators=(",", ":"), default=str).encode()


def dumps_each(items: Iterable[Any]) -> list[bytes]:
    """:func:`dumps_json` of each item: one C-level map over them, the careful way only for a
    sequence that holds text orjson refuses."""
    items = items if isinstance(items, (list, tuple)) else list(items)
    try:
        return list(map(_dumps, items))
    except (_DumpsError, TypeError, ValueError, UnicodeEncodeError):
        return [dumps_json(item) for item in items]


@attrs.frozen(slots=True)
class HarvestBatch(Generic[R]):
    """One page worth of new records of one vehicle and kind (newest first).

    ``records`` are the client's log models (``record_format == "typed"``), or, for a sink
    that declares ``record_format = "wire"``, the JSON objects as the server sent them
    (``dict``; see :class:`~._sinks.Sink`). Duplicates (overlap with an earlier run, a
    record repeated at a page boundary) are already dropped, so a batch may be empty: it
    then only advances the state (``last`` marks the partition's final page). ``state`` is
    what gets committed once the batch is delivered. ``instants``: each record's URL
    timestamp (aware), when the harvester already has them (the API's usual page), else None;
    a sink that stores records by time (``PostgresSink``) reads them from there instead of
    parsing every URL again (:func:`page_times`). ``own_vehicle_id`` (``record_format ==
    "json"``): whether some record's text has a ``vehicle_id`` key of its own (None: not
    known; :meth:`jsonl_chunks` then looks).
    """

    token: str
    vehicle_id: str
    kind: LogKind
    records: tuple[R, ...] = attrs.field(repr=lambda r: f"<{len(r)} records>")
    page_url: str | None
    last: bool
    state: PartitionState = attrs.field(repr=False)
    record_format: RecordFormat = "typed"
    instants: Sequence[datetime] | None = attrs.field(default=None, repr=False, eq=False)
    own_vehicle_id: bool | None = attrs.field(default=None, repr=False, eq=False)

    def __len__(self) -> int:
        return len(self.records)

    def dicts(self) -> list[dict[str, Any]]:
        """The records as JSON-able dicts (wire form), each with ``vehicle_id`` added first."""
        out: list[dict[str, Any]] = []
        vid = self.vehicle_id
        wire = self.record_format != "typed"
        for record in as_wire(self.records) if self.record_format == "json" else self.records:
            data: Any = record if wire else unstructure(record)
            row: dict[str, Any] = {"vehicle_id": vid}
            row.update(data)
            row["vehicle_id"] = vid
            out.append(row)
        return out

    def record_json(self) -> list[bytes]:
        """Each record serialized once, as compact JSON bytes (for a sink storing JSON, e.g.
        a ``jsonb`` column): a wire record as sent, a model in its wire form, a JSON text as it is."""
        if self.record_format == "json":
            return list(self.records)  # type: ignore[arg-type]  # R is bytes here
        return dumps_each(self.records if self.record_format == "wire" else map(unstructure, self.records))

    def jsonl(self) -> bytes:
        """The batch as JSON lines: each record with ``vehicle_id`` added first, one per line
        (each line ends with a newline; empty bytes for an empty batch)."""
        return b"".join(self.jsonl_chunks())

    def jsonl_chunks(self) -> list[bytes]:
        """:meth:`jsonl` as pieces to write one after the other (no copy of the whole)."""
        records: tuple[Any, ...] = self.records
        if not records:
            return []
        # each line is the prefix plus the record's JSON text after its "{": the lines are the
        # texts' tails joined by newline-and-prefix (JSON texts as they are, wire objects once
        # serialized)
        texts: Iterable[bytes] | None = None
        if self.record_format == "json":
            if b"{}" not in records and (
                self.own_vehicle_id is False
                or (self.own_vehicle_id is None and not any(map(_contains, records, repeat(b'"vehicle_id"'))))
            ):
                texts = records
        elif self.record_format == "wire" and all(records) and not any(map(_contains, records, repeat("vehicle_id"))):
            with contextlib.suppress(_DumpsError, TypeError, ValueError, UnicodeEncodeError):
                texts = list(map(_dumps, records))  # not for text orjson refuses: the general path below
        if texts is not None:
            head = b'{"vehicle_id":' + dumps_json(self.vehicle_id) + b","
            return [head, (b"\n" + head).join(map(_tail, texts)), b"\n"]
        # a typed batch, a record with its own vehicle_id (ours wins, as in typed form), an
        # empty one, or text orjson refuses
        return [b"\n".join([dumps_json(row) for row in self.dicts()]), b"\n"]
