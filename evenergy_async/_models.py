"""Typed models for every schema used by the vehicles operations of the ev.energy v2 API.

Every model is an attrs frozen, slotted, keyword-only class named after its spec schema
(``VehicleWrite`` is :class:`VehicleCreate`, the inline ``PATCH /vehicles/{id}`` body is
:class:`VehicleUpdate`, ``Location`` and ``LocationDetail`` are one :class:`Location`).

The models hold no wire rules: decoding and encoding live in ``_converter``.

Conventions:

* Response models: fields the spec requires have no default (a response missing one fails to
  decode); every other field defaults to ``None``. Nullable fields are ``X | None``.
  Log models require nothing, like the spec. Arrays decode to tuples.
* "URL or expanded object" fields are ``str | Model | None``: the absolute URL by default,
  the nested model when the request asked to ``expand`` it.
* Enum-like fields use :class:`OpenEnum` subclasses, which keep values unknown to this
  version of the library instead of failing (``is_known`` is then false).
* Request models (``...Create``, ``...Update``, ``...Patch``, ``...Request``) default their
  optional fields to :data:`UNSET`; unset fields are not sent, an explicit ``None`` is sent
  as ``null``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import Any, Final, Literal

import attrs

__all__ = [
    # sentinels and enum base
    "UNSET",
    "Unset",
    "OpenEnum",
    # enums
    "AuthMethod",
    "ChargeCurrentType",
    "CommandType",
    "Confidence",
    "ConnectorSource",
    "ConnectorType",
    "CountryCode",
    "CpmsConnection",
    "NotificationCategory",
    "Region",
    "StateOfChargeSource",
    "TariffType",
    "VehicleClass",
    "VehicleIntegration",
    "VehicleState",
    # response models
    "DailyPrices",
    "EVSESite",
    "LatLong",
    "Location",
    "Notification",
    "OnboardedVehicle",
    "PriceSummary",
    "ProblemDetail",
    "Supplier",
    "Tariff",
    "TariffBase",
    "Times",
    "User",
    "VPPModes",
    "Vehicle",
    "VehicleAPIErrorLog",
    "VehicleCommandLog",
    "VehicleCompatibilityCheckResult",
    "VehicleConnectors",
    "VehicleLocationLog",
    "VehicleMake",
    "VehicleModel",
    "VehicleModelConnector",
    "VehicleOnboardingCompleteResponse",
    "VehicleOnboardingJsonResponse",
    "VehicleReconnectionUrl",
    "VehicleStateOfCharge",
    "VehicleStatusLog",
    "VehicleTrim",
    "VehicleWaitlistResponse",
    # request models
    "OnboardingLinkRequest",
    "VehicleConnectorsUpdate",
    "VehicleCreate",
    "VehicleModelConnectorCreate",
    "VehicleModelConnectorPatch",
    "VehicleModelCreate",
    "VehicleModelUpdate",
    "VehicleOnboardingCompleteRequest",
    "VehicleReconnectRequest",
    "VehicleStateOfChargeUpdate",
    "VehicleTrimCreate",
    "VehicleUpdate",
    "VehicleWaitlistRequest",
    # groups
    "LOG_MODELS",
    "REQUEST_MODELS",
    "RESPONSE_MODELS",
]


# --------------------------------------------------------------------------------------
# The UNSET sentinel
# --------------------------------------------------------------------------------------


class Unset(Enum):
    """Type of :data:`UNSET`: "this optional request field is not sent"."""

    UNSET = "UNSET"

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "UNSET"

    def __str__(self) -> str:
        return "UNSET"


UNSET: Final = Unset.UNSET
"""Default of optional request-body fields: the field is left out of the JSON body."""


# --------------------------------------------------------------------------------------
# Open enums
# --------------------------------------------------------------------------------------

_PSEUDO_MEMBERS: dict[type[OpenEnum], dict[str, OpenEnum]] = {}
_PSEUDO_CACHE_MAX = 256  # per enum; past that, unknown values still work (equality, not identity)


class OpenEnum(StrEnum):
    """A ``str`` enum (``StrEnum``) that accepts values it does not know.

    ``VehicleState("FLYING")`` does not raise: it returns a pseudo-member whose ``value`` (and
    ``name``) is ``"FLYING"`` and whose :attr:`is_known` is false. Pseudo-members are cached, so
    the same unknown value gives the same object; they compare equal to their string value,
    like every member, and are never listed when iterating the enum.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        value = str.__str__(value)  # a plain str, even for a str subclass
        cache = _PSEUDO_MEMBERS.setdefault(cls, {})
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value
            member._value_ = value
            if len(cache) < _PSEUDO_CACHE_MAX:
                cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one the spec (and so this library) knows."""
        return type(self)._member_map_.get(self._name_) is self

    def __repr__(self) -> str:
        if self.is_known:
            return f"<{type(self).__name__}.{self._name_}: {self._value_!r}>"
        return f"{type(self).__name__}({self._value_!r})"


class VehicleIntegration(OpenEnum):
    """Whether ev.energy has an integration with the vehicle (``Vehicle.integrated``)."""

    UNINTEGRATED = "UNINTEGRATED"
    """Not integrated."""
    ACTIVE = "ACTIVE"
    """Integrated and the connection works."""
    INACTIVE = "INACTIVE"
    """Was integrated, but the connection is severed (usually the user must reconnect)."""


class VehicleClass(OpenEnum):
    """Class of vehicle: passenger or commercial."""

    PASSENGER = "PASSENGER"
    COMMERCIAL = "COMMERCIAL"


class ConnectorType(OpenEnum):
    """A DC-fast charging connector (GBT appears only on regional model connectors)."""

    CCS = "CCS"
    NACS = "NACS"
    CHADEMO = "CHADEMO"
    GBT = "GBT"


class Region(OpenEnum):
    """A charging region of a vehicle model connector."""

    NORTH_AMERICA = "NORTH_AMERICA"
    EUROPE = "EUROPE"


class ConnectorSource(OpenEnum):
    """Provenance of a regional connector value."""

    EV_ENERGY = "EV_ENERGY"
    CAR_API = "CAR_API"
    USER = "USER"
    DVLA = "DVLA"
    PROVIDER = "PROVIDER"
    FLEET = "FLEET"


class Confidence(OpenEnum):
    """Curator confidence in a regional connector value."""

    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class ChargeCurrentType(OpenEnum):
    """Current type of the EVSE a vehicle is connected to (the wire values are display strings)."""

    AC = "AC - Typically home chargers"
    DC = "DC - Typically OTG chargers"


class VehicleState(OpenEnum):
    """The state of a vehicle in a status log."""

    DRIVING = "DRIVING"
    RECENTLY_FINISHED_DRIVING = "RECENTLY_FINISHED_DRIVING"
    STATIONARY = "STATIONARY"
    IN_SERVICE = "IN_SERVICE"
    PLUGGED_IN_NOT_CHARGING = "PLUGGED_IN_NOT_CHARGING"
    PLUGGED_IN_CHARGING = "PLUGGED_IN_CHARGING"
    PLUGGED_IN_COMPLETE = "PLUGGED_IN_COMPLETE"
    PLUGGED_IN_NEAR_READY_BY_TIME = "PLUGGED_IN_NEAR_READY_BY_TIME"
    PLUGGED_IN_ALMOST_COMPLETE = "PLUGGED_IN_ALMOST_COMPLETE"
    UNKNOWN = "UNKNOWN"


class CommandType(OpenEnum):
    """The type of command sent to a vehicle (command logs)."""

    START_CHARGE = "START_CHARGE"
    STOP_CHARGE = "STOP_CHARGE"
    WAKE_UP = "WAKE_UP"
    SEND_SCHEDULE = "SEND_SCHEDULE"


class StateOfChargeSource(OpenEnum):
    """Where a state-of-charge value came from."""

    MANUAL = "MANUAL"
    """Entered by the driver."""
    CONNECTED = "CONNECTED"
    """From the vehicle's telemetry."""


class AuthMethod(OpenEnum):
    """How a native client runs onboarding: a WebView (``api``) or the provider's SDK (``native``)."""

    API = "api"
    NATIVE = "native"


class TariffType(OpenEnum):
    """The pricing structure of a tariff (only available under contract)."""

    FLAT_RATE = "FLAT_RATE"
    DUAL_RATE = "DUAL_RATE"
    THREE_RATE = "THREE_RATE"
    DYNAMIC = "DYNAMIC"
    EXTERNALLY_MANAGED = "EXTERNALLY_MANAGED"
    OTHER = "OTHER"


class CpmsConnection(OpenEnum):
    """The ChargePoint Management System an EVSE site is connected to."""

    CHARGEPOINT = "CHARGEPOINT"
    SWTCH = "SWTCH"


class NotificationCategory(OpenEnum):
    """Category of a notification type."""

    ACTIONABLE = "ACTIONABLE"
    SERVICE = "SERVICE"
    RETRY = "RETRY"
    MARKETING = "MARKETING"
    INTERNAL = "INTERNAL"


# --------------------------------------------------------------------------------------
# Response models
# --------------------------------------------------------------------------------------

# Every model is `attrs.frozen(kw_only=True, weakref_slot=False)`: no __weakref__ slot keeps the
# layout the fast decoder relies on (see _converter). Spelled out per class for mypy's attrs plugin.


@attrs.frozen(kw_only=True, weakref_slot=False)
class VPPModes:
    """VPP (Virtual Power Plant) control modes the vehicle supports."""

    target_power: bool
    import_max_power: bool
    export_max_power: bool
    charge_mode: bool


@attrs.frozen(kw_only=True, weakref_slot=False)
class LatLong:
    """Coordinates of a location."""

    latitude: float
    longitude: float


@attrs.frozen(kw_only=True, weakref_slot=False)
class Times:
    """A period of the day, ``HH:MM:SS`` strings in the tariff's timezone."""

    start: str | None = None
    end: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class PriceSummary:
    """A single price (major currency units, e.g. ``"0.10"``) for some time ranges."""

    price: str | None = None
    times: tuple[Times, ...] | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class DailyPrices:
    """A tariff's prices for different parts of the day."""

    peak: PriceSummary
    mid_peak: PriceSummary | None = None
    off_peak: PriceSummary | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Supplier:
    """An energy company that supplies electricity tariffs."""

    id: str
    url: str
    name: str
    icon: str | None
    highlighted: bool | None = None
    """Whether users often select this supplier."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class TariffBase:
    """Core tariff properties, shared by :class:`Tariff` and an expanded ``scheduler_tariff``.

    ``daily_prices`` and ``type`` are only available under contract.
    """

    id: str
    url: str
    supplier: str | Supplier
    """The supplier's URL, or the :class:`Supplier` when expanded."""
    name: str
    currency: str
    highlighted: bool | None = None
    type: TariffType | None = None
    daily_prices: DailyPrices | None = None
    """Times are local to ``timezone_name``."""
    timezone_name: str | None = None
    price_chart_url: str | None = None
    gsp_group: str | None = None
    """The GB Grid Supply Point (DNO region); ``None`` when not region-specific."""
    valid_from: date | None = None
    valid_until: date | None = None
    """``None`` while the tariff is open to new sign-ups."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class Tariff(TariffBase):
    """An electricity tariff (``TariffBase`` plus the scheduler tariff)."""

    scheduler_tariff: str | TariffBase | None = None
    """The tariff the scheduler optimises against: a URL, or a :class:`TariffBase` when expanded."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class EVSESite:
    """A place with one or more EVSEs which can be used by multiple users."""

    id: str
    url: str
    evses: tuple[str, ...]
    """URLs of the EVSEs currently associated with the site."""
    cpms_connection: CpmsConnection | None
    cpms_connection_display_name: str | None = None
    user_connected: bool | None = None
    """Whether the user in context is connected to the site's CPMS (``None`` without a user)."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class Location:
    """A charging location (the spec's ``Location`` and ``LocationDetail``).

    ``current_carbon_intensity_grams_per_kilowatt_hour`` is only sent for a single location.
    """

    address_1: str | None = None
    address_2: str | None = None
    postal_code: str | None = None
    country_code: CountryCode | None = None
    coordinates: LatLong | None = None
    tariff: str | Tariff | None = None
    city: str | None = None
    state: str | None = None
    evse_site: str | EVSESite | None = None
    """``None`` when the location is not an EVSE site."""
    current_carbon_intensity_grams_per_kilowatt_hour: int | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class User:
    """An individual user of the ev.energy system."""

    id: str
    url: str
    email: str | None = None
    full_name: str | None = None
    joined_at: datetime | None = None
    terms_consent_datetime: datetime | None = None
    default_location: Location | None = None
    vehicles: tuple[str, ...] | None = None
    """URLs of the user's vehicles."""
    evses: tuple[str, ...] | None = None
    """URLs of the user's EVSEs."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleMake:
    """A vehicle manufacturer."""

    id: str
    url: str
    name: str
    icon: str | None
    """URL of an image of the make's logo."""
    onboarding_url: str | None
    """Link that starts onboarding for this make; ``None`` if the make alone is not enough."""
    models: str
    """Link to the list of this make's models."""
    subscription_name: str | None = None
    """OEM telematics subscription needed for connectivity, if any."""
    subscription_package: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModel:
    """A model of vehicle."""

    id: str
    url: str
    name: str
    make: str | VehicleMake | None = None
    """The make's URL, or the :class:`VehicleMake` when expanded."""
    onboarding_url: str | None = None
    """Link that starts onboarding for this model; ``None`` if the model alone is not enough."""
    vehicle_trims: str | None = None
    """Link to the list of this model's trims."""
    default_battery_size_watt_hours: int
    default_connector_type: ConnectorType | None
    """Default DC-fast connector, pre-filled during onboarding; ``None`` when not known."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleTrim:
    """A trim level of a vehicle model."""

    id: str
    url: str
    name: str
    model: str | VehicleModel | None = None
    """The model's URL, or the :class:`VehicleModel` when expanded."""
    battery_size_watt_hours: int | None = None
    onboarding_url: str | None
    """Link that starts onboarding; ``None``: not integrable, create an unintegrated vehicle."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleStatusLog:
    """The state of a vehicle at a point in time. Every field may be missing."""

    url: str | None = None
    logged_at: datetime | None = None
    """When the status was received and stored."""
    sampled_at: datetime | None = None
    """When the data was recorded (usually earlier than ``logged_at``)."""
    vehicle: str | Vehicle | None = None
    """The vehicle's URL, or the :class:`Vehicle` when expanded."""
    state_of_charge_percentage: int | None = None
    is_charging: bool | None = None
    is_plugged_in: bool | None = None
    charge_rate_watts: int | None = None
    estimated_charge_rate_watts: int | None = None
    charge_level_watt_hours: int | None = None
    target_charge_level_percentage: int | None = None
    target_charge_level_watt_hours: int | None = None
    charge_energy_added_watt_hours: int | None = None
    minutes_to_full_charge: int | None = None
    current_type: ChargeCurrentType | None = None
    is_complete: bool | None = None
    odometer_meters: int | None = None
    data_source: str | None = None
    """The integration that originated the data."""
    state: VehicleState | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class Vehicle:
    """A single, physical electric vehicle."""

    id: str
    url: str
    trim: str | VehicleTrim | None = None
    """The trim's URL, or the :class:`VehicleTrim` when expanded."""
    user: str | User | None = None
    """The owner's URL, or the :class:`User` when expanded."""
    latest_status_log: str | VehicleStatusLog | None = None
    """The most recent status log's URL, or the log when expanded."""
    charging_sub_sessions: str | None = None
    integrated: VehicleIntegration
    battery_size_watt_hours: int
    """Nominal capacity (from the integration or trim)."""
    effective_battery_size_watt_hours: int
    """Capacity after estimated degradation: what the scheduler uses."""
    maximum_charge_limit_percentage: int | None
    """Smart-charging target (50-100); ``None`` when not set or unknown."""
    description: str
    disabled: bool
    """Whether the vehicle can no longer be smart-charged or controlled."""
    smart_charging_enabled: bool
    vehicle_class: VehicleClass | None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleLocationLog:
    """When location data was sampled for a vehicle (no coordinates). Every field may be missing."""

    url: str | None = None
    sampled_at: datetime | None = None
    logged_at: datetime | None = None
    vehicle: str | Vehicle | None = None
    at_home: bool | None = None
    """Whether the vehicle was at the user's home; ``None`` without a home location."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleCommandLog:
    """A command that was sent to a vehicle. Every field may be missing."""

    url: str | None = None
    logged_at: datetime | None = None
    vehicle: str | Vehicle | None = None
    command: CommandType | None = None
    external_command_id: str | None = None
    current_milliamps: int | None = None
    """The current level sent with a start/stop command."""
    internal_command_id: str | None = None
    """UUID linking this dispatch with device command logs and error logs."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleAPIErrorLog:
    """An error from a vehicle's telematics API. Every field may be missing."""

    url: str | None = None
    logged_at: datetime | None = None
    vehicle: str | Vehicle | None = None
    status_code: int | None = None
    """HTTP status code of the telematics API's error response."""
    controller: str | None = None
    error_code: str | None = None
    error_type: str | None = None
    request_id: str | None = None
    command: str | None = None
    error_detail: str | None = None
    internal_command_id: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleConnectors:
    """A vehicle's DC-fast charging connectors: its native plug and adaptors."""

    url: str
    vehicle: str
    native_connector: ConnectorType | None
    """Per-vehicle value falling back to the model's default; ``None`` when not known."""
    adaptors: tuple[ConnectorType, ...]
    updated_at: datetime | None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleStateOfCharge:
    """A vehicle's current battery state of charge."""

    url: str
    vehicle: str
    state_of_charge_percentage: int | None
    source: StateOfChargeSource | None
    updated_at: datetime | None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModelConnector:
    """A vehicle model's DC-fast connector in one charging region."""

    url: str
    vehicle_model: str
    region: Region
    connector_type: ConnectorType
    source: ConnectorSource | None
    confidence: Confidence | None
    verified_at: datetime | None
    updated_at: datetime


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleReconnectionUrl:
    """A URL where the user re-authenticates their vehicle, and when it expires."""

    url: str | None = None
    expires_at: datetime | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleCompatibilityCheckResult:
    """Whether a vehicle model is supported in a country."""

    compatible: bool
    recommendation_rank: int | None
    """Priority of the make (1 = top); ``None``: lower than any explicit rank."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleOnboardingJsonResponse:
    """What a native client needs to start onboarding (``response_type=json``)."""

    authorization_request_id: str
    """Send back as ``authorization_request_uid`` to complete onboarding."""
    url: str
    """The provider's authorization URL."""
    auth_method: AuthMethod
    scopes: tuple[str, ...] | None = None
    single_select: bool | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class OnboardedVehicle:
    """A vehicle created by completing onboarding."""

    id: str
    url: str


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleOnboardingCompleteResponse:
    """The vehicles created by completing onboarding (always a list)."""

    vehicles: tuple[OnboardedVehicle, ...]


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleWaitlistResponse:
    """The new waitlist entry's ID."""

    id: str


@attrs.frozen(kw_only=True, weakref_slot=False)
class Notification:
    """Something the user should be informed about."""

    id: str
    url: str
    message_id: str
    category: NotificationCategory
    event_time: datetime
    short_text_title: str
    short_text_body: str
    detail_page_title: str
    detail_page_body: str
    external_link: str | None
    external_button_label: str
    read_at: datetime | None = None
    resolved_at: datetime | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class ProblemDetail:
    """An RFC 9457 problem (``application/problem+json``) with ev.energy's ``field_errors``.

    Decoded liberally: every field may be missing (``type`` often is).
    """

    type: str | None = None
    status: int | None = None
    title: str | None = None
    detail: str | None = None
    instance: str | None = None
    field_errors: dict[str, tuple[str, ...]] | None = None
    """Validation messages per request field."""
    notification: Notification | None = None


# --------------------------------------------------------------------------------------
# Request models
# --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleCreate:
    """Body of ``POST /vehicles``: an unintegrated vehicle (spec schema ``VehicleWrite``)."""

    model: str
    """URL of an existing vehicle model."""
    battery_size_watt_hours: int | Unset = UNSET
    description: str | Unset = UNSET
    vehicle_class: VehicleClass | Unset | None = UNSET
    user: str | Unset = UNSET
    """The owner's URL: required with client-credentials tokens."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleUpdate:
    """Body of ``PATCH /vehicles/{vehicle_id}``: only the fields set are changed."""

    battery_size_watt_hours: int | Unset = UNSET
    """Only for unintegrated vehicles."""
    maximum_charge_limit_percentage: int | Unset = UNSET
    smart_charging_enabled: bool | Unset = UNSET
    vehicle_class: VehicleClass | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleTrimCreate:
    """Body of ``POST /vehicle_trims``: a custom trim."""

    name: str
    model: str
    """URL of the vehicle model the trim belongs to."""
    battery_size_watt_hours: int


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModelCreate:
    """Body of ``POST /vehicle_models`` (spec schema ``VehicleModelWrite``)."""

    name: str
    make: str
    """URL of the vehicle make."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModelUpdate:
    """Body of ``PATCH /vehicle_models/{vehicle_model_id}``."""

    default_connector_type: ConnectorType | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModelConnectorCreate:
    """Body of ``POST /vehicle_models/{vehicle_model_id}/connectors``."""

    region: Region
    connector_type: ConnectorType
    source: ConnectorSource | Unset | None = UNSET
    confidence: Confidence | Unset | None = UNSET
    verified_at: datetime | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleModelConnectorPatch:
    """Body of ``PATCH /vehicle_models/{vehicle_model_id}/connectors/{region}``."""

    connector_type: ConnectorType | Unset = UNSET
    source: ConnectorSource | Unset | None = UNSET
    confidence: Confidence | Unset | None = UNSET
    verified_at: datetime | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleConnectorsUpdate:
    """Body of ``PATCH /vehicles/{vehicle_id}/connectors``.

    ``native_connector=None`` inherits the model's default; ``adaptors`` replaces the list.
    """

    native_connector: ConnectorType | Unset | None = UNSET
    adaptors: Sequence[ConnectorType] | Unset = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleStateOfChargeUpdate:
    """Body of ``PATCH /vehicles/{vehicle_id}/state_of_charge`` (``None`` clears it)."""

    state_of_charge_percentage: int | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleOnboardingCompleteRequest:
    """Body of ``POST /vehicle_onboarding/complete``."""

    authorization_request_uid: str
    """The ``authorization_request_id`` returned when onboarding started."""
    auth_code: str
    """The provider's OAuth ``auth_code``."""
    smartcar_user_id: str | Unset | None = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class OnboardingLinkRequest:
    """Body of ``POST /vehicle_onboarding/onboarding_link``."""

    email: str
    make: str
    """ID of the vehicle make to onboard."""


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleWaitlistRequest:
    """Body of ``POST /vehicle_waitlist``.

    Give exactly one of ``vehicle_model_id`` or both ``vehicle_make_name`` and
    ``vehicle_model_name``.
    """

    email: str
    program_id: str | Unset | None = UNSET
    vehicle_model_id: str | Unset | None = UNSET
    vehicle_make_name: str | Unset = UNSET
    vehicle_model_name: str | Unset = UNSET


@attrs.frozen(kw_only=True, weakref_slot=False)
class VehicleReconnectRequest:
    """Body of ``POST /vehicles/{vehicle_id}/reconnect``: an empty object (all spec fields are read-only)."""


# --------------------------------------------------------------------------------------
# Country codes (last: long)
# --------------------------------------------------------------------------------------


class CountryCode(OpenEnum):
    """ISO 3166-1 alpha-2 country code."""

    AD = "AD"
    AE = "AE"
    AF = "AF"
    AG = "AG"
    AI = "AI"
    AL = "AL"
    AM = "AM"
    AO = "AO"
    AQ = "AQ"
    AR = "AR"
    AS = "AS"
    AT = "AT"
    AU = "AU"
    AW = "AW"
    AX = "AX"
    AZ = "AZ"
    BA = "BA"
    BB = "BB"
    BD = "BD"
    BE = "BE"
    BF = "BF"
    BG = "BG"
    BH = "BH"
    BI = "BI"
    BJ = "BJ"
    BL = "BL"
    BM = "BM"
    BN = "BN"
    BO = "BO"
    BQ = "BQ"
    BR = "BR"
    BS = "BS"
    BT = "BT"
    BV = "BV"
    BW = "BW"
    BY = "BY"
    BZ = "BZ"
    CA = "CA"
    CC = "CC"
    CD = "CD"
    CF = "CF"
    CG = "CG"
    CH = "CH"
    CI = "CI"
    CK = "CK"
    CL = "CL"
    CM = "CM"
    CN = "CN"
    CO = "CO"
    CR = "CR"
    CU = "CU"
    CV = "CV"
    CW = "CW"
    CX = "CX"
    CY = "CY"
    CZ = "CZ"
    DE = "DE"
    DJ = "DJ"
    DK = "DK"
    DM = "DM"
    DO = "DO"
    DZ = "DZ"
    EC = "EC"
    EE = "EE"
    EG = "EG"
    EH = "EH"
    ER = "ER"
    ES = "ES"
    ET = "ET"
    FI = "FI"
    FJ = "FJ"
    FK = "FK"
    FM = "FM"
    FO = "FO"
    FR = "FR"
    GA = "GA"
    GB = "GB"
    GD = "GD"
    GE = "GE"
    GF = "GF"
    GG = "GG"
    GH = "GH"
    GI = "GI"
    GL = "GL"
    GM = "GM"
    GN = "GN"
    GP = "GP"
    GQ = "GQ"
    GR = "GR"
    GS = "GS"
    GT = "GT"
    GU = "GU"
    GW = "GW"
    GY = "GY"
    HK = "HK"
    HM = "HM"
    HN = "HN"
    HR = "HR"
    HT = "HT"
    HU = "HU"
    ID = "ID"
    IE = "IE"
    IL = "IL"
    IM = "IM"
    IN = "IN"
    IO = "IO"
    IQ = "IQ"
    IR = "IR"
    IS = "IS"
    IT = "IT"
    JE = "JE"
    JM = "JM"
    JO = "JO"
    JP = "JP"
    KE = "KE"
    KG = "KG"
    KH = "KH"
    KI = "KI"
    KM = "KM"
    KN = "KN"
    KP = "KP"
    KR = "KR"
    KW = "KW"
    KY = "KY"
    KZ = "KZ"
    LA = "LA"
    LB = "LB"
    LC = "LC"
    LI = "LI"
    LK = "LK"
    LR = "LR"
    LS = "LS"
    LT = "LT"
    LU = "LU"
    LV = "LV"
    LY = "LY"
    MA = "MA"
    MC = "MC"
    MD = "MD"
    ME = "ME"
    MF = "MF"
    MG = "MG"
    MH = "MH"
    MK = "MK"
    ML = "ML"
    MM = "MM"
    MN = "MN"
    MO = "MO"
    MP = "MP"
    MQ = "MQ"
    MR = "MR"
    MS = "MS"
    MT = "MT"
    MU = "MU"
    MV = "MV"
    MW = "MW"
    MX = "MX"
    MY = "MY"
    MZ = "MZ"
    NA = "NA"
    NC = "NC"
    NE = "NE"
    NF = "NF"
    NG = "NG"
    NI = "NI"
    NL = "NL"
    NO = "NO"
    NP = "NP"
    NR = "NR"
    NU = "NU"
    NZ = "NZ"
    OM = "OM"
    PA = "PA"
    PE = "PE"
    PF = "PF"
    PG = "PG"
    PH = "PH"
    PK = "PK"
    PL = "PL"
    PM = "PM"
    PN = "PN"
    PR = "PR"
    PS = "PS"
    PT = "PT"
    PW = "PW"
    PY = "PY"
    QA = "QA"
    RE = "RE"
    RO = "RO"
    RS = "RS"
    RU = "RU"
    RW = "RW"
    SA = "SA"
    SB = "SB"
    SC = "SC"
    SD = "SD"
    SE = "SE"
    SG = "SG"
    SH = "SH"
    SI = "SI"
    SJ = "SJ"
    SK = "SK"
    SL = "SL"
    SM = "SM"
    SN = "SN"
    SO = "SO"
    SR = "SR"
    SS = "SS"
    ST = "ST"
    SV = "SV"
    SX = "SX"
    SY = "SY"
    SZ = "SZ"
    TC = "TC"
    TD = "TD"
    TF = "TF"
    TG = "TG"
    TH = "TH"
    TJ = "TJ"
    TK = "TK"
    TL = "TL"
    TM = "TM"
    TN = "TN"
    TO = "TO"
    TR = "TR"
    TT = "TT"
    TV = "TV"
    TW = "TW"
    TZ = "TZ"
    UA = "UA"
    UG = "UG"
    UM = "UM"
    US = "US"
    UY = "UY"
    UZ = "UZ"
    VA = "VA"
    VC = "VC"
    VE = "VE"
    VG = "VG"
    VI = "VI"
    VN = "VN"
    VU = "VU"
    WF = "WF"
    WS = "WS"
    YE = "YE"
    YT = "YT"
    ZA = "ZA"
    ZM = "ZM"
    ZW = "ZW"


RESPONSE_MODELS: Final[tuple[type[Any], ...]] = (
    DailyPrices,
    EVSESite,
    LatLong,
    Location,
    Notification,
    OnboardedVehicle,
    PriceSummary,
    ProblemDetail,
    Supplier,
    Tariff,
    TariffBase,
    Times,
    User,
    VPPModes,
    Vehicle,
    VehicleAPIErrorLog,
    VehicleCommandLog,
    VehicleCompatibilityCheckResult,
    VehicleConnectors,
    VehicleLocationLog,
    VehicleMake,
    VehicleModel,
    VehicleModelConnector,
    VehicleOnboardingCompleteResponse,
    VehicleOnboardingJsonResponse,
    VehicleReconnectionUrl,
    VehicleStateOfCharge,
    VehicleStatusLog,
    VehicleTrim,
    VehicleWaitlistResponse,
)
"""Every response model (decoded by ``_converter.structure``)."""

REQUEST_MODELS: Final[tuple[type[Any], ...]] = (
    OnboardingLinkRequest,
    VehicleConnectorsUpdate,
    VehicleCreate,
    VehicleModelConnectorCreate,
    VehicleModelConnectorPatch,
    VehicleModelCreate,
    VehicleModelUpdate,
    VehicleOnboardingCompleteRequest,
    VehicleReconnectRequest,
    VehicleStateOfChargeUpdate,
    VehicleTrimCreate,
    VehicleUpdate,
    VehicleWaitlistRequest,
)
"""Every request-body model (encoded by ``_converter.unstructure``)."""

LOG_MODELS: Final[tuple[type[Any], ...]] = (
    VehicleStatusLog,
    VehicleLocationLog,
    VehicleCommandLog,
    VehicleAPIErrorLog,
)
"""The four log record models."""
