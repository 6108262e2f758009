"""The C decoder of list pages (msgspec, the ``fast`` extra) gives exactly what the converter
gives, or declines.

Differential: for generated pages of every log model (timestamps in every spelling either
decoder takes, enums known and not, expanded vehicles, duplicate keys, lone surrogates, wrong
types), whenever ``ListBodyDecoder.decode`` returns a page it equals (``repr``: classes,
time zones, enum members) what ``structure_list`` makes of the parsed body; where the
converter raises, the C decoder declines. Then the same through a real client and through
the harvester's typed pages.
"""

from __future__ import annotations

import json
import typing
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from evenergy_async import EvEnergyClient, MockTransport, Response, VehicleStatusLog
from evenergy_async._converter import json_list_decoder, list_body_decoder, structure_list
from evenergy_async._errors import ResponseDecodeError
from evenergy_async._harvest._types import LogKind, typed_records, typed_records_from_body
from evenergy_async._models import LOG_MODELS, RESPONSE_MODELS, OpenEnum
from evenergy_async._sansio import decode_json
from tests.test_models import expanded_vehicle

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE = "https://api.ev.energy/v2/vehicles/vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"


def test_the_test_environment_has_the_c_decoder() -> None:
    """The ``test`` extra installs msgspec: without it every test here would pass vacuously."""
    for cls in LOG_MODELS:
        assert list_body_decoder(cls) is not None, cls


# -- generated pages ------------------------------------------------------------------


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """Timestamps as either decoder might meet them: RFC 3339 and the ISO spellings around it."""
    year = draw(st.integers(1, 9999))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute, second = draw(st.integers(0, 23)), draw(st.integers(0, 59)), draw(st.integers(0, 59))
    text = f"{year:04d}-{month:02d}-{day:02d}" + draw(st.sampled_from(["T", "t", " "]))
    text += f"{hour:02d}:{minute:02d}" + draw(st.sampled_from([f":{second:02d}", f":{second:02d}", ""]))
    digits = draw(st.integers(0, 9))
    if digits:
        text += draw(st.sampled_from([".", ".", ","])) + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits)))
    off_h, off_m = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    text += draw(
        st.sampled_from(["Z", "Z", "z", "", "+00:00", "-00:00", f"+{off_h:02d}:{off_m:02d}", f"-{off_h:02d}:{off_m:02d}", f"+{off_h:02d}{off_m:02d}", f"+{off_h:02d}"])
    )
    return text


odd_strings = st.sampled_from(["", "\ud800", "x\udfffy", "\x00", "é", "2026-11-01", "2026-02-30T00:00:00Z", "24:00"])
wrong_types = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.just([]), st.just({}))


@st.composite
def value_for(draw: st.DrawFn, hint: Any) -> Any:
    """Mostly a well-typed value for a field of type ``hint``; sometimes null, an odd string, a
    wrong type or an out-of-range number (each of which one decoder or both may refuse)."""
    args = [a for a in getattr(hint, "__args__", (hint,)) if a is not type(None)]
    roll = draw(st.integers(0, 99))  # hypothesis favours small numbers: 0 is the usual case
    if roll == 99:
        return draw(wrong_types)
    if roll == 98:
        return None
    if roll == 97:
        return draw(odd_strings)
    arg = draw(st.sampled_from(args))
    if arg is str:
        return draw(st.one_of(st.text(max_size=20), st.just(BASE)))
    if arg is bool:
        return draw(st.booleans())
    if arg is int:
        return draw(st.integers(-(2**70), 2**70) if roll == 96 else st.integers(-(2**31), 2**31))
    if isinstance(arg, type) and issubclass(arg, OpenEnum):
        return draw(st.sampled_from([*(m.value for m in arg), "FLYING", "idle", ""]))
    if getattr(arg, "__name__", "") == "datetime":
        return draw(timestamps())
    if attrs.has(arg):  # an expanded resource: complete, or missing a required field
        return _vehicle(draw(st.sampled_from(["url", "url", "full", "partial"])))
    raise AssertionError(f"no values for {arg!r}")


def _vehicle(how: str) -> Any:
    if how == "url":
        return BASE
    data = expanded_vehicle()
    if how == "partial":
        data.pop("id")
    return data


@st.composite
def pages(draw: st.DrawFn, cls: type[Any]) -> bytes:
    """A page's body: an array of records, each a list of (key, JSON text) pairs (so a key may
    repeat), with unknown keys, in random order and spacing."""
    hints = typing.get_type_hints(cls)
    records = []
    for _ in range(draw(st.integers(0, 4))):
        pairs: list[tuple[str, Any]] = []
        for field in attrs.fields(cls):
            if draw(st.integers(0, 9)) == 0:
                continue  # missing
            pairs.append((field.name, draw(value_for(hints[field.name]))))
        if draw(st.booleans()):
            pairs.append(("unknown_field", draw(st.one_of(st.text(max_size=5), st.integers(), st.just({"a": [1]})))))
        if pairs and draw(st.integers(0, 4)) == 4:
            pairs.append((pairs[0][0], draw(value_for(hints.get(pairs[0][0], str)))))  # a repeated key
        pairs = draw(st.permutations(pairs))
        sep = draw(st.sampled_from([",", ", ", ",\n  "]))
        ascii_only = draw(st.booleans())
        records.append("{" + sep.join(json.dumps(k) + ":" + json.dumps(v, ensure_ascii=ascii_only) for k, v in pairs) + "}")
    text = "[" + draw(st.sampled_from([",", ", ", ",\n"])).join(records) + "]"
    if draw(st.integers(0, 19)) == 19:
        text = draw(st.sampled_from(["{}", "null", "[1]", text[:-1], text + "x"]))
    return text.encode("utf-8", errors="surrogatepass")


def ours(body: bytes, cls: type[Any]) -> list[Any] | Exception:
    try:
        return structure_list(decode_json(body), cls)
    except (ValueError, ResponseDecodeError) as exc:
        return exc


def test_a_number_past_a_doubles_range_in_an_ignored_field_does_not_fail_the_page() -> None:
    """The one kept difference: orjson refuses the page (``1e999``), msgspec skips the field;
    the models are what the stdlib's parse gives."""
    body = b'[{"url":"u","sampled_at":"2026-11-01T09:39:45Z","odd":1e999,"big":123456789012345678901234567890}]'
    decoder = list_body_decoder(VehicleStatusLog)
    assert decoder is not None
    page = decoder.decode(body)
    assert page is not None
    assert repr(page.items) == repr(structure_list(json.loads(body), VehicleStatusLog))
    assert isinstance(ours(body, VehicleStatusLog), ValueError)  # the general path: not JSON orjson takes


def check_page(cls: type[Any], body: bytes) -> bool:
    """The differential check on one body; True when the C path took it."""
    decoder = list_body_decoder(cls)
    assert decoder is not None
    fast = decoder.decode(body)
    expected = ours(body, cls)
    if fast is None:
        return False
    assert not isinstance(expected, Exception), (body, expected)
    assert repr(fast.items) == repr(expected)
    assert [type(v) for m in fast.items for v in attrs.astuple(m, recurse=False)] == [
        type(v) for m in expected for v in attrs.astuple(m, recurse=False)
    ]
    parsed = decode_json(body)
    for strings, record in zip(fast.fields, parsed, strict=True):  # the raw strings, as sent
        for name in strings.__struct_fields__:
            assert getattr(strings, name) == record.get(name), name
    return True


@pytest.mark.parametrize("cls", LOG_MODELS, ids=lambda c: c.__name__)
@SETTINGS
@given(data=st.data())
def test_the_c_decoder_returns_the_converters_result_or_declines(cls: type[Any], data: st.DataObject) -> None:
    check_page(cls, data.draw(pages(cls)))


# every other response model the C path takes (any list of them goes through it): fewer examples each
OTHER_MODELS = [c for c in RESPONSE_MODELS if c not in LOG_MODELS and list_body_decoder(c) is not None]


@pytest.mark.parametrize("cls", OTHER_MODELS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_c_decoder_agrees_for_every_model_it_takes(cls: type[Any], data: st.DataObject) -> None:
    check_page(cls, data.draw(pages(cls)))


def test_well_typed_pages_are_taken_by_the_c_decoder() -> None:
    """The usual page (and the usual variants of its spelling) is not declined: the fast path is used."""
    record = {
        "url": f"{BASE}/status_logs/2026-11-01T09:39:45.984584Z",
        "sampled_at": "2026-11-01T09:39:45.984584Z",
        "logged_at": "2026-11-01T09:39:46+02:00",
        "vehicle": BASE,
        "state": "FLYING",
        "is_charging": True,
        "odometer_meters": 12,
    }
    decoder = list_body_decoder(VehicleStatusLog)
    assert decoder is not None
    page = decoder.decode(json.dumps([record, {**record, "sampled_at": "2026-11-01 09:39:45.5z"}]).encode())
    assert page is not None
    assert repr(page.items) == repr(structure_list([record, {**record, "sampled_at": "2026-11-01 09:39:45.5z"}], VehicleStatusLog))
    assert not page.items[0].state.is_known


@pytest.mark.parametrize(
    ("sampled_at", "why"),
    [
        ("2026-11-01T09:39:45.984584", "naive: msgspec keeps it naive, the converter takes it as UTC"),
        ("2026-11-01T09:39:45.9845849Z", "7 fraction digits: msgspec rounds, the converter truncates"),
        ("2026-11-01T09:39:45,984584Z", "a comma before the fraction: msgspec refuses"),
        ("2026-11-01T09:39Z", "no seconds: msgspec refuses"),
        ("2026-11-01T09:39:45+02", "an hour-only offset: msgspec refuses"),
        ("2026-11-01", "a date alone: msgspec refuses"),
    ],
)
def test_the_c_decoder_declines_where_its_rules_differ(sampled_at: str, why: str) -> None:
    record = {"url": f"{BASE}/status_logs/x", "sampled_at": sampled_at}
    decoder = list_body_decoder(VehicleStatusLog)
    assert decoder is not None
    assert decoder.decode(json.dumps([record]).encode()) is None, why
    assert structure_list([record], VehicleStatusLog)[0].sampled_at.tzinfo is not None  # the converter takes it


@pytest.mark.parametrize("depth", [200, 100_000])
def test_deep_nesting_is_declined_not_raised(depth: int) -> None:
    """A value nested past what msgspec recurses into (in a field the model ignores): the C
    decoders decline, and the general path gives its typed error."""
    for nest in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        body = b'[{"url":"u","x":' + nest + b"}]"
        decoder = list_body_decoder(VehicleStatusLog)
        splitter = json_list_decoder(("url", "sampled_at"), ("vehicle_id",))
        assert decoder is not None and splitter is not None
        if depth > 1_024:
            assert decoder.decode(body) is None
            assert splitter.decode(body) is None
            assert isinstance(ours(body, VehicleStatusLog), ValueError)
        else:  # within both parsers' limits
            page = decoder.decode(body)
            assert page is not None and repr(page.items) == repr(ours(body, VehicleStatusLog))


def test_an_expanded_vehicle_is_left_to_the_converter() -> None:
    record = {"url": f"{BASE}/status_logs/x", "vehicle": expanded_vehicle()}
    decoder = list_body_decoder(VehicleStatusLog)
    assert decoder is not None
    assert decoder.decode(json.dumps([record]).encode()) is None


# -- through the client and the harvester ------------------------------------------


async def test_a_client_list_gives_the_converters_items_on_both_paths() -> None:
    """Two pages through a real client: one the C decoder takes, one it declines (a naive
    timestamp and a 7-digit fraction); the items are the converter's either way."""
    first = [{"url": f"{BASE}/status_logs/2026-11-01T09:39:45.984584Z", "sampled_at": "2026-11-01T09:39:45.984584Z"}]
    second = [
        {"url": f"{BASE}/status_logs/a", "sampled_at": "2026-11-01T09:39:44.9999999Z"},
        {"url": f"{BASE}/status_logs/b", "sampled_at": "2026-11-01T09:39:43"},
    ]

    def handler(request: Any) -> Response:
        url = URL(str(request.url))
        if url.query.get("page") == "2":
            return Response.build(200, json.dumps(second).encode(), url=request.url)
        nxt = str(url.update_query(page="2"))
        return Response.build(200, json.dumps(first).encode(), url=request.url, headers={"Link": f'<{nxt}>; rel="next"'})

    async with EvEnergyClient("token", transport=MockTransport(handler)) as client:
        items = [item async for item in client.status_logs.list("vhcl01HRFF3SEVSCRAV9B3CHVDFN0H")]
    assert repr(items) == repr(structure_list(first + second, VehicleStatusLog))
    assert items[1].sampled_at.microsecond == 999999  # truncated, not rounded into the next second
    assert items[2].sampled_at.tzinfo is not None


@pytest.mark.parametrize("kind", [LogKind.STATUS, LogKind.LOCATION, LogKind.COMMAND, LogKind.ERROR])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_harvest_pages_from_bytes_equal_the_parsed_ones(kind: LogKind, data: st.DataObject) -> None:
    """The harvester's typed page from bytes: the same models and the same URL instants as
    from the parsed page, including the usual page whose URLs end in the time field."""
    tf = kind.time_field
    times = data.draw(st.lists(timestamps(), max_size=4))
    usual = data.draw(st.booleans())
    records = [
        {"url": f"{BASE}/{kind.value}_logs/" + (t if usual else f"{i}"), tf: t, "vehicle": BASE}
        for i, t in enumerate(times)
    ]
    body = json.dumps(records).encode()
    decoder = list_body_decoder(kind.model)
    assert decoder is not None
    fast = typed_records_from_body(body, decoder, kind)
    if fast is None:
        return
    expected = typed_records(decode_json(body), kind)
    assert repr(list(fast)) == repr(list(expected))
    assert repr(fast.url_instants) == repr(expected.url_instants)  # type: ignore[attr-defined]
