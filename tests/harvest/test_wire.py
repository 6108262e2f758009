"""The wire record path: sinks that store JSON get the server's objects, keyed like models.

A sink declaring ``record_format = "wire"`` gets batches of the JSON objects as the server
sent them; one declaring ``"json"`` (the JSONL and PostgreSQL sinks do) their texts. Their keys and timestamps must equal the typed path's for
the same record, whatever the spelling, so state files written by either path work with the
other and exactly-once holds across them; their checks must refuse what the typed decoder
refuses in the fields the harvester reads, with the same error; and their JSON lines must be
the server's objects with ``vehicle_id`` added.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evenergy_async import EvEnergyClient, ResponseDecodeError
from evenergy_async._converter import json_list_decoder, parse_timestamp, structure, structure_list, unstructure
from evenergy_async._harvest import (
    HarvestBatch,
    Harvester,
    JsonlSink,
    LogKind,
    MemorySink,
    MemoryStateStore,
    PartitionState,
    PostgresSink,
)
from evenergy_async._harvest._types import (
    InstantPage,
    content_hash,
    json_records,
    json_records_from_body,
    page_instants,
    page_keys,
    page_times,
    record_key,
    record_time,
    to_micros,
    typed_records,
    wire_records,
)
from evenergy_async.simulator import Simulator

from .conftest import expected_lines, harvested_lines

VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
BASE = "https://api.ev.energy/v2"


def _spell(dt: datetime, form: int) -> str:
    """One instant in the spellings the decoder accepts."""
    forms = [
        lambda: dt.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        lambda: dt.isoformat(),
        lambda: dt.astimezone(UTC).replace(tzinfo=None).isoformat(),  # naive: UTC
        lambda: dt.astimezone(UTC).strftime("%Y-%m-%dt%H:%M:%S.%f123z"),  # lowercase, 9 digits
        lambda: dt.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ"),  # basic format
        lambda: dt.astimezone(timezone(timedelta(hours=-3, minutes=-30))).strftime("%Y-%m-%d %H:%M:%S,%f-03:30"),
        lambda: dt.astimezone(timezone(timedelta(hours=14))).isoformat(timespec="seconds")
        if dt.microsecond == 0
        else dt.astimezone(timezone(timedelta(hours=14))).isoformat(),
    ]
    return forms[form]()


instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
kinds = st.sampled_from(list(LogKind))


@st.composite
def wire_record(draw: Any, kind: LogKind) -> dict[str, Any]:
    """A record as a server might send it: URL and time field present, absent, null or odd."""
    out: dict[str, Any] = {}
    dt = draw(instants)
    ts = _spell(dt, draw(st.integers(0, 6)))
    url_form = draw(st.integers(0, 5))
    if url_form == 0:
        out["url"] = f"{BASE}/vehicles/{VID}/{kind.endpoint}/{ts}"
    elif url_form == 1:
        out["url"] = f"{BASE}/vehicles/{VID}/{kind.endpoint}/{ts.replace(':', '%3A')}/"
    elif url_form == 2:
        out["url"] = f"{BASE}/vehicles/{VID}/{kind.endpoint}/not-a-time"
    elif url_form == 3:
        out["url"] = None
    elif url_form == 4:
        out["url"] = ""
    field = draw(st.integers(0, 2))
    if field == 0:
        out[kind.time_field] = _spell(dt + timedelta(seconds=draw(st.integers(0, 5))), draw(st.integers(0, 6)))
    elif field == 1:
        out[kind.time_field] = None
    if draw(st.booleans()):
        out["an_unknown_field"] = draw(st.none() | st.integers() | st.text(max_size=3))
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), kind=kinds)
def test_a_wire_record_has_its_models_time_and_key(data: Any, kind: LogKind) -> None:
    page = data.draw(st.lists(wire_record(kind), max_size=6))
    assert wire_records(page, kind) == page  # valid for the decoder: passes as it is
    models = structure_list(page, kind.model)
    for wire, model in zip(page, models, strict=True):
        assert record_time(wire, kind) == record_time(model, kind)
        assert record_key(wire, kind) == record_key(model, kind)
    assert page_keys(page, kind) == page_keys(models, kind)
    wire_instants, model_instants = page_instants(page), page_instants(models)
    assert (wire_instants is None) == (model_instants is None)
    if wire_instants is not None and model_instants is not None:
        assert [to_micros(d) for d in wire_instants] == [to_micros(d) for d in model_instants]
    # the same records as JSON texts (record_format="json"), from the parsed page or the body
    body = json.dumps(page).encode()
    texts = json_records(page, kind)
    assert [json.loads(t) for t in texts] == page
    assert page_keys(texts, kind) == page_keys(page, kind)
    assert page_keys(tuple(texts), kind) == page_keys(page, kind)  # without the page's objects at hand
    assert [record_key(t, kind) for t in texts] == [record_key(w, kind) for w in page]
    splitter = json_list_decoder(("url", kind.time_field), present=("vehicle_id",))
    assert splitter is not None
    fast = json_records_from_body(body, splitter, kind)
    if fast is not None:  # the usual page: the server's texts, and the same instants
        assert [json.loads(t) for t in fast] == page
        assert isinstance(fast, InstantPage) and fast.url_instants == texts.url_instants  # type: ignore[attr-defined]
        assert page_keys(fast, kind) == page_keys(page, kind)


def test_sparse_records_are_keyed_by_url_or_by_their_models_content() -> None:
    kind = LogKind.STATUS
    sparse = [
        {},
        {"url": None, "sampled_at": None},
        {"is_charging": True, "unknown": 1},  # the unknown field is not part of the model's hash
        {"url": f"{BASE}/vehicles/{VID}/status_logs/x"},
    ]
    for wire in sparse:
        model = structure(wire, kind.model)
        assert record_key(wire, kind) == record_key(model, kind)
    assert record_key(sparse[0], kind) == record_key(sparse[1], kind)  # both encode to all-null
    assert record_key(sparse[2], kind) == f"h:{content_hash(model_dict(sparse[2], kind))}"
    assert record_key(sparse[3], kind) == f"u:{BASE}/vehicles/{VID}/status_logs/x"


def model_dict(wire: dict[str, Any], kind: LogKind) -> dict[str, Any]:
    data: dict[str, Any] = unstructure(structure(wire, kind.model))
    return data


@pytest.mark.parametrize(
    "page",
    [
        {"not": "a list"},
        "text",
        None,
        [1],
        [[]],
        [{"url": 5}],
        [{"url": "x", "sampled_at": 17}],
        [{"sampled_at": "yesterday"}],
        [{"sampled_at": "2026-11-01T09:39:45Z"}, {"sampled_at": "2026-13-01T00:00:00Z"}],
        [{"sampled_at": "2026-11-01T09:39:45Z" + "0" * 100}],
    ],
)
def test_wire_pages_the_decoder_refuses_fail_with_its_error(page: Any) -> None:
    with pytest.raises(ResponseDecodeError) as typed:
        structure_list(page, LogKind.STATUS.model)
    with pytest.raises(ResponseDecodeError) as wire:
        wire_records(page, LogKind.STATUS)
    assert (str(wire.value), wire.value.path) == (str(typed.value), typed.value.path)


def test_wire_pages_are_checked_only_in_the_fields_the_harvester_reads() -> None:
    # an odd but valid timestamp (only parse_timestamp's fallback takes it) passes, as typed
    odd = [{"url": None, "sampled_at": "2026-11-01t09:39:45.123456789z"}]
    assert wire_records(odd, LogKind.STATUS) == odd
    # a field the harvester does not read is kept as sent, even where the model disagrees
    loose = [{"sampled_at": "2026-11-01T09:39:45Z", "is_charging": "yes"}]
    assert wire_records(loose, LogKind.STATUS) == loose
    # command logs are keyed by logged_at: sampled_at is not read there
    assert wire_records([{"logged_at": None, "sampled_at": 3}], LogKind.COMMAND) == [
        {"logged_at": None, "sampled_at": 3}
    ]


def test_the_usual_page_reuses_the_time_fields_instants_for_its_urls() -> None:
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    times = ["2026-11-01T09:39:45.000002Z", "2026-11-01T09:39:45.000001Z"]
    usual = wire_records([{"url": base + t, "sampled_at": t} for t in times], LogKind.STATUS)
    assert isinstance(usual, InstantPage) and usual.url_instants == [parse_timestamp(t) for t in times]
    assert page_instants(usual) is usual.url_instants
    for odd in (
        [{"url": base + t + "/", "sampled_at": t} for t in times],  # trailing slash
        [{"url": base + times[0], "sampled_at": times[0]}, {"url": base + "x/" + times[1], "sampled_at": times[1]}],
        [{"url": base + t, "sampled_at": t.replace("T", "/")} for t in times],  # not the URL's segment
        [{"url": base + t.replace("T", "/"), "sampled_at": t.replace("T", "/")} for t in times],
        [{"url": base + t.replace("T", "?"), "sampled_at": t.replace("T", "?")} for t in times],  # URL: a date
        [{"url": base + times[0] + "\n" + base + times[1], "sampled_at": times[0]}, {"url": "", "sampled_at": times[1]}],
    ):
        page = wire_records(odd, LogKind.STATUS)
        assert page == odd and getattr(page, "url_instants", None) is None
        models = structure_list(odd, LogKind.STATUS.model)
        assert page_keys(page, LogKind.STATUS) == page_keys(models, LogKind.STATUS)


def test_the_typed_usual_page_takes_its_url_instants_from_the_decoded_time_fields() -> None:
    # a typed harvest keys its records without parsing their URLs, and with the same keys
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    times = ["2026-11-01T09:39:45.000002Z", "2026-11-01T09:39:45.000001"]  # the second naive: UTC
    data = [{"url": base + t, "sampled_at": t} for t in times]
    usual = typed_records(data, LogKind.STATUS)
    models = structure_list(data, LogKind.STATUS.model)
    assert isinstance(usual, InstantPage) and usual == models
    assert usual.url_instants == [parse_timestamp(t) for t in times]
    assert page_instants(usual) is usual.url_instants
    assert page_keys(usual, LogKind.STATUS) == page_keys(models, LogKind.STATUS)
    for odd in (
        [{"url": base + t + "/", "sampled_at": t} for t in times],  # trailing slash
        [{"url": base + t.replace("Z", "+00:00"), "sampled_at": t} for t in times],  # same instant, other text
        [{"url": base + times[0], "sampled_at": times[0]}, {"url": base + "x/" + times[1], "sampled_at": times[1]}],
        [{"url": base + t, "sampled_at": t.replace("T", "/")} for t in times],  # not the URL's segment
        [{"url": base + t.replace("T", "/"), "sampled_at": t.replace("T", "/")} for t in times],
        [{"url": None, "sampled_at": t} for t in times],
        [{"url": base + t, "sampled_at": None} for t in times],
        [{"url": base + t} for t in times],  # no time field
    ):
        page = typed_records(odd, LogKind.STATUS)
        models = structure_list(odd, LogKind.STATUS.model)
        assert page == models and page.url_instants is None
        assert page_keys(page, LogKind.STATUS) == page_keys(models, LogKind.STATUS)
    # what the typed decoder refuses, it refuses here: same error, same path
    for bad in ({"url": "x"}, [{"url": 3}], [{"sampled_at": "yesterday"}]):
        with pytest.raises(ResponseDecodeError) as typed:
            structure_list(bad, LogKind.STATUS.model)
        with pytest.raises(ResponseDecodeError) as ours:
            typed_records(bad, LogKind.STATUS)
        assert (str(ours.value), ours.value.path) == (str(typed.value), typed.value.path)


class _KeepBatches:
    """A sink that keeps the batches themselves."""

    sink_id = "keep"

    def __init__(self, record_format: str) -> None:
        self.record_format = record_format
        self.batches: list[HarvestBatch[Any]] = []

    async def recover(self, checkpoint: str | None) -> None:
        return None

    async def write(self, batch: HarvestBatch[Any]) -> None:
        self.batches.append(batch)

    async def commit(self) -> str | None:
        return None

    async def close(self) -> None:
        return None


@pytest.mark.parametrize("fmt", ["json", "wire", "typed"])
async def test_batches_carry_the_url_instants_of_their_records(sim: Simulator, clients: list[EvEnergyClient], fmt: str) -> None:
    """A batch whose records are its whole usual page carries their URL instants (a sink keying
    by time reads them instead of the URLs); they give every record's own time. A re-run's
    pages, whose old records are dropped, carry none."""
    state = MemoryStateStore()
    runs: list[list[HarvestBatch[Any]]] = []
    for _ in range(2):
        sink = _KeepBatches(fmt)
        async with Harvester(clients[0], kinds="status,command", state=state, page_size=7) as h:
            assert (await h.run(sink)).complete
        runs.append(sink.batches)
    first, again = runs
    assert sum(len(b.records) for b in first) > 0 and sum(len(b.records) for b in again) == 0
    assert [b for b in first if b.instants is not None and b.records]  # the usual pages
    for b in first + again:
        times = [record_time(r, b.kind) for r in b.records]
        if b.instants is not None:
            assert len(b.instants) == len(b.records) > 0
            assert [to_micros(dt) for dt in b.instants] == times
            assert page_times(b.records, b.kind, b.instants) == times
    assert all(b.instants is None for b in again)
    # instants that do not match the records in number are not used
    b = next(b for b in first if b.instants is not None and len(b.records) > 1)
    assert page_times(b.records, b.kind, b.instants[1:]) == [record_time(r, b.kind) for r in b.records]
    # a naive instant (a URL time without an offset: UTC) gives the records' own times too
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    times = ["2026-11-01T09:39:45.000002", "2026-11-01T09:39:45.000001+02:00"]
    page = wire_records([{"url": base + t, "sampled_at": t} for t in times], LogKind.STATUS)
    assert isinstance(page, InstantPage) and page.url_instants is not None
    assert page.url_instants[0].tzinfo is None
    expected = [record_time(r, LogKind.STATUS) for r in page]
    assert page_times(tuple(page), LogKind.STATUS, page.url_instants) == expected
    assert expected[0] == to_micros(datetime(2026, 11, 1, 9, 39, 45, 2, tzinfo=UTC))


def _batch(records: tuple[Any, ...], fmt: str = "wire", vid: str = VID) -> HarvestBatch[Any]:
    state = PartitionState(token="t", vehicle_id=vid, kind=LogKind.STATUS)
    return HarvestBatch(
        token="t", vehicle_id=vid, kind=LogKind.STATUS, records=records, page_url=None, last=False, state=state,
        record_format=fmt,  # type: ignore[arg-type]
    )


def test_jsonl_lines_are_the_records_with_vehicle_id_first() -> None:
    records = (
        {"url": "u1", "sampled_at": "2026-11-01T09:39:45Z", "x": [1, None, "é"]},
        {},  # an empty object
        {"vehicle_id": "spoofed", "url": "u2"},  # ours wins, as in the typed form
        {"url": "u3", "nested": {"a": {"b": 1.5}}},
    )
    data = _batch(records).jsonl()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.splitlines()]
    assert [next(iter(r)) for r in rows] == ["vehicle_id"] * 4
    assert [r.pop("vehicle_id") for r in rows] == [VID] * 4
    assert rows == [records[0], {}, {"url": "u2"}, records[3]]
    assert _batch(()).jsonl() == b""
    # each record serialized once, for JSON stores (jsonb): the objects as sent
    assert [json.loads(b) for b in _batch(records).record_json()] == list(records)


def test_jsonl_of_text_orjson_refuses_is_still_json() -> None:
    # the stdlib parser (no orjson) keeps a lone surrogate from "\ud800": still valid JSON out
    records = ({"url": "\ud800"},)
    line = _batch(records).jsonl()
    assert json.loads(line) == {"vehicle_id": VID, "url": "\ud800"}


def test_typed_batches_keep_their_encoded_form() -> None:
    model = structure({"url": "u", "sampled_at": "2026-11-01T10:39:45+01:00"}, LogKind.STATUS.model)
    row = json.loads(_batch((model,), "typed").jsonl())
    assert row == {"vehicle_id": VID, **unstructure(model)}
    assert row["sampled_at"] == "2026-11-01T09:39:45.000000Z"


def test_sinks_declare_their_format() -> None:
    assert JsonlSink("x").record_format == "json"
    assert PostgresSink("postgresql://localhost/x").record_format == "json"
    assert MemorySink().record_format == "typed"
    assert MemorySink(record_format="wire").record_format == "wire"
    assert MemorySink(record_format="json").record_format == "json"
    with pytest.raises(ValueError, match="record_format"):
        MemorySink(record_format="xml")  # type: ignore[arg-type]


def test_json_batches_write_the_texts_as_lines() -> None:
    """JSON texts as the server spelled them (spaces, escapes, a repeated key) become lines
    with vehicle_id first; a text that is an empty object or holds its own vehicle_id goes
    through its parsed object (ours wins), as wire records do."""
    texts = (b'{"url": "u1", "note": "caf\\u00e9", "n": 1, "n": 2}', b'{"url":"u2"}')
    data = _batch(texts, "json").jsonl()
    assert data == b'{"vehicle_id":"%s","url": "u1", "note": "caf\\u00e9", "n": 1, "n": 2}\n{"vehicle_id":"%s","url":"u2"}\n' % (
        VID.encode(), VID.encode())
    assert [json.loads(line) for line in data.splitlines()] == [
        {"vehicle_id": VID, "url": "u1", "note": "café", "n": 2}, {"vehicle_id": VID, "url": "u2"}
    ]
    odd = (b"{}", b'{"vehicle_id":"spoofed","url":"u3"}')
    assert [json.loads(line) for line in _batch(odd, "json").jsonl().splitlines()] == [
        {"vehicle_id": VID}, {"vehicle_id": VID, "url": "u3"}
    ]
    assert _batch(texts, "json").record_json() == list(texts)
    assert _batch(texts, "json").dicts()[1] == {"vehicle_id": VID, "url": "u2"}


@pytest.mark.parametrize("own", ['"spoofed"', "null", '{"a":[1]}', '""'])
def test_a_record_with_its_own_vehicle_id_is_written_with_ours(own: str) -> None:
    """Whatever its value (null and "" included), a record's own vehicle_id is seen: the body
    is not split (the parsed page says which records have one), and the line holds ours."""
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    t1, t2 = "2026-11-01T09:39:45.000002Z", "2026-11-01T09:39:44.000001Z"
    first, second = {"url": base + t1, "sampled_at": t1}, {"url": base + t2, "sampled_at": t2}
    body = f"[{json.dumps(first)},{json.dumps(second)[:-1]},\"vehicle_id\":{own}}}]".encode()
    splitter = json_list_decoder(("url", "sampled_at"), present=("vehicle_id",))
    assert splitter is not None
    assert json_records_from_body(body, splitter, LogKind.STATUS) is None
    page = json_records(json.loads(body), LogKind.STATUS)
    assert page.own_vehicle_id is True  # type: ignore[attr-defined]
    for known in (True, None):
        batch = HarvestBatch(
            token="t", vehicle_id=VID, kind=LogKind.STATUS, records=tuple(page), page_url=None, last=False,
            state=PartitionState(token="t", vehicle_id=VID, kind=LogKind.STATUS), record_format="json",
            own_vehicle_id=known,
        )
        rows = [json.loads(line) for line in batch.jsonl().splitlines()]
        assert [r["vehicle_id"] for r in rows] == [VID, VID]
    plain = json_records_from_body(body.replace(b'"vehicle_id"', b'"vehicle_idx"'), splitter, LogKind.STATUS)
    assert plain is not None and plain.own_vehicle_id is False  # type: ignore[attr-defined]


def test_texts_orjson_cannot_parse_are_kept_and_keyed() -> None:
    """JSON that orjson refuses or rounds but RFC 8259 allows (a number past a double's range, an
    integer past 64 bits) in a field the harvester does not read: the splitter keeps the server's
    text; the keys, read back with the stdlib where orjson refuses, are the usual ones."""
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    t1, t2 = "2026-11-01T09:39:45.000002Z", "2026-11-01T09:39:44.000001Z"
    body = (
        f'[{{"url":"{base + t1}","sampled_at":"{t1}","odd":1e999}},'
        f'{{"url":"{base + t2}","sampled_at":"{t2}","big":123456789012345678901234567890}}]'
    ).encode()
    splitter = json_list_decoder(("url", "sampled_at"), present=("vehicle_id",))
    assert splitter is not None
    page = json_records_from_body(body, splitter, LogKind.STATUS)
    assert page is not None
    assert page[0].endswith(b'"odd":1e999}') and page[1].endswith(b'"big":123456789012345678901234567890}')
    expected = [to_micros(parse_timestamp(t)) for t in (t1, t2)]
    assert page_keys(tuple(page), LogKind.STATUS) == ([f"t:{us}" for us in expected], expected)  # no objects at hand
    assert [record_time(t, LogKind.STATUS) for t in page] == expected
    line = _batch(tuple(page), "json").jsonl().splitlines()[1]
    assert json.loads(line)["big"] == 123456789012345678901234567890  # exact, as sent


@pytest.mark.parametrize(
    "body",
    [
        b'[{"url":"%s","sampled_at":"%s"},\n{"url":"%s","sampled_at":"%s"}]',  # a line break between records
        b'[{"url":"%s","sampled_at":"%s","x":"\xc3\xa9"},{"url":"%s","sampled_at":"%s"}]',  # not ASCII
        b'[{"url":"%s","sampled_at":"%s"},{"url":"%s","sampled_at":"%s","vehicle":{"a":1}} ]',
    ],
)
def test_the_body_splitter_declines_what_is_not_plainly_one_line_ascii(body: bytes) -> None:
    """Texts are taken from the body only when each is surely one line of valid UTF-8: with a
    line break or a non-ASCII byte anywhere the page is parsed instead (same records)."""
    base = f"{BASE}/vehicles/{VID}/status_logs/"
    t1, t2 = "2026-11-01T09:39:45.000002Z", "2026-11-01T09:39:44.000001Z"
    body = body % (base.encode() + t1.encode(), t1.encode(), base.encode() + t2.encode(), t2.encode())
    splitter = json_list_decoder(("url", "sampled_at"), present=("vehicle_id",))
    assert splitter is not None
    page = json_records_from_body(body, splitter, LogKind.STATUS)
    parsed = json.loads(body)
    if b'"vehicle":' in body:  # ASCII, one line: split, the nested object kept as written
        assert page is not None and [json.loads(t) for t in page] == parsed
        return
    assert page is None
    assert [json.loads(t) for t in json_records(parsed, LogKind.STATUS)] == parsed


async def test_a_sink_with_an_unknown_format_is_refused_before_any_request(sim: Simulator) -> None:
    odd = MemorySink()
    odd.record_format = "xml"  # type: ignore[assignment]
    async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client, Harvester(client, vehicles=[VID]) as h:
        with pytest.raises(ValueError, match="record_format"):
            await h.run(odd)
    assert sim.stats.requests == 0


async def test_jsonl_lines_are_the_servers_objects(
    sim: Simulator, clients: list[EvEnergyClient], tmp_path: Path
) -> None:
    """The CLI's output: every line is exactly the object the server sent, plus vehicle_id."""
    async with Harvester(clients[0], kinds="status,command") as h, JsonlSink(tmp_path) as sink:
        await h.run(sink)
    for kind in (LogKind.STATUS, LogKind.COMMAND):
        served: Counter[str] = Counter()
        for vid in {v["id"] for v in sim.data.vehicles}:
            for rec in sim.data.logs(kind.value, vid):
                served[json.dumps({"vehicle_id": vid, **rec}, sort_keys=True)] += 1
        lines = (tmp_path / kind.filename).read_bytes().splitlines()
        written = Counter(json.dumps(json.loads(line), sort_keys=True) for line in lines)
        mine = {k for k in served if json.loads(k)["vehicle_id"] in {json.loads(w)["vehicle_id"] for w in written}}
        assert written == Counter({k: served[k] for k in mine})
        assert harvested_lines(tmp_path, kind) == expected_lines(
            sim, kind, {json.loads(w)["vehicle_id"] for w in written}
        )


@pytest.mark.parametrize(("first", "second"), [("typed", "wire"), ("wire", "typed"), ("json", "typed"), ("typed", "json")])
async def test_wire_and_typed_runs_continue_each_other_exactly_once(
    sim: Simulator, clients: list[EvEnergyClient], first: str, second: str
) -> None:
    """State written by one path is resumed by the other without a duplicate or a gap."""
    state = MemoryStateStore()
    cut, end = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)
    one, two = MemorySink(record_format=first), MemorySink(record_format=second)  # type: ignore[arg-type]
    async with Harvester(clients[0], kinds="status", until=cut, state=state, overlap=timedelta(days=2)) as h:
        await h.run(one)
    async with Harvester(clients[0], kinds="status", until=end, state=state, overlap=timedelta(days=2)) as h:
        report = await h.run(two)
    assert report.overlap_duplicates > 0  # the overlap was read again and dropped by key
    typed, wire = (one, two) if first == "typed" else (two, one)
    if wire.record_format == "json":
        assert all(r.__class__ is bytes for _, _, r in wire.records)
    got = Counter(
        [(vid, json.dumps(unstructure(r), sort_keys=True)) for vid, _, r in typed.records]
        + [
            (vid, json.dumps(model_dict(json.loads(r) if isinstance(r, bytes) else r, LogKind.STATUS), sort_keys=True))
            for vid, _, r in wire.records
        ]
    )
    vids = {vid for vid, _, _ in typed.records + wire.records}
    expected = Counter(
        (vid, json.dumps(model_dict(rec, LogKind.STATUS), sort_keys=True))
        for vid in vids
        for rec in sim.data.logs("status", vid)
    )
    assert got == expected
