"""The converter's wire rules: timestamps, strict types, error paths, bounded work, cattrs hooks."""

from __future__ import annotations

import collections
import copy
import json
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import cattrs
import pytest

from evenergy_async._converter import (
    MAX_DEPTH,
    _registry,
    _slow_value,
    converter,
    format_timestamp,
    parse_timestamp,
    structure,
    structure_list,
    unstructure,
)
from evenergy_async._errors import EvEnergyError, ResponseDecodeError
from evenergy_async._models import (
    UNSET,
    ConnectorType,
    LatLong,
    ProblemDetail,
    Tariff,
    User,
    Vehicle,
    VehicleConnectors,
    VehicleMake,
    VehicleModel,
    VehicleState,
    VehicleStatusLog,
    VehicleTrim,
    VehicleUpdate,
)
from tests.test_models import (
    EXAMPLES,
    STATUS_LOG,
    TARIFF,
    VEHICLE,
    VEHICLE_CONNECTORS,
    VEHICLE_MAKE,
    VEHICLE_MODEL,
    VEHICLE_TRIM,
    expanded_vehicle,
)

# --------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------

BASE = datetime(2026, 11, 1, 9, 39, 45, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fraction", "micro"),
    [
        ("", 0),
        (".9", 900000),
        (".98", 980000),
        (".984", 984000),
        (".9845", 984500),
        (".98458", 984580),
        (".984584", 984584),
        (".9845841", 984584),
        (".98458419", 984584),
        (".984584199", 984584),  # past microseconds: truncated, not rounded
    ],
)
@pytest.mark.parametrize("zone", ["Z", "+00:00", "z", "-00:00"])
def test_parse_timestamp_fractions_and_utc_spellings(fraction: str, micro: int, zone: str) -> None:
    dt = parse_timestamp(f"2026-11-01T09:39:45{fraction}{zone}")
    assert dt == BASE.replace(microsecond=micro)
    assert dt.utcoffset() == timedelta(0)


def test_parse_timestamp_offsets_and_naive() -> None:
    dt = parse_timestamp("2026-11-01T11:39:45.5+02:00")
    assert dt.utcoffset() == timedelta(hours=2)
    assert dt == BASE.replace(microsecond=500000)
    naive = parse_timestamp("2026-11-01T09:39:45")
    assert naive.tzinfo is UTC and naive == BASE
    assert parse_timestamp("2026-11-01 09:39:45.000001Z") == BASE.replace(microsecond=1)
    assert parse_timestamp("2026-11-01t09:39:45z") == BASE
    assert parse_timestamp("2026-11-01T09:39:45.123456789-05:30") == datetime(
        2026, 11, 1, 9, 39, 45, 123456, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-11-01T24:00:00Z",
        "2026-11-01T09:39:45+25:00",
        "2026-11-01T09:39:45Z" + "x" * 10_000,
        "x" * 10_000,
    ],
)
def test_parse_timestamp_rejects(bad: str) -> None:
    with pytest.raises(ValueError) as e:
        parse_timestamp(bad)
    assert len(str(e.value)) < 200


def test_format_timestamp() -> None:
    assert format_timestamp(BASE.replace(microsecond=984584)) == "2026-11-01T09:39:45.984584Z"
    assert format_timestamp(BASE) == "2026-11-01T09:39:45.000000Z"
    assert format_timestamp(datetime(2026, 11, 1, 9, 39, 45)) == "2026-11-01T09:39:45.000000Z"  # naive = UTC
    plus2 = datetime(2026, 11, 1, 11, 39, 45, 7, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(plus2) == "2026-11-01T09:39:45.000007Z"
    assert format_timestamp(datetime(999, 1, 2, tzinfo=UTC)) == "0999-01-02T00:00:00.000000Z"
    for s in ["2026-11-01T09:39:45.984584Z", "2024-02-29T23:59:59.999999Z"]:
        assert format_timestamp(parse_timestamp(s)) == s


@pytest.mark.parametrize(
    "wire",
    [
        "2026-11-01T09:39:45Z",
        "2026-11-01T09:39:45+00:00",
        "2026-11-01T09:39:45.1Z",
        "2026-11-01T09:39:45.123Z",
        "2026-11-01T09:39:45.123456Z",
        "2026-11-01T09:39:45.123456789Z",
        "2026-11-01T09:39:45.123456789z",
        "2026-11-01T10:39:45+01:00",
        "2026-11-01T09:39:45",
    ],
)
def test_timestamps_in_records(wire: str) -> None:
    log = structure({"sampled_at": wire, "logged_at": wire}, VehicleStatusLog)
    assert log.sampled_at is not None and log.sampled_at.tzinfo is not None
    assert log.sampled_at.replace(microsecond=0) == BASE
    assert structure_list([{"sampled_at": wire}], VehicleStatusLog)[0].sampled_at == log.sampled_at


# --------------------------------------------------------------------------------------
# Type strictness and error paths
# --------------------------------------------------------------------------------------


def _decode_error(data: Any, cls: Any, *, as_list: bool = False) -> ResponseDecodeError:
    with pytest.raises(ResponseDecodeError) as e:
        if as_list:
            structure_list(data, cls)
        else:
            structure(data, cls)
    assert isinstance(e.value, EvEnergyError)
    return e.value


def test_error_path_deep_in_a_page() -> None:
    bad = expanded_vehicle()
    bad["trim"]["name"] = 5
    page = [STATUS_LOG, STATUS_LOG, STATUS_LOG, {**STATUS_LOG, "vehicle": bad}, STATUS_LOG]
    err = _decode_error(page, VehicleStatusLog, as_list=True)
    assert err.path == "$[3].vehicle.trim.name"
    assert err.message == "expected string, got int 5"
    assert str(err) == "expected string, got int 5 at $[3].vehicle.trim.name"
    bad = expanded_vehicle()
    bad["trim"]["model"]["make"]["models"] = ["x"]
    err = _decode_error([{**STATUS_LOG, "vehicle": bad}], VehicleStatusLog, as_list=True)
    assert err.path == "$[0].vehicle.trim.model.make.models"
    assert err.message == "expected string, got list"


@pytest.mark.parametrize(
    ("cls", "patch", "path", "message"),
    [
        (VehicleStatusLog, {"charge_rate_watts": "abc"}, "$.charge_rate_watts", "expected integer, got str 'abc'"),
        (
            VehicleStatusLog,
            {"state_of_charge_percentage": True},
            "$.state_of_charge_percentage",
            "expected integer, got bool True",
        ),
        (VehicleStatusLog, {"odometer_meters": 15.0}, "$.odometer_meters", "expected integer, got float 15.0"),
        (VehicleStatusLog, {"is_charging": 1}, "$.is_charging", "expected boolean, got int 1"),
        (VehicleStatusLog, {"is_charging": "true"}, "$.is_charging", "expected boolean, got str 'true'"),
        (VehicleStatusLog, {"url": {"href": "x"}}, "$.url", "expected string, got dict"),
        (VehicleStatusLog, {"vehicle": []}, "$.vehicle", "expected URL string or object (Vehicle), got list"),
        (VehicleStatusLog, {"vehicle": 7}, "$.vehicle", "expected URL string or object (Vehicle), got int 7"),
        (VehicleStatusLog, {"state": 5}, "$.state", "expected string (VehicleState), got int 5"),
        (VehicleStatusLog, {"state": ["DRIVING"]}, "$.state", "expected string (VehicleState), got list"),
        (VehicleStatusLog, {"sampled_at": 1730454000}, "$.sampled_at", "expected timestamp string, got int 1730454000"),
        (VehicleStatusLog, {"sampled_at": "not a time"}, "$.sampled_at", "invalid timestamp 'not a time'"),
        (Vehicle, {"id": None}, "$.id", "expected string, got null"),
        (Vehicle, {"disabled": None}, "$.disabled", "expected boolean, got null"),
        (
            Vehicle,
            {"trim": {"id": "t", "url": "u", "onboarding_url": None}},
            "$.trim.name",
            "missing required field 'name'",
        ),
        (
            Vehicle,
            {"user": {"id": "u", "url": "u", "vehicles": ["a", 2]}},
            "$.user.vehicles[1]",
            "expected string, got int 2",
        ),
        (Vehicle, {"user": {"id": "u", "url": "u", "vehicles": "a"}}, "$.user.vehicles", "expected array, got str 'a'"),
        (
            Vehicle,
            {"user": {"id": "u", "url": "u", "default_location": {"coordinates": {"latitude": "51", "longitude": 0}}}},
            "$.user.default_location.coordinates.latitude",
            "expected number, got str '51'",
        ),
        (VehicleConnectors, {"adaptors": ["CCS", None]}, "$.adaptors[1]", "expected string (ConnectorType), got null"),
        (VehicleConnectors, {"adaptors": None}, "$.adaptors", "expected array, got null"),
        (Tariff, {"valid_from": "17/03/2026"}, "$.valid_from", "invalid date '17/03/2026'"),
        (
            Tariff,
            {"daily_prices": {"peak": {"times": [{"start": 1800}]}}},
            "$.daily_prices.peak.times[0].start",
            "expected string, got int 1800",
        ),
        (Tariff, {"daily_prices": {"off_peak": {}}}, "$.daily_prices.peak", "missing required field 'peak'"),
        (Tariff, {"supplier": None}, "$.supplier", "expected URL string or object (Supplier), got null"),
        (ProblemDetail, {"field_errors": {"user": [1]}}, "$.field_errors.user[0]", "expected string, got int 1"),
        (ProblemDetail, {"field_errors": {"a b": [None]}}, "$.field_errors['a b'][0]", "expected string, got null"),
        (ProblemDetail, {"field_errors": ["x"]}, "$.field_errors", "expected object, got list"),
    ],
)
def test_wrong_types_give_exact_paths(cls: type[Any], patch: dict[str, Any], path: str, message: str) -> None:
    data = {**EXAMPLES[cls], **patch}
    if cls is Tariff and "daily_prices" in patch:
        data = {**TARIFF, **patch}
    err = _decode_error(data, cls)
    assert (err.path, err.message) == (path, message)
    # the same error, one level down in a page
    err = _decode_error([EXAMPLES[cls], data], cls, as_list=True)
    assert err.path == "$[1]" + path[1:]


def test_top_level_shapes() -> None:
    err = _decode_error({"a": 1}, VehicleStatusLog, as_list=True)
    assert (err.path, err.message) == ("$", "expected array, got dict")
    err = _decode_error([STATUS_LOG, "x"], VehicleStatusLog, as_list=True)
    assert (err.path, err.message) == ("$[1]", "expected object (VehicleStatusLog), got str 'x'")
    err = _decode_error(None, Vehicle)
    assert (err.path, err.message) == ("$", "expected object (Vehicle), got null")
    err = _decode_error([VEHICLE], Vehicle)
    assert err.path == "$"
    assert structure_list([], Vehicle) == []


def test_missing_required_fields() -> None:
    for name in [
        "id",
        "url",
        "integrated",
        "battery_size_watt_hours",
        "maximum_charge_limit_percentage",
        "vehicle_class",
    ]:
        data = {k: v for k, v in VEHICLE.items() if k != name}
        err = _decode_error(data, Vehicle)
        assert (err.path, err.message) == (f"$.{name}", f"missing required field {name!r}")


def test_numbers() -> None:
    assert structure({"latitude": 51, "longitude": -1}, LatLong) == LatLong(latitude=51.0, longitude=-1.0)
    assert type(structure({"latitude": 51, "longitude": 0}, LatLong).latitude) is float
    err = _decode_error({"latitude": True, "longitude": 0}, LatLong)
    assert (err.path, err.message) == ("$.latitude", "expected number, got bool True")
    err = _decode_error({"latitude": 10**400, "longitude": 0}, LatLong)
    assert err.path == "$.latitude" and err.message.startswith("number out of range")
    assert len(err.message) < 100
    huge = 10**5000
    err = _decode_error({**STATUS_LOG, "charge_rate_watts": float("inf")}, VehicleStatusLog)
    assert err.message == "expected integer, got float inf"
    with pytest.raises(ResponseDecodeError) as e:
        structure({"url": huge}, VehicleStatusLog)
    assert e.value.message == "expected string, got int of 16610 bits"
    assert structure({**STATUS_LOG, "odometer_meters": huge}, VehicleStatusLog).odometer_meters == huge
    nan = structure({"latitude": float("nan"), "longitude": float("inf")}, LatLong)
    assert nan.longitude == float("inf")


def test_unknown_fields_are_ignored() -> None:
    noisy = {**STATUS_LOG, "new_field": [1, 2, {"x": None}], "state_of_health": 0.97, "": None}
    assert structure(noisy, VehicleStatusLog) == structure(STATUS_LOG, VehicleStatusLog)
    v = expanded_vehicle()
    v["trim"]["model"]["make"]["logo_svg"] = "<svg/>" * 1000
    v["user"]["default_location"]["timezone"] = "Europe/London"
    assert structure(v, Vehicle) == structure(expanded_vehicle(), Vehicle)


def test_url_or_expanded_object() -> None:
    as_url = structure(VEHICLE, Vehicle)
    assert as_url.trim == VEHICLE_TRIM["url"] and isinstance(as_url.trim, str)
    expanded = structure({**VEHICLE, "trim": VEHICLE_TRIM}, Vehicle)
    assert isinstance(expanded.trim, VehicleTrim)
    assert expanded.trim.model == VEHICLE_TRIM["model"]
    assert structure({**VEHICLE, "trim": None}, Vehicle).trim is None
    trim = structure({**VEHICLE_TRIM, "model": {**VEHICLE_MODEL, "make": VEHICLE_MAKE}}, VehicleTrim)
    assert isinstance(trim.model, VehicleModel)
    assert isinstance(trim.model.make, VehicleMake)
    assert trim.model.make.url == VEHICLE_MAKE["url"]


def test_nullable_and_absent_fields() -> None:
    log = structure({"url": None, "state": None, "vehicle": None, "sampled_at": None}, VehicleStatusLog)
    assert log == VehicleStatusLog()
    user = structure({"id": "user1", "url": "u"}, User)
    assert user.email is None and user.default_location is None and user.vehicles is None
    # optional-but-not-nullable response fields still accept null (liberal)
    assert structure({"id": "user1", "url": "u", "email": None}, User).email is None


def test_json_round_trip_of_a_page() -> None:
    page = [STATUS_LOG, {**STATUS_LOG, "vehicle": expanded_vehicle()}, {}]
    body = json.dumps(page)
    logs = structure_list(json.loads(body), VehicleStatusLog)
    again = structure_list(json.loads(json.dumps(unstructure(logs))), VehicleStatusLog)
    assert again == logs


def test_generic_types() -> None:
    assert structure({"remaining_car_count": 0}, dict[str, int]) == {"remaining_car_count": 0}  # DELETE /vehicles/{id}
    err = _decode_error({"remaining_car_count": "0"}, dict[str, int])
    assert err.path == "$.remaining_car_count"
    vehicles = structure([VEHICLE], list[Vehicle])
    assert isinstance(vehicles, list) and isinstance(vehicles[0], Vehicle)
    assert structure(["CCS", "XYZ"], list[ConnectorType]) == [ConnectorType.CCS, "XYZ"]
    assert structure("2026-11-01T09:39:45Z", datetime) == BASE
    assert structure("2026-03-17", date) == date(2026, 3, 17)
    assert structure("DRIVING", VehicleState) is VehicleState.DRIVING
    assert structure(None, str | None) is None  # type: ignore[arg-type]
    err = _decode_error([1, "x"], list[int], as_list=False)
    assert err.path == "$[1]"
    assert structure_list(["a", "b"], str) == ["a", "b"]
    with pytest.raises(TypeError):
        structure({}, set[int])


def test_dict_subclasses_are_objects() -> None:
    ordered = collections.OrderedDict(STATUS_LOG)
    assert structure(ordered, VehicleStatusLog) == structure(STATUS_LOG, VehicleStatusLog)


def test_only_response_decode_error_escapes() -> None:
    for weird in [object(), 3.5, b"bytes", [[]], {"state": object()}, {"vehicle": {"id": object()}}]:
        for cls in (VehicleStatusLog, Vehicle, VehicleMake):
            with pytest.raises(ResponseDecodeError):
                structure(weird, cls)
        with pytest.raises(ResponseDecodeError):
            structure_list([weird], VehicleStatusLog)
    assert structure({1: 2}, VehicleStatusLog) == VehicleStatusLog()  # no known key: an empty log
    with pytest.raises(ResponseDecodeError):
        structure({1: 2}, Vehicle)


def test_fast_and_slow_paths_agree_on_examples() -> None:
    for cls, example in EXAMPLES.items():
        assert _slow_value(example, cls, "$") == _registry.fast[cls](example, 0) == structure(example, cls)
    # a value only the slow path understands still decodes (the fast path defers to it)
    odd = {**STATUS_LOG, "sampled_at": "2026-11-01t09:39:45z"}
    assert structure(odd, VehicleStatusLog).sampled_at == BASE


# --------------------------------------------------------------------------------------
# Hostile input: deep, huge
# --------------------------------------------------------------------------------------


def _deep_vehicle(levels: int) -> dict[str, Any]:
    """Vehicle -> latest_status_log -> vehicle -> ... (the one cycle in the schema graph)."""
    node: dict[str, Any] = {**VEHICLE}
    top = node
    for _ in range(levels):
        log = {"vehicle": {**VEHICLE}}
        node["latest_status_log"] = log
        node = log["vehicle"]
    return top


def test_nesting_is_bounded() -> None:
    ok = structure(_deep_vehicle(MAX_DEPTH // 2 - 1), Vehicle)
    assert isinstance(ok.latest_status_log, VehicleStatusLog)
    started = time.perf_counter()
    err = _decode_error(_deep_vehicle(5000), Vehicle)
    assert time.perf_counter() - started < 2
    assert err.message == f"objects nested deeper than {MAX_DEPTH} levels"
    assert err.path.startswith("$.latest_status_log.vehicle.latest_status_log.vehicle")
    assert err.path.count(".") == MAX_DEPTH + 1
    err = _decode_error([_deep_vehicle(5000)], Vehicle, as_list=True)
    assert err.path.startswith("$[0].latest_status_log")


def test_deep_junk_in_fields_is_a_type_error_at_a_known_depth() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    err = _decode_error({**STATUS_LOG, "vehicle": deep}, VehicleStatusLog)
    assert err.path == "$.vehicle" and err.message.endswith("got list")
    deep = {}
    for _ in range(100_000):
        deep = {"vehicle": deep, "trim": deep}
    err = _decode_error({**STATUS_LOG, "url": deep}, VehicleStatusLog)
    assert err.path == "$.url"
    # junk nested under unknown keys is never looked at
    assert structure({**STATUS_LOG, "junk": deep}, VehicleStatusLog) == structure(STATUS_LOG, VehicleStatusLog)


def test_huge_strings() -> None:
    big = "x" * 5_000_000
    log = structure({**STATUS_LOG, "data_source": big}, VehicleStatusLog)
    assert log.data_source is big
    started = time.perf_counter()
    err = _decode_error({**STATUS_LOG, "sampled_at": "2026-11-01T09:39:45" + "9" * 5_000_000}, VehicleStatusLog)
    err2 = _decode_error({**STATUS_LOG, "charge_rate_watts": big}, VehicleStatusLog)
    assert time.perf_counter() - started < 2
    assert err.path == "$.sampled_at" and len(str(err)) < 200
    assert err2.path == "$.charge_rate_watts" and len(str(err2)) < 200 and "5000000 characters" in err2.message


def test_slow_path_reports_the_first_bad_record_in_a_large_page() -> None:
    page = [copy.deepcopy(STATUS_LOG) for _ in range(1000)]
    page[777]["state_of_charge_percentage"] = "70"
    err = _decode_error(page, VehicleStatusLog, as_list=True)
    assert err.path == "$[777].state_of_charge_percentage"


# --------------------------------------------------------------------------------------
# The cattrs converter and unstructure
# --------------------------------------------------------------------------------------


def test_cattrs_converter_has_the_hooks() -> None:
    assert isinstance(converter, cattrs.Converter)
    v = converter.structure(expanded_vehicle(), Vehicle)
    assert v == structure(expanded_vehicle(), Vehicle)
    assert converter.unstructure(v) == unstructure(v)
    with pytest.raises(ResponseDecodeError):
        converter.structure({"id": 1}, Vehicle)
    assert converter.structure("HOVERING", VehicleState) == "HOVERING"
    assert converter.unstructure(VehicleState.DRIVING) == "DRIVING"
    assert converter.unstructure(BASE) == "2026-11-01T09:39:45.000000Z"
    assert converter.structure("2026-11-01T09:39:45Z", datetime) == BASE
    assert converter.unstructure(VehicleUpdate(battery_size_watt_hours=1000)) == {"battery_size_watt_hours": 1000}
    assert converter.structure([VEHICLE_CONNECTORS], list[VehicleConnectors])[0].native_connector is ConnectorType.NACS


def test_unstructure_values() -> None:
    assert unstructure([VehicleUpdate(), {"a": VehicleState.DRIVING}, (BASE, date(2026, 1, 2)), None, 1.5]) == [
        {},
        {"a": "DRIVING"},
        ["2026-11-01T09:39:45.000000Z", "2026-01-02"],
        None,
        1.5,
    ]
    log = structure(STATUS_LOG, VehicleStatusLog)
    wire = unstructure(log)
    assert wire["sampled_at"] == STATUS_LOG["sampled_at"]
    assert json.loads(json.dumps(wire)) == wire
    assert all(type(v) in (str, int, bool, type(None)) for v in wire.values())
    assert unstructure(VehicleUpdate(vehicle_class=None, smart_charging_enabled=UNSET)) == {"vehicle_class": None}
    with pytest.raises(TypeError):
        unstructure(object())
