"""Peer 2's models: what a careful user writes by hand from the spec's log schemas.

attrs classes mirroring ``VehicleStatusLog``, ``VehicleLocationLog`` and ``VehicleCommandLog``
(every field optional, as the spec says), enums for the enum fields, a plain
``cattrs.Converter`` with one ``datetime`` hook (``datetime.fromisoformat``). The expandable
``vehicle`` field is kept as its URL string.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs
import cattrs


class VehicleState(enum.Enum):
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


class CurrentType(enum.Enum):
    AC = "AC - Typically home chargers"
    DC = "DC - Typically OTG chargers"


class Command(enum.Enum):
    START_CHARGE = "START_CHARGE"
    STOP_CHARGE = "STOP_CHARGE"
    WAKE_UP = "WAKE_UP"
    SEND_SCHEDULE = "SEND_SCHEDULE"


@attrs.frozen
class StatusLog:
    url: str | None = None
    logged_at: datetime | None = None
    sampled_at: datetime | None = None
    vehicle: str | None = None
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
    current_type: CurrentType | None = None
    is_complete: bool | None = None
    odometer_meters: int | None = None
    data_source: str | None = None
    state: VehicleState | None = None


@attrs.frozen
class LocationLog:
    url: str | None = None
    sampled_at: datetime | None = None
    logged_at: datetime | None = None
    vehicle: str | None = None
    at_home: bool | None = None


@attrs.frozen
class CommandLog:
    url: str | None = None
    logged_at: datetime | None = None
    vehicle: str | None = None
    command: Command | None = None
    external_command_id: str | None = None
    current_milliamps: int | None = None
    internal_command_id: str | None = None


MODELS: dict[str, type[Any]] = {"status": StatusLog, "location": LocationLog, "command": CommandLog}
LIST_TYPES: dict[str, Any] = {kind: list[cls] for kind, cls in MODELS.items()}

converter = cattrs.Converter()
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
