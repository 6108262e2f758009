"""Property tests: for every response model, any JSON value gives a model or ResponseDecodeError.

Also: every well-typed document decodes and survives an encode/decode round trip, and the
generated fast path never accepts what the validating slow path rejects.
"""

from __future__ import annotations

import copy
import types
import typing
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evenergy_async._converter import (
    _registry,
    _slow_value,
    format_timestamp,
    parse_timestamp,
    structure,
    structure_list,
    unstructure,
)
from evenergy_async._errors import ResponseDecodeError
from evenergy_async._models import (
    LOG_MODELS,
    RESPONSE_MODELS,
    OpenEnum,
    ProblemDetail,
    Tariff,
    Vehicle,
    VehicleStatusLog,
)
from tests.test_models import EXAMPLES, SUPPLIER, TARIFF, TARIFF_BASE, VEHICLE, expanded_vehicle

FUZZ = settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FIELD_NAMES = sorted({a.name for cls in RESPONSE_MODELS for a in attrs.fields(cls)} | {"expiry"})

interesting_strings = st.sampled_from(
    [
        "",
        "2026-11-01T09:39:45.984584Z",
        "2026-11-01T09:39:45+02:00",
        "2026-11-01t09:39:45.123456789z",
        "2026-11-01",
        "2026-02-30T00:00:00Z",
        "DRIVING",
        "CCS",
        "AC - Typically home chargers",
        "https://api.ev.energy/v2/vehicles/vhcl01HRFF3SEVSCRAV9B3CHVDFN0H",
        "NaN",
        "\x00",
        "\ud800",
    ]
)
huge_strings = st.builds(
    lambda s, n: s * n, st.sampled_from(["x", "9", "2026-11-01T", "é"]), st.integers(1000, 200_000)
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, 10**400, 1.0, 70.0, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    interesting_strings,
    huge_strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=4)), children, max_size=6),
    ),
    max_leaves=25,
)


# realistic documents with their expandable fields expanded, so mutations reach deep
RICH_EXAMPLES: dict[type[Any], list[dict[str, Any]]] = {cls: [example] for cls, example in EXAMPLES.items()}
RICH_EXAMPLES[Vehicle].append(expanded_vehicle())
RICH_EXAMPLES[Tariff].append({**TARIFF, "supplier": SUPPLIER, "scheduler_tariff": TARIFF_BASE})
for _log in LOG_MODELS:
    RICH_EXAMPLES[_log].append({**EXAMPLES[_log], "vehicle": expanded_vehicle()})


def _check(data: Any, cls: type[Any]) -> Any:
    """structure() gives a cls or a ResponseDecodeError; the fast path agrees with the slow one."""
    try:
        result = structure(data, cls)
    except ResponseDecodeError as e:
        assert e.path.startswith("$"), e.path
        assert not e.message.startswith("internal"), e.message
        assert len(e.message) < 300
        result = None
    else:
        assert type(result) is cls
    try:
        fast = _registry.fast[cls](data, 0)
    except Exception:
        fast = None
    if fast is not None:
        assert result is not None
        assert _same(_slow_value(data, cls, "$"), fast)
        assert _same(fast, result)
    return result


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN (valid in Python's JSON) equals NaN."""
    return bool(a == b) or repr(a) == repr(b)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
@FUZZ
@given(data=json_values)
def test_any_json_gives_model_or_decode_error(cls: type[Any], data: Any) -> None:
    _check(data, cls)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_mutated_examples(cls: type[Any], data: st.DataObject) -> None:
    """A realistic document with one value replaced or removed, possibly deep inside."""
    doc = copy.deepcopy(data.draw(st.sampled_from(RICH_EXAMPLES[cls])))
    target: Any = doc
    while True:
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = data.draw(st.sampled_from(keys))
        child = target[key]
        if isinstance(child, dict | list) and child and data.draw(st.booleans()):
            target = child
            continue
        if isinstance(target, dict) and data.draw(st.booleans()):
            del target[key]
        else:
            target[key] = data.draw(json_values)
        break
    _check(doc, cls)


# --------------------------------------------------------------------------------------
# Well-typed documents, generated from the models' own type hints
# --------------------------------------------------------------------------------------

_OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30)), None]
_wire_datetimes = st.builds(
    lambda dt, style: {
        0: dt.isoformat(),
        1: format_timestamp(dt),
        2: dt.isoformat().replace("+00:00", "Z"),
        3: dt.isoformat(timespec="seconds"),
        4: dt.isoformat(timespec="milliseconds"),
        5: format_timestamp(dt)[:-1] + "123Z",
    }[style],
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(_OFFSETS)),
    st.integers(0, 5),
)


def _wire(tp: Any, depth: int, owner: type[Any] | None = None, name: str = "") -> st.SearchStrategy[Any]:
    if owner is ProblemDetail and name == "status":
        return st.integers(100, 599)
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        strategies = [_wire(a, depth) for a in options if not (attrs.has(a) and depth > 3)]
        if type(None) in typing.get_args(tp):
            strategies.append(st.none())
        return st.one_of(strategies)
    if origin is tuple:
        return st.lists(_wire(typing.get_args(tp)[0], depth), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=5), _wire(typing.get_args(tp)[1], depth), max_size=3)
    if tp is str:
        return st.text(max_size=8)
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers()
    if tp is float:
        return st.one_of(st.floats(allow_nan=False), st.integers(-(10**6), 10**6))
    if tp is datetime:
        return _wire_datetimes
    if tp is date:
        return st.dates().map(date.isoformat)
    if isinstance(tp, type) and issubclass(tp, OpenEnum):
        return st.one_of(st.sampled_from([m.value for m in tp]), st.text(max_size=8))
    if attrs.has(tp):
        hints = typing.get_type_hints(tp)
        required = {
            a.name: _wire(hints[a.name], depth + 1, tp, a.name) for a in attrs.fields(tp) if a.default is attrs.NOTHING
        }
        optional = {
            a.name: _wire(hints[a.name], depth + 1, tp, a.name)
            for a in attrs.fields(tp)
            if a.default is not attrs.NOTHING
        }
        return st.fixed_dictionaries(required, optional=optional)
    raise TypeError(tp)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_well_typed_documents_decode_and_round_trip(cls: type[Any], data: st.DataObject) -> None:
    doc = data.draw(_wire(cls, 0))
    obj = structure(doc, cls)
    assert type(obj) is cls
    assert _registry.fast[cls](doc, 0) == obj  # the fast path handles every well-typed document
    assert structure(unstructure(obj), cls) == obj


# --------------------------------------------------------------------------------------
# Pages, nesting, timestamps
# --------------------------------------------------------------------------------------


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(page=st.lists(st.one_of(json_values, st.just(EXAMPLES[VehicleStatusLog])), max_size=8))
def test_pages_of_anything(page: list[Any]) -> None:
    try:
        logs = structure_list(page, VehicleStatusLog)
    except ResponseDecodeError as e:
        assert e.path.startswith("$[")
        index = int(e.path[2 : e.path.index("]")])
        # every record before the reported one decodes on its own
        for record in page[:index]:
            structure(record, VehicleStatusLog)
        with pytest.raises(ResponseDecodeError):
            structure(page[index], VehicleStatusLog)
    else:
        assert len(logs) == len(page)


@settings(max_examples=25, deadline=None)
@given(levels=st.integers(0, 3000), leaf=json_values)
def test_deep_nesting_never_overflows(levels: int, leaf: Any) -> None:
    node: dict[str, Any] = {**VEHICLE}
    top = node
    for i in range(levels):
        if i % 2:
            child: dict[str, Any] = {**VEHICLE}
            node["latest_status_log"] = {"vehicle": child}
            node = child
        else:
            node["latest_status_log"] = {"vehicle": {**VEHICLE}}
            node = node["latest_status_log"]["vehicle"]
    node["latest_status_log"] = leaf
    _check(top, Vehicle)
    _check({"vehicle": top}, VehicleStatusLog)


@settings(max_examples=200)
@given(s=st.one_of(st.text(max_size=40), interesting_strings, huge_strings))
def test_parse_timestamp_only_raises_value_error(s: str) -> None:
    try:
        dt = parse_timestamp(s)
    except ValueError as e:
        assert len(str(e)) < 200
    else:
        assert dt.tzinfo is not None


@settings(max_examples=200)
@given(
    dt=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from(_OFFSETS))
)
def test_timestamps_round_trip(dt: datetime) -> None:
    wire = format_timestamp(dt)
    assert wire.endswith("Z") and len(wire) == 27
    back = parse_timestamp(wire)
    assert back == (dt if dt.tzinfo else dt.replace(tzinfo=UTC))
    assert back.tzinfo is UTC
    assert format_timestamp(back) == wire
