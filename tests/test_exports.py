"""The public surface is explicit: pinned here, so any change to it is deliberate."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import traceback
import typing
from pathlib import Path

import evenergy_async
import evenergy_async.simulator

PUBLIC = set(
    [
        "APIError",
        "APIUnreachableError",
        "AiohttpTransport",
        "AuthError",
        "AuthMethod",
        "AuthorizationRequest",
        "BadRequestError",
        "BearerToken",
        "ChargeCurrentType",
        "ClientCredentials",
        "ClientStateError",
        "ClientStats",
        "CommandLogs",
        "CommandType",
        "Confidence",
        "ConflictError",
        "ConnectError",
        "ConnectorSource",
        "ConnectorType",
        "CountryCode",
        "CpmsConnection",
        "Credential",
        "CredentialEntry",
        "CredentialsFile",
        "CredentialsFileError",
        "CredentialsInUseError",
        "CredentialsStoreError",
        "DEFAULT_BASE_URL",
        "DEFAULT_KINDS",
        "DatabaseError",
        "DailyPrices",
        "EVSESite",
        "ErrorLogs",
        "EvEnergyClient",
        "EvEnergyError",
        "ForbiddenError",
        "HarvestBatch",
        "HarvestMetrics",
        "HarvestPlan",
        "HarvestReport",
        "Hooks",
        "HttpEvent",
        "Harvester",
        "JsonlSink",
        "LOG_MODELS",
        "LatLong",
        "LinkPaginator",
        "Location",
        "LocationLogs",
        "LogKind",
        "LogRecord",
        "MemorySink",
        "MemoryStateStore",
        "MockTransport",
        "NotFoundError",
        "Notification",
        "NotificationCategory",
        "OAuthToken",
        "OnboardedVehicle",
        "OnboardingLinkRequest",
        "OpenEnum",
        "Page",
        "PageNumberPaginator",
        "PaginationError",
        "Paginator",
        "ParkedWork",
        "PartitionState",
        "PostgresSink",
        "PostgresStateStore",
        "PriceSummary",
        "ProblemDetail",
        "REQUEST_MODELS",
        "RESPONSE_MODELS",
        "RateLimitError",
        "RateLimitState",
        "RefreshToken",
        "Region",
        "Request",
        "RequestTimeoutError",
        "Response",
        "ResponseDecodeError",
        "ResponseLostError",
        "RetryPolicy",
        "SQLiteStateStore",
        "ServerError",
        "Sink",
        "SinkError",
        "StateOfChargeSource",
        "StateStore",
        "StatusLogs",
        "Supplier",
        "Tariff",
        "TariffBase",
        "TariffType",
        "Times",
        "TokenPlan",
        "TokenReport",
        "TransactionalSink",
        "Transport",
        "TransportError",
        "UNSET",
        "UnauthorizedError",
        "UnprocessableError",
        "Unset",
        "User",
        "VPPModes",
        "Vehicle",
        "VehicleAPIErrorLog",
        "VehicleClass",
        "VehicleCommandLog",
        "VehicleCompatibility",
        "VehicleCompatibilityCheckResult",
        "VehicleConnectors",
        "VehicleConnectorsUpdate",
        "VehicleCreate",
        "VehicleFailure",
        "VehicleIntegration",
        "VehicleLocationLog",
        "VehicleMake",
        "VehicleMakes",
        "VehicleModel",
        "VehicleModelConnector",
        "VehicleModelConnectorCreate",
        "VehicleModelConnectorPatch",
        "VehicleModelCreate",
        "VehicleModelUpdate",
        "VehicleModels",
        "VehicleOnboarding",
        "VehicleOnboardingCompleteRequest",
        "VehicleOnboardingCompleteResponse",
        "VehicleOnboardingJsonResponse",
        "VehicleReconnectRequest",
        "VehicleReconnectionUrl",
        "VehicleSource",
        "VehicleState",
        "VehicleStateOfCharge",
        "VehicleStateOfChargeUpdate",
        "VehicleStatusLog",
        "VehicleTrim",
        "VehicleTrimCreate",
        "VehicleTrims",
        "VehicleUpdate",
        "VehicleWaitlist",
        "VehicleWaitlistRequest",
        "VehicleWaitlistResponse",
        "Vehicles",
        "__version__",
        "append_credentials",
        "converter",
        "error_for_status",
        "format_timestamp",
        "parse_timestamp",
        "shard_of",
        "structure",
        "structure_list",
        "unstructure",
    ]
)

SIMULATOR_PUBLIC = {
    "FAULT_KINDS",
    "DataSet",
    "FaultConfig",
    "FaultEvent",
    "Simulator",
    "SimulatorConfig",
    "SimulatorStats",
}


def test_root_exports_are_pinned() -> None:
    assert set(evenergy_async.__all__) == PUBLIC
    assert len(evenergy_async.__all__) == len(PUBLIC)  # no duplicates


def test_every_export_resolves_to_library_code() -> None:
    for name in evenergy_async.__all__:
        obj = getattr(evenergy_async, name)
        module = getattr(obj, "__module__", None)
        if isinstance(obj, type) or callable(obj):
            assert module is not None and module.startswith(("evenergy_async", "cattrs")), name


def test_submodules_are_private_except_the_simulator() -> None:
    names = [m.name for m in pkgutil.iter_modules(evenergy_async.__path__)]
    assert names, "no submodules found"
    public = sorted(n for n in names if not n.startswith("_"))
    assert public == ["simulator"]
    for name in names:
        importlib.import_module(f"evenergy_async.{name}")


def test_simulator_exports_are_pinned() -> None:
    assert set(evenergy_async.simulator.__all__) == SIMULATOR_PUBLIC


def test_package_is_typed() -> None:
    assert (Path(evenergy_async.__file__).parent / "py.typed").exists()


def _defined_in_private_module(obj: object) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj)


def test_public_classes_and_functions_name_the_public_module() -> None:
    for name in evenergy_async.__all__:
        obj = getattr(evenergy_async, name)
        if _defined_in_private_module(obj) and getattr(obj, "__module__", "").startswith("evenergy_async"):
            assert obj.__module__ == "evenergy_async", name
    assert repr(evenergy_async.NotFoundError) == "<class 'evenergy_async.NotFoundError'>"
    try:
        raise evenergy_async.NotFoundError("no such vehicle", method="GET", url="https://x/v2/vehicles/v", status=404)
    except evenergy_async.NotFoundError as exc:
        text = "".join(traceback.format_exception(exc))
    assert "evenergy_async.NotFoundError: no such vehicle" in text
    assert "_errors" not in text.splitlines()[-1]


def test_type_hints_of_public_classes_still_resolve() -> None:
    for name in evenergy_async.__all__:
        obj = getattr(evenergy_async, name)
        if inspect.isclass(obj):
            typing.get_type_hints(obj)  # raises if an annotation no longer resolves
    assert typing.get_type_hints(evenergy_async.Vehicle)["id"] is str


def test_no_anonymous_sentinels_in_signatures() -> None:
    """``help()`` must never render a default as ``<object object at 0x...>``."""
    checked = 0
    for name in evenergy_async.__all__:
        obj = getattr(evenergy_async, name)
        members = [obj]
        if inspect.isclass(obj):
            members += [m for k, m in vars(obj).items() if inspect.isfunction(m) and (not k.startswith("_") or k == "__init__")]
        for member in members:
            if not callable(member):
                continue
            try:
                sig = str(inspect.signature(member))
            except (TypeError, ValueError):
                continue
            checked += 1
            assert "<object object" not in sig, (name, sig)
    assert checked > 100
    client_sig = str(inspect.signature(evenergy_async.EvEnergyClient))
    assert " at 0x" not in client_sig and "UNSET" in str(inspect.signature(evenergy_async.EvEnergyClient.with_options))
