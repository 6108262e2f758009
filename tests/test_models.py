"""The models: every schema decodes a realistic example; enums stay open; request bodies send what was set."""

from __future__ import annotations

import copy
import enum
import pickle
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

from evenergy_async._converter import _registry, structure, structure_list, unstructure
from evenergy_async._errors import ResponseDecodeError
from evenergy_async._models import (
    LOG_MODELS,
    REQUEST_MODELS,
    RESPONSE_MODELS,
    UNSET,
    AuthMethod,
    ChargeCurrentType,
    CommandType,
    Confidence,
    ConnectorSource,
    ConnectorType,
    CountryCode,
    CpmsConnection,
    DailyPrices,
    EVSESite,
    LatLong,
    Location,
    Notification,
    NotificationCategory,
    OnboardedVehicle,
    OnboardingLinkRequest,
    OpenEnum,
    PriceSummary,
    ProblemDetail,
    Region,
    StateOfChargeSource,
    Supplier,
    Tariff,
    TariffBase,
    TariffType,
    Times,
    Unset,
    User,
    Vehicle,
    VehicleAPIErrorLog,
    VehicleClass,
    VehicleCommandLog,
    VehicleCompatibilityCheckResult,
    VehicleConnectors,
    VehicleConnectorsUpdate,
    VehicleCreate,
    VehicleIntegration,
    VehicleLocationLog,
    VehicleMake,
    VehicleModel,
    VehicleModelConnector,
    VehicleModelConnectorCreate,
    VehicleModelConnectorPatch,
    VehicleModelCreate,
    VehicleModelUpdate,
    VehicleOnboardingCompleteRequest,
    VehicleOnboardingCompleteResponse,
    VehicleOnboardingJsonResponse,
    VehicleReconnectionUrl,
    VehicleReconnectRequest,
    VehicleState,
    VehicleStateOfCharge,
    VehicleStateOfChargeUpdate,
    VehicleStatusLog,
    VehicleTrim,
    VehicleTrimCreate,
    VehicleUpdate,
    VehicleWaitlistRequest,
    VehicleWaitlistResponse,
    VPPModes,
)

API = "https://api.ev.energy/v2"
VID = "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"
VEHICLE_URL = f"{API}/vehicles/{VID}"

# --------------------------------------------------------------------------------------
# Realistic wire examples (the spec's own examples where it has them)
# --------------------------------------------------------------------------------------

VEHICLE_MAKE: dict[str, Any] = {
    "id": "vmak01HRFHBCM7VBSWRPVYFBQMH2BR",
    "url": f"{API}/vehicle_makes/vmak01HRFHBCM7VBSWRPVYFBQMH2BR",
    "name": "Volvo",
    "icon": "https://cdn.example.com/volvo.png",
    "onboarding_url": f"{API}/vehicle_onboarding/?make_id=vmak01HN2P75GBNFRJPCZJXEFVXH5E"
    "&user_id=user01HN2NJ9NMRZBXT1H6FT9N7735&client_id=your_client_id",
    "models": "https://api.ev.energy/vehicle_models?make_id=vmak01HN2P75GBNFRJPCZJXEFVXH5E",
    "subscription_name": "Volkswagen We Connect ID",
    "subscription_package": "We Connect ID",
}
VEHICLE_MODEL: dict[str, Any] = {
    "id": "vmod01HSBR8Z36GD7A46K7M4R12VG0",
    "url": "https://api.ev.energy/vehicle_models/vmod01HSBR8Z36GD7A46K7M4R12VG0",
    "name": "C40",
    "make": VEHICLE_MAKE["url"],
    "onboarding_url": None,
    "vehicle_trims": f"{API}/vehicle_trims?model_id=vmod01HN2P436099PEQ20B7TKPGTEJ",
    "default_battery_size_watt_hours": 79000,
    "default_connector_type": "CCS",
}
VEHICLE_TRIM: dict[str, Any] = {
    "id": "trim01HRFHBCM7VBSWRPVYFBQMH2BR",
    "url": f"{API}/vehicle_trim/trim01HRFHBCM7VBSWRPVYFBQMH2BR",
    "name": "Recharge Core (69 kWh)",
    "model": VEHICLE_MODEL["url"],
    "battery_size_watt_hours": 75500,
    "onboarding_url": f"{API}/vehicle_onboarding?trim_id=trim01HN2NZ1040Y8E77CQGXADC2TZ",
}
LAT_LONG: dict[str, Any] = {"latitude": 51.52576576674041, "longitude": -0.08366433371722264}
TIMES: dict[str, Any] = {"start": "18:00:00", "end": "00:00:00"}
PRICE_SUMMARY: dict[str, Any] = {"price": "0.10", "times": [TIMES]}
DAILY_PRICES: dict[str, Any] = {  # from the spec's Tariff example
    "peak": {"price": "0.30", "times": [{"start": "18:00:00", "end": "00:00:00"}]},
    "mid_peak": {"price": "0.20", "times": [{"start": "10:00:00", "end": "08:00:00"}]},
    "off_peak": {"price": "0.10", "times": [{"start": "08:00:00", "end": "18:00:00"}]},
}
SUPPLIER: dict[str, Any] = {
    "id": "supl01HN2NJ9NMRZBXT1H6FT9N7735",
    "url": f"{API}/suppliers/supl01HN2NJ9NMRZBXT1H6FT9N7735",
    "name": "Rivendell Renewables",
    "icon": "https://cdn.example.com/rivendell_renewables.jpg",
    "highlighted": True,
}
TARIFF: dict[str, Any] = {  # the spec's example
    "id": "tari01HN2NJ9NMRZBXT1H6FT9N7735",
    "url": f"{API}/tariffs/tari01HN2NJ9NMRZBXT1H6FT9N7735",
    "supplier": SUPPLIER["url"],
    "name": "Fangorn Biomass",
    "currency": "GBP",
    "gsp_group": "_C",
    "valid_from": "2026-03-17",
    "valid_until": "2027-03-17",
    "daily_prices": DAILY_PRICES,
    "scheduler_tariff": f"{API}/tariffs/tari01HN2NJ9NMRZBXT1H6FT9N7835",
}
TARIFF_BASE: dict[str, Any] = {  # an expanded scheduler_tariff: may carry more fields
    "id": "tari01HN2NJ9NMRZBXT1H6FT9N7835",
    "url": f"{API}/tariffs/tari01HN2NJ9NMRZBXT1H6FT9N7835",
    "supplier": SUPPLIER["url"],
    "name": "Fangorn Biomass (scheduler)",
    "currency": "GBP",
    "type": "DUAL_RATE",
    "timezone_name": "Europe/London",
    "price_chart_url": None,
    "some_future_field": {"x": 1},
}
EVSE_SITE: dict[str, Any] = {
    "id": "site01JX2SZ0WAFTDYVYY0JRAYREY7",
    "url": f"{API}/evse_sites/site01JX2SZ0WAFTDYVYY0JRAYREY7",
    "evses": [f"{API}/evses/evse01HSH04KDEWF6Z4DB2J77J74K5"],
    "cpms_connection": "CHARGEPOINT",
    "cpms_connection_display_name": "ChargePoint",
    "user_connected": None,
}
LOCATION: dict[str, Any] = {  # a LocationDetail (single user): with the carbon intensity
    "address_1": "1 Bagshot Row",
    "address_2": None,
    "postal_code": "HB1 1AA",
    "country_code": "GB",
    "coordinates": LAT_LONG,
    "tariff": TARIFF["url"],
    "city": "Hobbiton",
    "state": None,
    "evse_site": None,
    "current_carbon_intensity_grams_per_kilowatt_hour": 300,
}
USER: dict[str, Any] = {
    "id": "user01HN2NJ9NMRZBXT1H6FT9N7735",
    "url": f"{API}/users/user01HN2NJ9NMRZBXT1H6FT9N7735",
    "email": "frodo@example.com",
    "full_name": "Frodo Baggins",
    "joined_at": "2023-06-15T10:00:00Z",
    "terms_consent_datetime": None,
    "default_location": LOCATION,
    "vehicles": [VEHICLE_URL],
    "evses": [],
}
VEHICLE: dict[str, Any] = {
    "id": VID,
    "url": VEHICLE_URL,
    "trim": VEHICLE_TRIM["url"],
    "user": USER["url"],
    "latest_status_log": f"{VEHICLE_URL}/status_logs/2024-04-17T09:39:45.994584Z/",
    "charging_sub_sessions": f"https://api.ev.energy/charging_sub_sessions/?vehicle_id={VID}",
    "integrated": "ACTIVE",
    "battery_size_watt_hours": 60000,
    "effective_battery_size_watt_hours": 57800,
    "maximum_charge_limit_percentage": 80,
    "description": "My Volvo C40",
    "disabled": False,
    "smart_charging_enabled": True,
    "vehicle_class": "PASSENGER",
}
STATUS_LOG: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/status_logs/2026-11-01T09:39:45.984584Z",
    "logged_at": "2026-11-01T09:40:12.113000Z",
    "sampled_at": "2026-11-01T09:39:45.984584Z",
    "vehicle": VEHICLE_URL,
    "state_of_charge_percentage": 70,
    "is_charging": True,
    "is_plugged_in": True,
    "charge_rate_watts": 7200,
    "estimated_charge_rate_watts": 7050,
    "charge_level_watt_hours": 42000,
    "target_charge_level_percentage": 80,
    "target_charge_level_watt_hours": 48000,
    "charge_energy_added_watt_hours": 12500,
    "minutes_to_full_charge": 55,
    "current_type": "AC - Typically home chargers",
    "is_complete": False,
    "odometer_meters": 15230000,
    "data_source": "ENODE",
    "state": "PLUGGED_IN_CHARGING",
}
LOCATION_LOG: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/location_logs/2024-04-17T09:39:45.984584Z/",
    "sampled_at": "2024-04-17T09:39:45.984584Z",
    "logged_at": "2024-04-17T09:40:02.000001Z",
    "vehicle": VEHICLE_URL,
    "at_home": None,
}
COMMAND_LOG: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/command_logs/2024-04-17T09:39:45.984584Z/",
    "logged_at": "2024-04-17T09:39:45.984584Z",
    "vehicle": VEHICLE_URL,
    "command": "START_CHARGE",
    "external_command_id": "ext-cmd-12345",
    "current_milliamps": 32000,
    "internal_command_id": "a1b2c3d4-e5f6-7890-abcd-ef1234567890",
}
ERROR_LOG: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/error_logs/2024-04-17T09:39:45.984584Z/",
    "logged_at": "2024-04-17T09:39:45.984584Z",
    "vehicle": VEHICLE_URL,
    "status_code": 401,
    "controller": "ENODE",
    "error_code": "AUTHENTICATION_ERROR",
    "error_type": "VehicleAPIUnauthorized",
    "request_id": "56rst-z2jku-tty9t-0dn2f-qazow",
    "command": "START_CHARGE",
    "error_detail": "The user revoked access",
    "internal_command_id": None,
}
VPP_MODES: dict[str, Any] = {  # the spec's example
    "target_power": True,
    "import_max_power": True,
    "export_max_power": False,
    "charge_mode": True,
}
VEHICLE_CONNECTORS: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/connectors",
    "vehicle": VEHICLE_URL,
    "native_connector": "NACS",
    "adaptors": ["CCS", "CHADEMO"],
    "updated_at": "2026-01-02T03:04:05Z",
}
STATE_OF_CHARGE: dict[str, Any] = {
    "url": f"{VEHICLE_URL}/state_of_charge",
    "vehicle": VEHICLE_URL,
    "state_of_charge_percentage": 64,
    "source": "MANUAL",
    "updated_at": "2026-01-02T03:04:05.5+00:00",
}
MODEL_CONNECTOR: dict[str, Any] = {
    "url": f"{API}/vehicle_models/vmod01HRFF3SEVSCRAV9B3CHVDFN0H/connectors/NORTH_AMERICA",
    "vehicle_model": f"{API}/vehicle_models/vmod01HRFF3SEVSCRAV9B3CHVDFN0H",
    "region": "NORTH_AMERICA",
    "connector_type": "NACS",
    "source": "EV_ENERGY",
    "confidence": "HIGH",
    "verified_at": None,
    "updated_at": "2025-12-24T18:00:00.123Z",
}
RECONNECTION_URL: dict[str, Any] = {
    "url": "https://app.ev.energy/vehicle-onboarding/start/56091b3b-86e9-4e7c-a825-f99e5d131234",
    "expires_at": "2022-11-03T20:26:10.344522Z",
}
COMPATIBILITY: dict[str, Any] = {"compatible": True, "recommendation_rank": None}
ONBOARDING_JSON: dict[str, Any] = {
    "authorization_request_id": "4d4ce3d9-8a16-46a8-99e1-3f3f9b8a3a5b",
    "url": "https://connect.smartcar.com/oauth/authorize?response_type=code&client_id=abc",
    "auth_method": "native",
    "scopes": ["read_vehicle_info", "read_charge", "control_charge"],
    "single_select": True,
}
ONBOARDING_COMPLETE: dict[str, Any] = {"vehicles": [{"id": VID, "url": f"{VEHICLE_URL}/"}]}
WAITLIST_RESPONSE: dict[str, Any] = {"id": "vwlt01HRS4TSK26BPBV7127DH7E0HA"}
NOTIFICATION: dict[str, Any] = {  # the spec's example
    "id": "notf01HTHKTXVB77901324BCQPF1RB",
    "url": "https://api.ev.energy/notifications/notf01HTHKTXVB77901324BCQPF1RB",
    "message_id": "ERR0123",
    "category": "ACTIONABLE",
    "event_time": "2019-08-24T14:15:22Z",
    "short_text_title": "Your car is disconnected",
    "short_text_body": "We need to reconnect to keep smart charging your car",
    "detail_page_title": "Your car is disconnected",
    "detail_page_body": "Your car has been disconnected. This happens when your password is reset.",
    "external_link": "http://example.com",
    "external_button_label": "More info",
    "read_at": "2019-08-24T14:20:22Z",
    "resolved_at": "2019-08-25T14:15:22Z",
}
PROBLEM: dict[str, Any] = {  # the spec's example, plus the ProblemValidationFailedVehicle field errors
    "type": "https://api.ev.energy/v2/problems/validation-failed-create-vehicle/",
    "status": 400,
    "title": "Request failed validation.",
    "detail": "Error on fields: user, trim",
    "instance": "https://api.ev.energy/v2/users/user01HN2P75GBNFRJPCZJXEFVXH5E",
    "field_errors": {
        "user": ["This field is required."],
        "trim": ["Invalid hyperlink - Object does not exist."],
    },
    "notification": NOTIFICATION,
}

EXAMPLES: dict[type[Any], dict[str, Any]] = {
    DailyPrices: DAILY_PRICES,
    EVSESite: EVSE_SITE,
    LatLong: LAT_LONG,
    Location: LOCATION,
    Notification: NOTIFICATION,
    OnboardedVehicle: ONBOARDING_COMPLETE["vehicles"][0],
    PriceSummary: PRICE_SUMMARY,
    ProblemDetail: PROBLEM,
    Supplier: SUPPLIER,
    Tariff: TARIFF,
    TariffBase: TARIFF_BASE,
    Times: TIMES,
    User: USER,
    VPPModes: VPP_MODES,
    Vehicle: VEHICLE,
    VehicleAPIErrorLog: ERROR_LOG,
    VehicleCommandLog: COMMAND_LOG,
    VehicleCompatibilityCheckResult: COMPATIBILITY,
    VehicleConnectors: VEHICLE_CONNECTORS,
    VehicleLocationLog: LOCATION_LOG,
    VehicleMake: VEHICLE_MAKE,
    VehicleModel: VEHICLE_MODEL,
    VehicleModelConnector: MODEL_CONNECTOR,
    VehicleOnboardingCompleteResponse: ONBOARDING_COMPLETE,
    VehicleOnboardingJsonResponse: ONBOARDING_JSON,
    VehicleReconnectionUrl: RECONNECTION_URL,
    VehicleStateOfCharge: STATE_OF_CHARGE,
    VehicleStatusLog: STATUS_LOG,
    VehicleTrim: VEHICLE_TRIM,
    VehicleWaitlistResponse: WAITLIST_RESPONSE,
}


def expanded_vehicle() -> dict[str, Any]:
    """A vehicle with everything expandable expanded (trim.model.make, user, latest_status_log)."""
    model = {**VEHICLE_MODEL, "make": copy.deepcopy(VEHICLE_MAKE)}
    trim = {**VEHICLE_TRIM, "model": model}
    return {
        **VEHICLE,
        "trim": trim,
        "user": copy.deepcopy(USER),
        "latest_status_log": copy.deepcopy(STATUS_LOG),
    }


# --------------------------------------------------------------------------------------
# Every model decodes
# --------------------------------------------------------------------------------------


def test_every_response_model_has_an_example() -> None:
    assert set(EXAMPLES) == set(RESPONSE_MODELS)
    assert set(LOG_MODELS) <= set(RESPONSE_MODELS)
    assert not set(REQUEST_MODELS) & set(RESPONSE_MODELS)


@pytest.mark.parametrize("cls", RESPONSE_MODELS, ids=lambda c: c.__name__)
def test_example_decodes_and_round_trips(cls: type[Any]) -> None:
    example = EXAMPLES[cls]
    snapshot = copy.deepcopy(example)
    obj = structure(example, cls)
    assert type(obj) is cls
    assert example == snapshot  # input untouched
    # the generated fast path (not the slow fallback) accepts every realistic example
    assert _registry.fast[cls](example, 0) == obj
    # encoding gives the wire form back, and decoding that gives the same model
    wire = unstructure(obj)
    assert structure(wire, cls) == obj
    for key, value in wire.items():
        if key in example and isinstance(value, str | int | bool) and not isinstance(obj, ProblemDetail):
            assert value == example[key] or key.endswith(("_at", "_time", "joined_at")), key


def test_vehicle_fields() -> None:
    v = structure(VEHICLE, Vehicle)
    assert v.id == VID
    assert v.url == VEHICLE_URL
    assert v.trim == VEHICLE_TRIM["url"]
    assert v.user == USER["url"]
    assert v.integrated is VehicleIntegration.ACTIVE
    assert v.vehicle_class is VehicleClass.PASSENGER
    assert v.maximum_charge_limit_percentage == 80
    assert v.disabled is False and v.smart_charging_enabled is True
    assert v.battery_size_watt_hours == 60000
    assert v.effective_battery_size_watt_hours == 57800


def test_vehicle_nullable_quirks() -> None:
    """maximum_charge_limit_percentage is nullable in practice; vehicle_class is nullable."""
    v = structure({**VEHICLE, "maximum_charge_limit_percentage": None, "vehicle_class": None}, Vehicle)
    assert v.maximum_charge_limit_percentage is None
    assert v.vehicle_class is None
    # non-required fields may be absent
    sparse = {
        k: val for k, val in VEHICLE.items() if k not in {"trim", "user", "latest_status_log", "charging_sub_sessions"}
    }
    v = structure(sparse, Vehicle)
    assert v.trim is None and v.user is None and v.latest_status_log is None and v.charging_sub_sessions is None


def test_vehicle_fully_expanded() -> None:
    v = structure(expanded_vehicle(), Vehicle)
    assert isinstance(v.trim, VehicleTrim)
    assert isinstance(v.trim.model, VehicleModel)
    assert isinstance(v.trim.model.make, VehicleMake)
    assert v.trim.model.make.name == "Volvo"
    assert v.trim.model.default_connector_type is ConnectorType.CCS
    assert isinstance(v.user, User)
    assert isinstance(v.user.default_location, Location)
    assert v.user.default_location.country_code is CountryCode.GB
    assert v.user.default_location.coordinates == LatLong(latitude=51.52576576674041, longitude=-0.08366433371722264)
    assert v.user.vehicles == (VEHICLE_URL,)
    assert v.user.evses == ()
    assert v.user.joined_at == datetime(2023, 6, 15, 10, tzinfo=UTC)
    assert isinstance(v.latest_status_log, VehicleStatusLog)
    assert v.latest_status_log.vehicle == VEHICLE_URL
    assert structure(unstructure(v), Vehicle) == v


@pytest.mark.parametrize("cls", LOG_MODELS, ids=lambda c: c.__name__)
def test_logs_with_expanded_vehicle(cls: type[Any]) -> None:
    record = {**EXAMPLES[cls], "vehicle": expanded_vehicle()}
    log = structure(record, cls)
    assert isinstance(log.vehicle, Vehicle)
    assert isinstance(log.vehicle.trim, VehicleTrim)
    assert log.vehicle.id == VID


@pytest.mark.parametrize("cls", LOG_MODELS, ids=lambda c: c.__name__)
def test_log_models_require_nothing(cls: type[Any]) -> None:
    empty = structure({}, cls)
    assert all(getattr(empty, a.name) is None for a in attrs.fields(cls))
    assert structure_list([{}, {"url": "u"}], cls)[1].url == "u"


def test_status_log_fields() -> None:
    log = structure(STATUS_LOG, VehicleStatusLog)
    assert log.sampled_at == datetime(2026, 11, 1, 9, 39, 45, 984584, tzinfo=UTC)
    assert log.logged_at == datetime(2026, 11, 1, 9, 40, 12, 113000, tzinfo=UTC)
    assert log.current_type is ChargeCurrentType.AC
    assert log.state is VehicleState.PLUGGED_IN_CHARGING
    assert log.state_of_charge_percentage == 70
    assert log.is_charging is True
    assert log.data_source == "ENODE"


def test_command_and_error_logs() -> None:
    cmd = structure(COMMAND_LOG, VehicleCommandLog)
    assert cmd.command is CommandType.START_CHARGE
    assert cmd.current_milliamps == 32000
    err = structure(ERROR_LOG, VehicleAPIErrorLog)
    assert err.status_code == 401
    assert err.command == "START_CHARGE"  # a plain string in this schema
    assert err.internal_command_id is None
    loc = structure(LOCATION_LOG, VehicleLocationLog)
    assert loc.at_home is None
    assert loc.sampled_at is not None and loc.sampled_at.tzinfo is not None


def test_tariff_with_expansions() -> None:
    t = structure(TARIFF, Tariff)
    assert isinstance(t, TariffBase)
    assert t.valid_from == date(2026, 3, 17)
    assert t.valid_until == date(2027, 3, 17)
    assert t.supplier == SUPPLIER["url"]
    assert t.scheduler_tariff == TARIFF["scheduler_tariff"]
    assert t.daily_prices is not None
    assert t.daily_prices.peak == PriceSummary(price="0.30", times=(Times(start="18:00:00", end="00:00:00"),))
    assert t.daily_prices.off_peak is not None
    expanded = structure({**TARIFF, "supplier": SUPPLIER, "scheduler_tariff": TARIFF_BASE, "valid_until": None}, Tariff)
    assert expanded.supplier == Supplier(
        id=SUPPLIER["id"], url=SUPPLIER["url"], name=SUPPLIER["name"], icon=SUPPLIER["icon"], highlighted=True
    )
    assert type(expanded.scheduler_tariff) is TariffBase
    assert expanded.scheduler_tariff.type is TariffType.DUAL_RATE
    assert expanded.valid_until is None
    assert structure(unstructure(expanded), Tariff) == expanded


def test_location_and_location_detail_are_one_class() -> None:
    detail = structure(LOCATION, Location)
    assert detail.current_carbon_intensity_grams_per_kilowatt_hour == 300
    listed = {k: v for k, v in LOCATION.items() if k != "current_carbon_intensity_grams_per_kilowatt_hour"}
    assert structure(listed, Location).current_carbon_intensity_grams_per_kilowatt_hour is None
    # an address cleared with nulls
    cleared = structure(dict.fromkeys(["address_1", "city", "postal_code", "country_code", "coordinates"]), Location)
    assert cleared == Location()
    with_site = structure({**LOCATION, "evse_site": EVSE_SITE, "tariff": TARIFF}, Location)
    assert isinstance(with_site.evse_site, EVSESite)
    assert with_site.evse_site.cpms_connection is CpmsConnection.CHARGEPOINT
    assert isinstance(with_site.tariff, Tariff)


def test_smaller_resources() -> None:
    assert structure(VPP_MODES, VPPModes) == VPPModes(
        target_power=True, import_max_power=True, export_max_power=False, charge_mode=True
    )
    c = structure(VEHICLE_CONNECTORS, VehicleConnectors)
    assert c.native_connector is ConnectorType.NACS
    assert c.adaptors == (ConnectorType.CCS, ConnectorType.CHADEMO)
    soc = structure(STATE_OF_CHARGE, VehicleStateOfCharge)
    assert soc.source is StateOfChargeSource.MANUAL
    assert soc.updated_at == datetime(2026, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)
    empty = structure(
        {**STATE_OF_CHARGE, "state_of_charge_percentage": None, "source": None, "updated_at": None},
        VehicleStateOfCharge,
    )
    assert (empty.state_of_charge_percentage, empty.source, empty.updated_at) == (None, None, None)
    mc = structure(MODEL_CONNECTOR, VehicleModelConnector)
    assert (mc.region, mc.connector_type, mc.source, mc.confidence) == (
        Region.NORTH_AMERICA,
        ConnectorType.NACS,
        ConnectorSource.EV_ENERGY,
        Confidence.HIGH,
    )
    assert mc.verified_at is None
    assert structure(COMPATIBILITY, VehicleCompatibilityCheckResult).recommendation_rank is None
    oj = structure(ONBOARDING_JSON, VehicleOnboardingJsonResponse)
    assert oj.auth_method is AuthMethod.NATIVE
    assert oj.scopes == ("read_vehicle_info", "read_charge", "control_charge")
    done = structure(ONBOARDING_COMPLETE, VehicleOnboardingCompleteResponse)
    assert done.vehicles == (OnboardedVehicle(id=VID, url=f"{VEHICLE_URL}/"),)
    assert structure(WAITLIST_RESPONSE, VehicleWaitlistResponse).id == "vwlt01HRS4TSK26BPBV7127DH7E0HA"


def test_reconnection_url_accepts_the_examples_expiry_spelling() -> None:
    expected = datetime(2022, 11, 3, 20, 26, 10, 344522, tzinfo=UTC)
    assert structure(RECONNECTION_URL, VehicleReconnectionUrl).expires_at == expected
    # the spec's example says `expiry`
    spec_example = {"url": RECONNECTION_URL["url"], "expiry": "2022-11-03T20:26:10.344522Z"}
    assert structure(spec_example, VehicleReconnectionUrl).expires_at == expected
    both = {**RECONNECTION_URL, "expiry": "1999-01-01T00:00:00Z"}
    assert structure(both, VehicleReconnectionUrl).expires_at == expected
    assert unstructure(structure(spec_example, VehicleReconnectionUrl))["expires_at"] == "2022-11-03T20:26:10.344522Z"


def test_problem_detail_is_liberal() -> None:
    p = structure(PROBLEM, ProblemDetail)
    assert p.field_errors == {
        "user": ("This field is required.",),
        "trim": ("Invalid hyperlink - Object does not exist.",),
    }
    assert isinstance(p.notification, Notification)
    assert p.notification.category is NotificationCategory.ACTIONABLE
    assert p.notification.event_time == datetime(2019, 8, 24, 14, 15, 22, tzinfo=UTC)
    # `type` may be missing; status is a JSON number; a bare message counts as a list of one
    p = structure(
        {"title": "Too many requests", "status": 429.0, "field_errors": {"page_size": "too big"}}, ProblemDetail
    )
    assert p.type is None and p.status == 429 and type(p.status) is int
    assert p.field_errors == {"page_size": ("too big",)}
    assert structure({}, ProblemDetail) == ProblemDetail()
    with pytest.raises(ResponseDecodeError) as e:
        structure({"status": 400.5}, ProblemDetail)
    assert e.value.path == "$.status"


# --------------------------------------------------------------------------------------
# Open enums
# --------------------------------------------------------------------------------------

ALL_ENUMS = [
    AuthMethod,
    ChargeCurrentType,
    CommandType,
    Confidence,
    ConnectorSource,
    ConnectorType,
    CountryCode,
    CpmsConnection,
    NotificationCategory,
    Region,
    StateOfChargeSource,
    TariffType,
    VehicleClass,
    VehicleIntegration,
    VehicleState,
]


@pytest.mark.parametrize("enum_cls", ALL_ENUMS, ids=lambda c: c.__name__)
def test_open_enum_keeps_unknown_values(enum_cls: type[OpenEnum]) -> None:
    unknown = enum_cls("SOMETHING_NEW_" + enum_cls.__name__)
    assert isinstance(unknown, enum_cls)
    assert isinstance(unknown, str)
    assert unknown.value == "SOMETHING_NEW_" + enum_cls.__name__
    assert unknown == "SOMETHING_NEW_" + enum_cls.__name__
    assert not unknown.is_known
    assert enum_cls("SOMETHING_NEW_" + enum_cls.__name__) is unknown  # cached
    assert unknown not in list(enum_cls)
    for member in enum_cls:
        assert member.is_known
        assert enum_cls(member.value) is member
        assert member == member.value
        assert str(member) == member.value
        assert hash(member) == hash(member.value)


def test_open_enum_details() -> None:
    flying = VehicleState("FLYING")
    assert repr(flying) == "VehicleState('FLYING')"
    assert str(flying) == "FLYING" and f"{flying}" == "FLYING"
    assert flying.name == "FLYING"
    assert repr(VehicleState.DRIVING) == "<VehicleState.DRIVING: 'DRIVING'>"
    assert pickle.loads(pickle.dumps(flying)) is flying
    assert pickle.loads(pickle.dumps(VehicleState.DRIVING)) is VehicleState.DRIVING
    assert {flying: 1}["FLYING"] == 1
    assert len(VehicleState) == 10
    with pytest.raises(ValueError):
        VehicleState(5)  # type: ignore[arg-type]
    # values that are display strings or lowercase
    assert ChargeCurrentType("DC - Typically OTG chargers") is ChargeCurrentType.DC
    assert AuthMethod("api") is AuthMethod.API
    assert AuthMethod("API").is_known is False  # values are case-sensitive
    assert len(CountryCode) == 249
    assert CountryCode("NO") is CountryCode.NO  # the YAML has to quote this one
    # another enum's member as the value
    assert VehicleState(ConnectorType.CCS).value == "CCS"
    assert type(VehicleState(ConnectorType.CCS).value) is str


def test_unknown_value_cache_is_bounded() -> None:
    values = [f"NEW_STATE_{i}" for i in range(600)]
    first = [CommandType(v) for v in values]
    again = [CommandType(v) for v in values]
    assert first == again == values
    assert all(not m.is_known for m in again)
    assert again[0] is first[0]  # the early ones are cached
    assert sum(a is b for a, b in zip(first, again, strict=True)) < len(values)  # not all: bounded


def test_unknown_enum_values_decode_and_encode() -> None:
    log = structure({**STATUS_LOG, "state": "HOVERING", "current_type": "Wireless"}, VehicleStatusLog)
    assert log.state == "HOVERING" and not log.state.is_known
    assert log.current_type == "Wireless"
    wire = unstructure(log)
    assert wire["state"] == "HOVERING" and type(wire["state"]) is str
    v = structure({**VEHICLE, "integrated": "PAUSED", "vehicle_class": "TRUCK"}, Vehicle)
    assert v.integrated == VehicleIntegration("PAUSED")
    assert v.vehicle_class is VehicleClass("TRUCK")
    c = structure({**VEHICLE_CONNECTORS, "adaptors": ["CCS", "MCS"]}, VehicleConnectors)
    assert c.adaptors[1] == "MCS" and not c.adaptors[1].is_known


# --------------------------------------------------------------------------------------
# UNSET and request bodies
# --------------------------------------------------------------------------------------


def test_unset_sentinel() -> None:
    assert not UNSET
    assert repr(UNSET) == "UNSET" and str(UNSET) == "UNSET"
    assert isinstance(UNSET, Unset)
    assert Unset.UNSET is UNSET
    assert copy.deepcopy(UNSET) is UNSET
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET
    with pytest.raises(TypeError):
        unstructure(UNSET)


def test_patch_bodies_send_only_what_was_set() -> None:
    assert unstructure(VehicleUpdate()) == {}
    assert unstructure(VehicleUpdate(smart_charging_enabled=False)) == {"smart_charging_enabled": False}
    assert unstructure(VehicleUpdate(vehicle_class=None)) == {"vehicle_class": None}
    assert unstructure(VehicleUpdate(vehicle_class=VehicleClass.COMMERCIAL, maximum_charge_limit_percentage=90)) == {
        "maximum_charge_limit_percentage": 90,
        "vehicle_class": "COMMERCIAL",
    }
    assert unstructure(VehicleConnectorsUpdate(native_connector=None)) == {"native_connector": None}
    assert unstructure(VehicleConnectorsUpdate(adaptors=[])) == {"adaptors": []}
    assert unstructure(VehicleConnectorsUpdate(native_connector=ConnectorType.NACS, adaptors=(ConnectorType.CCS,))) == {
        "native_connector": "NACS",
        "adaptors": ["CCS"],
    }
    assert unstructure(VehicleStateOfChargeUpdate()) == {}
    assert unstructure(VehicleStateOfChargeUpdate(state_of_charge_percentage=None)) == {
        "state_of_charge_percentage": None
    }
    assert unstructure(VehicleModelUpdate(default_connector_type=None)) == {"default_connector_type": None}
    when = datetime(2026, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert unstructure(VehicleModelConnectorPatch(verified_at=when, confidence=None)) == {
        "confidence": None,
        "verified_at": "2026-01-02T03:04:05.000000Z",
    }
    assert unstructure(VehicleReconnectRequest()) == {}


def test_create_bodies() -> None:
    assert unstructure(VehicleCreate(model=VEHICLE_MODEL["url"])) == {"model": VEHICLE_MODEL["url"]}
    body = unstructure(
        VehicleCreate(
            model=VEHICLE_MODEL["url"],
            battery_size_watt_hours=64000,
            description="Van",
            vehicle_class=VehicleClass.COMMERCIAL,
            user=USER["url"],
        )
    )
    assert body == {
        "model": VEHICLE_MODEL["url"],
        "battery_size_watt_hours": 64000,
        "description": "Van",
        "vehicle_class": "COMMERCIAL",
        "user": USER["url"],
    }
    assert type(body["vehicle_class"]) is str
    assert unstructure(VehicleTrimCreate(name="Custom", model=VEHICLE_MODEL["url"], battery_size_watt_hours=75500)) == {
        "name": "Custom",
        "model": VEHICLE_MODEL["url"],
        "battery_size_watt_hours": 75500,
    }
    assert unstructure(VehicleModelCreate(name="Model 3", make=VEHICLE_MAKE["url"])) == {
        "name": "Model 3",
        "make": VEHICLE_MAKE["url"],
    }
    assert unstructure(
        VehicleModelConnectorCreate(region=Region.EUROPE, connector_type=ConnectorType.CCS, source=None)
    ) == {
        "region": "EUROPE",
        "connector_type": "CCS",
        "source": None,
    }
    assert unstructure(VehicleOnboardingCompleteRequest(authorization_request_uid="u-1", auth_code="SC-AUTH")) == {
        "authorization_request_uid": "u-1",
        "auth_code": "SC-AUTH",
    }
    assert unstructure(OnboardingLinkRequest(email="a@example.com", make="vmak01HRFHBCM7VBSWRPVYFBQMH2BR")) == {
        "email": "a@example.com",
        "make": "vmak01HRFHBCM7VBSWRPVYFBQMH2BR",
    }
    assert unstructure(
        VehicleWaitlistRequest(email="a@example.com", vehicle_make_name="Tesla", vehicle_model_name="Model 3")
    ) == {
        "email": "a@example.com",
        "vehicle_make_name": "Tesla",
        "vehicle_model_name": "Model 3",
    }
    assert unstructure(VehicleWaitlistRequest(email="a@example.com", vehicle_model_id=None, program_id=None)) == {
        "email": "a@example.com",
        "program_id": None,
        "vehicle_model_id": None,
    }


def test_request_models_decode_too() -> None:
    """The simulator may read request bodies with the same converter: absent -> UNSET."""
    assert structure({}, VehicleUpdate) == VehicleUpdate()
    assert structure({"vehicle_class": None}, VehicleUpdate).vehicle_class is None
    assert structure({"adaptors": ["CCS"]}, VehicleConnectorsUpdate).adaptors == (ConnectorType.CCS,)
    with pytest.raises(ResponseDecodeError) as e:
        structure({"smart_charging_enabled": None}, VehicleUpdate)  # not nullable
    assert e.value.path == "$.smart_charging_enabled"
    with pytest.raises(ResponseDecodeError) as e:
        structure({}, VehicleCreate)
    assert e.value.path == "$.model"
    req = VehicleModelConnectorCreate(
        region=Region.EUROPE, connector_type=ConnectorType.GBT, verified_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert structure(unstructure(req), VehicleModelConnectorCreate) == req


# --------------------------------------------------------------------------------------
# Shape of the classes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [*RESPONSE_MODELS, *REQUEST_MODELS], ids=lambda c: c.__name__)
def test_models_are_frozen_slotted_keyword_only(cls: type[Any]) -> None:
    assert attrs.has(cls)
    assert "__slots__" in cls.__dict__
    assert all(a.kw_only for a in attrs.fields(cls))
    assert cls.__doc__
    if cls in EXAMPLES:
        obj = structure(EXAMPLES[cls], cls)
    else:
        required = {a.name: "x" for a in attrs.fields(cls) if a.default is attrs.NOTHING}
        obj = cls(**required)
    assert not hasattr(obj, "__dict__")
    fields = attrs.fields(cls)
    if fields:
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            setattr(obj, fields[0].name, None)


def test_request_models_default_to_unset_and_responses_to_none() -> None:
    for cls in REQUEST_MODELS:
        for a in attrs.fields(cls):
            assert a.default is attrs.NOTHING or a.default is UNSET, (cls, a.name)
    for cls in RESPONSE_MODELS:
        for a in attrs.fields(cls):
            assert a.default is attrs.NOTHING or a.default is None, (cls, a.name)
    for cls in LOG_MODELS:
        assert all(a.default is None for a in attrs.fields(cls))


def test_models_hash_and_compare_by_value() -> None:
    a = structure(STATUS_LOG, VehicleStatusLog)
    b = structure(copy.deepcopy(STATUS_LOG), VehicleStatusLog)
    assert a == b and hash(a) == hash(b) and a is not b
    assert len({a, b}) == 1
    assert a != structure({**STATUS_LOG, "state": None}, VehicleStatusLog)
    assert hash(structure(expanded_vehicle(), Vehicle)) == hash(structure(expanded_vehicle(), Vehicle))
    assert attrs.evolve(a, state=VehicleState.DRIVING).state is VehicleState.DRIVING


def test_enums_are_str_enums() -> None:
    for enum_cls in ALL_ENUMS:
        assert issubclass(enum_cls, OpenEnum)
        assert issubclass(enum_cls, str)
        assert issubclass(enum_cls, enum.Enum)
