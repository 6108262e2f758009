"""Thin per-resource services: each method names a path, its parameters and its model.

All I/O and decoding goes through ``EvEnergyClient._call`` and the helpers of ``_Service``;
path parameters are validated before anything is sent.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any, Final, Generic, TypeVar

from yarl import URL

from . import _models as m
from ._converter import list_items_from_body, request_body, structure, structure_list
from ._errors import ResponseDecodeError
from ._pagination import LinkPaginator, PageNumberPaginator, Paginator
from ._sansio import (
    decode_error,
    encode_json,
    format_path_timestamp,
    validate_id,
    validate_region,
)
from ._transport import Response
from ._types import AuthMode, Requester

__all__ = [
    "CommandLogs",
    "ErrorLogs",
    "LocationLogs",
    "StatusLogs",
    "VehicleCompatibility",
    "VehicleMakes",
    "VehicleModels",
    "VehicleOnboarding",
    "VehicleTrims",
    "VehicleWaitlist",
    "Vehicles",
]

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
Params = list[tuple[str, str]]


def query(**values: Any) -> Params:
    """Query parameters in wire form: None dropped, sequences repeated, datetimes and enums formatted."""
    out: Params = []
    for key, value in values.items():
        if value is None:
            continue
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, datetime):
                out.append((key, format_path_timestamp(item)))
            elif isinstance(item, enum.Enum):
                out.append((key, str(item.value)))
            elif isinstance(item, bool):
                out.append((key, "true" if item else "false"))
            else:
                out.append((key, str(item)))
    return out


def _page_size(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError(f"page_size must be an integer from 1 to 100, got {value!r}")
    return value


class _P:
    """A path parameter: its value, and its name in the operation's route (``vehicle_id``)."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self.value = value


class _Target:
    """Where an operation goes: the URL, and its templated route (``/vehicles/{vehicle_id}``)."""

    __slots__ = ("route", "url")

    def __init__(self, url: URL, route: str) -> None:
        self.url = url
        self.route = route


def _id(kind: str, value: str) -> _P:
    return _P(f"{kind}_id", validate_id(kind, value))


class _Service:
    def __init__(self, client: Requester) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"<{type(self).__name__} service of {self._client!r}>"

    def _url(self, *segments: str | _P) -> _Target:
        values: list[str] = []
        parts: list[str] = []
        for seg in segments:
            if isinstance(seg, _P):
                values.append(seg.value)
                parts.append(f"{{{seg.name}}}")
            else:
                values.append(seg)
                parts.append(seg)
        return _Target(self._client._url(*values), "/" + "/".join(parts))

    def _decoder(self, method: str, model: type[T]) -> Any:
        def decode(response: Response) -> T:
            data = self._client._json_of(response, method)
            try:
                return structure(data, model)
            except ResponseDecodeError as exc:
                raise decode_error(
                    exc.message, method=method, url=response.url, status=response.status, path=exc.path
                ) from exc

        return decode

    async def _call(
        self,
        method: str,
        target: _Target,
        model: type[T],
        *,
        body: Any = None,
        params: Params | None = None,
        auth: AuthMode = "required",
    ) -> T:
        payload = None if body is None else encode_json(request_body(body))
        result: T = await self._client._call(
            method, target.url, self._decoder(method, model), params=params, body=payload, auth=auth, route=target.route
        )
        return result

    async def _call_no_content(
        self, method: str, target: _Target, *, body: Any = None, auth: AuthMode = "required"
    ) -> Any:
        """For answers that may be 204 (None) or 200 with a JSON body."""

        def decode(response: Response) -> Any:
            return None if response.status == 204 or not response.body else self._client._json_of(response, method)

        payload = None if body is None else encode_json(request_body(body))
        return await self._client._call(method, target.url, decode, body=payload, auth=auth, route=target.route)

    def _list(
        self,
        target: _Target,
        model: type[T],
        params: Params,
        *,
        auth: AuthMode = "required",
        page_numbers: bool = False,
    ) -> Paginator[T]:
        cls = PageNumberPaginator if page_numbers else LinkPaginator
        return cls(
            self._client,
            target.url.extend_query(params) if params else target.url,
            partial(structure_list, cls=model),
            auth=auth,
            route=target.route,
            from_body=list_items_from_body(model),
        )


def _one_string(name: str, value: object) -> str | None:
    """A parameter the spec declares as one string: a list (or anything else) is refused before sending."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one string here, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


# the values each operation's ``expand`` takes in the spec (tests/test_request_bodies.py checks them)
EXPAND_VEHICLE: Final = ("user", "trim", "trim.model", "trim.model.make", "latest_status_log")
EXPAND_TRIM: Final = ("model", "model.make")
EXPAND_MODEL: Final = ("make",)
EXPAND_LOG: Final = ("vehicle", "vehicle.trim", "vehicle.trim.model", "vehicle.trim.model.make", "vehicle.user")


def _expand(values: Sequence[str] | str | None, allowed: tuple[str, ...]) -> list[str] | None:
    """``expand`` as the spec allows it for the operation (one name or several); any other
    value is refused before a request is sent."""
    if values is None:
        return None
    items = [values] if isinstance(values, str) else list(values)
    for value in items:
        if not isinstance(value, str) or value not in allowed:
            shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
            raise ValueError(f"expand takes {', '.join(allowed)} here, not {shown}")
    return items


def _vehicle(vehicle_id: str) -> _P:
    return _id("vehicle", vehicle_id)


class Vehicles(_Service):
    """``/vehicles``: the user's vehicles."""

    def list(
        self,
        *,
        expand: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_after: str | None = None,
        page_before: str | None = None,
    ) -> Paginator[m.Vehicle]:
        params = query(page_size=_page_size(page_size), expand=_expand(expand, EXPAND_VEHICLE), page_after=page_after, page_before=page_before)
        return self._list(self._url("vehicles"), m.Vehicle, params)

    async def create(self, body: m.VehicleCreate, *, expand: str | None = None) -> m.Vehicle:
        """Create an unintegrated vehicle (a client-credentials token needs ``as_user``).

        ``expand`` is one field name (the spec declares one string here, not a list).
        """
        params = query(expand=_one_string("expand", expand))
        return await self._call("POST", self._url("vehicles"), m.Vehicle, body=body, params=params)

    async def get(self, vehicle_id: str, *, expand: Sequence[str] | None = None) -> m.Vehicle:
        url = self._url("vehicles", _vehicle(vehicle_id))
        return await self._call("GET", url, m.Vehicle, params=query(expand=_expand(expand, EXPAND_VEHICLE)))

    async def update(
        self, vehicle_id: str, body: m.VehicleUpdate, *, expand: Sequence[str] | None = None
    ) -> m.Vehicle:
        url = self._url("vehicles", _vehicle(vehicle_id))
        return await self._call("PATCH", url, m.Vehicle, body=body, params=query(expand=_expand(expand, EXPAND_VEHICLE)))

    async def delete(self, vehicle_id: str) -> dict[str, int] | None:
        """Delete a vehicle: ``None`` for 204, else the server's counts of deleted objects."""
        result = await self._call_no_content("DELETE", self._url("vehicles", _vehicle(vehicle_id)))
        return dict(result) if isinstance(result, dict) else None

    async def vpp_modes(self, vehicle_id: str) -> m.VPPModes:
        return await self._call("GET", self._url("vehicles", _vehicle(vehicle_id), "vpp_modes"), m.VPPModes)

    async def reconnect(self, vehicle_id: str) -> m.VehicleReconnectionUrl:
        """Start re-authorising an integrated vehicle; the answer holds a URL and its expiry."""
        url = self._url("vehicles", _vehicle(vehicle_id), "reconnect")
        return await self._call("POST", url, m.VehicleReconnectionUrl, body=m.VehicleReconnectRequest())

    async def disconnect(self, vehicle_id: str) -> m.Vehicle:
        return await self._call("POST", self._url("vehicles", _vehicle(vehicle_id), "disconnect"), m.Vehicle)

    async def get_connectors(self, vehicle_id: str) -> m.VehicleConnectors:
        url = self._url("vehicles", _vehicle(vehicle_id), "connectors")
        return await self._call("GET", url, m.VehicleConnectors)

    async def update_connectors(self, vehicle_id: str, body: m.VehicleConnectorsUpdate) -> m.VehicleConnectors:
        url = self._url("vehicles", _vehicle(vehicle_id), "connectors")
        return await self._call("PATCH", url, m.VehicleConnectors, body=body)

    async def get_state_of_charge(self, vehicle_id: str) -> m.VehicleStateOfCharge:
        url = self._url("vehicles", _vehicle(vehicle_id), "state_of_charge")
        return await self._call("GET", url, m.VehicleStateOfCharge)

    async def update_state_of_charge(
        self, vehicle_id: str, body: m.VehicleStateOfChargeUpdate
    ) -> m.VehicleStateOfCharge:
        url = self._url("vehicles", _vehicle(vehicle_id), "state_of_charge")
        return await self._call("PATCH", url, m.VehicleStateOfCharge, body=body)


class VehicleTrims(_Service):
    """``/vehicle_trims``: the catalogue's trims (battery sizes)."""

    def list(
        self,
        *,
        model_id: str | None = None,
        ordering: str | None = None,
        expand: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_after: str | None = None,
        page_before: str | None = None,
    ) -> Paginator[m.VehicleTrim]:
        params = query(
            page_size=_page_size(page_size),
            model_id=None if model_id is None else validate_id("vehicle_model", model_id),
            ordering=_ordering(ordering),
            expand=_expand(expand, EXPAND_TRIM),
            page_after=page_after,
            page_before=page_before,
        )
        return self._list(self._url("vehicle_trims"), m.VehicleTrim, params)

    async def create(self, body: m.VehicleTrimCreate) -> m.VehicleTrim:
        return await self._call("POST", self._url("vehicle_trims"), m.VehicleTrim, body=body)

    async def get(self, trim_id: str, *, expand: Sequence[str] | None = None) -> m.VehicleTrim:
        url = self._url("vehicle_trims", _id("vehicle_trim", trim_id))
        return await self._call("GET", url, m.VehicleTrim, params=query(expand=_expand(expand, EXPAND_TRIM)))


def _ordering(value: str | None) -> str | None:
    if value is not None and value not in {"name", "-name"}:
        raise ValueError(f"ordering must be 'name' or '-name', got {value!r}")
    return value


class VehicleModels(_Service):
    """``/vehicle_models`` and their per-region connectors. Reads need no token."""

    def list(
        self,
        *,
        make_id: str | None = None,
        available_for_user_id: str | None = None,
        ordering: str | None = None,
        expand: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_after: str | None = None,
        page_before: str | None = None,
    ) -> Paginator[m.VehicleModel]:
        params = query(
            page_size=_page_size(page_size),
            make_id=None if make_id is None else validate_id("vehicle_make", make_id),
            available_for_user_id=_user_or_none(available_for_user_id),
            ordering=_ordering(ordering),
            expand=_expand(expand, EXPAND_MODEL),
            page_after=page_after,
            page_before=page_before,
        )
        return self._list(self._url("vehicle_models"), m.VehicleModel, params, auth="optional")

    async def create(self, body: m.VehicleModelCreate) -> m.VehicleModel:
        return await self._call("POST", self._url("vehicle_models"), m.VehicleModel, body=body)

    async def get(self, model_id: str, *, expand: Sequence[str] | None = None) -> m.VehicleModel:
        url = self._url("vehicle_models", _id("vehicle_model", model_id))
        return await self._call("GET", url, m.VehicleModel, params=query(expand=_expand(expand, EXPAND_MODEL)), auth="optional")

    async def update(self, model_id: str, body: m.VehicleModelUpdate) -> m.VehicleModel:
        url = self._url("vehicle_models", _id("vehicle_model", model_id))
        return await self._call("PATCH", url, m.VehicleModel, body=body)

    def list_connectors(
        self, model_id: str, *, page: int | None = None, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Paginator[m.VehicleModelConnector]:
        """The model's connector per region (paged by ``page=N``)."""
        url = self._url("vehicle_models", _id("vehicle_model", model_id), "connectors")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise ValueError(f"page must be an integer >= 1, got {page!r}")
        params = query(page=page, page_size=_page_size(page_size))
        return self._list(url, m.VehicleModelConnector, params, auth="optional", page_numbers=True)

    async def add_connector(self, model_id: str, body: m.VehicleModelConnectorCreate) -> m.VehicleModelConnector:
        url = self._url("vehicle_models", _id("vehicle_model", model_id), "connectors")
        return await self._call("POST", url, m.VehicleModelConnector, body=body)

    async def get_connector(self, model_id: str, region: str) -> m.VehicleModelConnector:
        url = self._url("vehicle_models", _id("vehicle_model", model_id), "connectors", _P("region", validate_region(region)))
        return await self._call("GET", url, m.VehicleModelConnector, auth="optional")

    async def update_connector(
        self, model_id: str, region: str, body: m.VehicleModelConnectorPatch
    ) -> m.VehicleModelConnector:
        url = self._url("vehicle_models", _id("vehicle_model", model_id), "connectors", _P("region", validate_region(region)))
        return await self._call("PATCH", url, m.VehicleModelConnector, body=body)


def _user_or_none(user_id: str | None) -> str | None:
    return None if user_id is None else validate_id("user", user_id)


class VehicleMakes(_Service):
    """``/vehicle_makes``: the catalogue's makes. No token needed."""

    def list(
        self,
        *,
        available_for_user_id: str | None = None,
        ordering: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_after: str | None = None,
        page_before: str | None = None,
    ) -> Paginator[m.VehicleMake]:
        params = query(
            page_size=_page_size(page_size),
            available_for_user_id=_user_or_none(available_for_user_id),
            ordering=_ordering(ordering),
            page_after=page_after,
            page_before=page_before,
        )
        return self._list(self._url("vehicle_makes"), m.VehicleMake, params, auth="optional")

    async def get(self, make_id: str) -> m.VehicleMake:
        url = self._url("vehicle_makes", _id("vehicle_make", make_id))
        return await self._call("GET", url, m.VehicleMake, auth="optional")


class _LogService(_Service, Generic[T]):
    """One vehicle log kind: newest first, filtered by its timestamp field (``since``/``until``)."""

    path: str
    time_field: str
    model: type[T]

    def list(
        self,
        vehicle_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        expand: Sequence[str] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        page_after: datetime | str | None = None,
        page_before: datetime | str | None = None,
    ) -> Paginator[T]:
        """Logs of one vehicle, newest first; ``since``/``until`` are inclusive bounds."""
        for name, value in (("since", since), ("until", until)):
            if value is not None and not isinstance(value, datetime):
                raise TypeError(f"{name} must be a datetime (timezone-aware), not {type(value).__name__}")
        params = query(
            page_size=_page_size(page_size),
            **{f"{self.time_field}__gte": since, f"{self.time_field}__lte": until},
            expand=_expand(expand, EXPAND_LOG),
            page_after=page_after,
            page_before=page_before,
        )
        return self._list(self._url("vehicles", _vehicle(vehicle_id), self.path), self.model, params)

    async def get(self, vehicle_id: str, at: datetime, /, *, expand: Sequence[str] | None = None) -> T:
        """The log record of one vehicle at exactly ``at`` (its timestamp field)."""
        url = self._url("vehicles", _vehicle(vehicle_id), self.path, _P(self.time_field, format_path_timestamp(at)))
        return await self._call("GET", url, self.model, params=query(expand=_expand(expand, EXPAND_LOG)))


class StatusLogs(_LogService[m.VehicleStatusLog]):
    """``/vehicles/{id}/status_logs``, keyed and filtered by ``sampled_at``."""

    path, time_field, model = "status_logs", "sampled_at", m.VehicleStatusLog


class LocationLogs(_LogService[m.VehicleLocationLog]):
    """``/vehicles/{id}/location_logs``, keyed and filtered by ``sampled_at``."""

    path, time_field, model = "location_logs", "sampled_at", m.VehicleLocationLog


class CommandLogs(_LogService[m.VehicleCommandLog]):
    """``/vehicles/{id}/command_logs``, keyed and filtered by ``logged_at``."""

    path, time_field, model = "command_logs", "logged_at", m.VehicleCommandLog


class ErrorLogs(_LogService[m.VehicleAPIErrorLog]):
    """``/vehicles/{id}/error_logs`` (API error logs), keyed and filtered by ``logged_at``."""

    path, time_field, model = "error_logs", "logged_at", m.VehicleAPIErrorLog


class VehicleOnboarding(_Service):
    """``/vehicle_onboarding``: connect a user's vehicle through its maker's login."""

    def _params(
        self,
        user_id: str,
        client_id: str,
        make_id: str | None,
        model_id: str | None,
        trim_id: str | None,
        redirect_uri: str | None,
        response_type: str | None,
    ) -> Params:
        if not client_id:
            raise ValueError("client_id is required")
        return query(
            user_id=validate_id("user", user_id),
            client_id=client_id,
            make_id=None if make_id is None else validate_id("vehicle_make", make_id),
            model_id=None if model_id is None else validate_id("vehicle_model", model_id),
            trim_id=None if trim_id is None else validate_id("vehicle_trim", trim_id),
            response_type=response_type,
            redirect_uri=redirect_uri,
        )

    def url(
        self,
        *,
        user_id: str,
        client_id: str,
        make_id: str | None = None,
        model_id: str | None = None,
        trim_id: str | None = None,
        redirect_uri: str | None = None,
    ) -> str:
        """The browser URL that starts onboarding (no request is made)."""
        params = self._params(user_id, client_id, make_id, model_id, trim_id, redirect_uri, None)
        return str(self._url("vehicle_onboarding").url.with_query(params))

    async def start_native(
        self,
        *,
        user_id: str,
        client_id: str,
        make_id: str | None = None,
        model_id: str | None = None,
        trim_id: str | None = None,
        redirect_uri: str | None = None,
    ) -> m.VehicleOnboardingJsonResponse:
        """``response_type=json``: the provider URL and auth method for a native SDK."""
        if make_id is None and model_id is None and trim_id is None:
            raise ValueError("start_native needs at least one of make_id, model_id, trim_id")
        params = self._params(user_id, client_id, make_id, model_id, trim_id, redirect_uri, "json")
        url = self._url("vehicle_onboarding")
        return await self._call("GET", url, m.VehicleOnboardingJsonResponse, params=params, auth="optional")

    async def complete(self, body: m.VehicleOnboardingCompleteRequest) -> m.VehicleOnboardingCompleteResponse:
        url = self._url("vehicle_onboarding", "complete")
        return await self._call("POST", url, m.VehicleOnboardingCompleteResponse, body=body, auth="optional")

    async def send_link(self, body: m.OnboardingLinkRequest) -> None:
        """Email the user a link to onboard a vehicle of the given make (204)."""
        url = self._url("vehicle_onboarding", "onboarding_link")
        await self._call_no_content("POST", url, body=body)


class VehicleCompatibility(_Service):
    """``/vehicle_compatibility/check``: can this model be smart-charged here?"""

    async def check(
        self,
        vehicle_model_id: str,
        *,
        country: str | None = None,
        client_id: str | None = None,
        program_id: str | None = None,
    ) -> m.VehicleCompatibilityCheckResult:
        if country is not None and (len(country) != 2 or not country.isascii() or not country.isalpha()):
            raise ValueError(f"country must be an ISO-3166 alpha-2 code, got {country!r}")
        params = query(
            vehicle_model_id=validate_id("vehicle_model", vehicle_model_id),
            country=country,
            client_id=client_id,
            program_id=None if program_id is None else validate_id("program", program_id),
        )
        url = self._url("vehicle_compatibility", "check")
        return await self._call("GET", url, m.VehicleCompatibilityCheckResult, params=params, auth="optional")


class VehicleWaitlist(_Service):
    """``/vehicle_waitlist``: register interest in a vehicle not yet supported."""

    async def join(
        self, body: m.VehicleWaitlistRequest, *, client_id: str | None = None
    ) -> m.VehicleWaitlistResponse:
        url = self._url("vehicle_waitlist")
        return await self._call(
            "POST", url, m.VehicleWaitlistResponse, body=body, params=query(client_id=client_id), auth="optional"
        )

