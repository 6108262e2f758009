"""The operation table: every route the simulator serves, with its metadata."""

from __future__ import annotations

import attrs

__all__: list[str] = []  # private module

# Unknown enum values used by the "unknown_enum" fault, per top-level field name.
UNKNOWN_ENUM_VALUES: dict[str, str] = {
    "state": "HOVERING",
    "current_type": "WIRELESS - Inductive pads",
    "command": "HONK_HORN",
    "integrated": "SUSPENDED",
    "vehicle_class": "MOTORCYCLE",
    "native_connector": "MCS",
    "default_connector_type": "MCS",
    "connector_type": "MCS",
    "source": "SATELLITE",
    "confidence": "CERTAIN",
    "auth_method": "magic_link",
}


@attrs.frozen
class Op:
    operation_id: str
    method: str
    path: str  # aiohttp route template relative to the base path (or origin for oauth)
    scope: str | None  # required scope; None = public (security: [])
    groups: frozenset[str]
    has_body: bool = True  # a successful answer carries a JSON body
    is_list: bool = False
    log_kind: str | None = None
    enum_fields: tuple[str, ...] = ()
    oauth: bool = False  # origin-root OAuth endpoint: no version/rate-limit handling

    @property
    def public(self) -> bool:
        return self.scope is None

    @property
    def is_log_list(self) -> bool:
        return self.is_list and self.log_kind is not None


_V = ("integrated", "vehicle_class")


def _op(
    operation_id: str,
    method: str,
    path: str,
    scope: str | None,
    *groups: str,
    **kw: object,
) -> Op:
    return Op(operation_id, method, path, scope, frozenset(groups), **kw)  # type: ignore[arg-type]


_LOG_LIST_ENUMS = {
    "status": ("state", "current_type"),
    "location": (),
    "command": ("command",),
    "error": (),
}

_LOG_PATHS = {
    "status": ("status_logs", "sampled_at"),
    "location": ("location_logs", "sampled_at"),
    "command": ("command_logs", "logged_at"),
    "error": ("error_logs", "logged_at"),
}


def _log_ops() -> list[Op]:
    out = []
    for kind, (seg, _key) in _LOG_PATHS.items():
        scope = "debug:read" if kind == "command" else "vehicle:read"
        op_seg = seg
        out.append(
            _op(
                f"get-vehicles-vehicle_id-{op_seg}",
                "GET",
                f"/vehicles/{{vehicle_id}}/{seg}",
                scope,
                "log_lists",
                "logs",
                is_list=True,
                log_kind=kind,
                enum_fields=_LOG_LIST_ENUMS[kind],
            )
        )
        out.append(
            _op(
                f"get-vehicles-vehicle_id-{op_seg}-timestamp",
                "GET",
                f"/vehicles/{{vehicle_id}}/{seg}/{{timestamp}}",
                scope,
                "log_gets",
                "logs",
                log_kind=kind,
                enum_fields=_LOG_LIST_ENUMS[kind],
            )
        )
    return out


OPERATIONS: tuple[Op, ...] = (
    _op("get-vehicles-vehicle_id-connectors", "GET", "/vehicles/{vehicle_id}/connectors",
        "vehicle:read", "vehicles", enum_fields=("native_connector",)),
    _op("patch-vehicles-vehicle_id-connectors", "PATCH", "/vehicles/{vehicle_id}/connectors",
        "vehicle:write", "vehicles", enum_fields=("native_connector",)),
    _op("get-vehicles-vehicle_id-state_of_charge", "GET", "/vehicles/{vehicle_id}/state_of_charge",
        "vehicle:read", "vehicles", enum_fields=("source",)),
    _op("patch-vehicles-vehicle_id-state_of_charge", "PATCH",
        "/vehicles/{vehicle_id}/state_of_charge", "vehicle:write", "vehicles",
        enum_fields=("source",)),
    _op("get-vehicles", "GET", "/vehicles", "vehicle:read", "vehicles", "lists", is_list=True,
        enum_fields=_V),
    _op("post-vehicles", "POST", "/vehicles", "vehicle:write", "vehicles", enum_fields=_V),
    _op("get-vehicles-vehicle_id", "GET", "/vehicles/{vehicle_id}", "vehicle:read", "vehicles",
        enum_fields=_V),
    _op("patch-vehicles", "PATCH", "/vehicles/{vehicle_id}", "vehicle:write", "vehicles",
        enum_fields=_V),
    _op("delete-vehicles", "DELETE", "/vehicles/{vehicle_id}", "vehicle:write", "vehicles",
        has_body=False),
    _op("get-vehicle_trims", "GET", "/vehicle_trims", "vehicle:read", "catalogue", "lists",
        is_list=True),
    _op("post-vehicle_trims", "POST", "/vehicle_trims", "vehicle:write", "catalogue"),
    _op("get-vehicle_trims-vehicle_trim_id", "GET", "/vehicle_trims/{vehicle_trim_id}",
        "vehicle:read", "catalogue"),
    _op("get-vehicle_models", "GET", "/vehicle_models", None, "catalogue", "lists", is_list=True,
        enum_fields=("default_connector_type",)),
    _op("post-vehicle_models", "POST", "/vehicle_models", "vehicle:write", "catalogue",
        enum_fields=("default_connector_type",)),
    _op("get-vehicle_models-vehicle_model_id-connectors", "GET",
        "/vehicle_models/{vehicle_model_id}/connectors", None, "catalogue", "lists",
        is_list=True, enum_fields=("connector_type", "source", "confidence")),
    _op("post-vehicle_models-vehicle_model_id-connectors", "POST",
        "/vehicle_models/{vehicle_model_id}/connectors", "vehicle_catalogue:write", "catalogue",
        enum_fields=("connector_type", "source", "confidence")),
    _op("get-vehicle_models-vehicle_model_id-connectors-region", "GET",
        "/vehicle_models/{vehicle_model_id}/connectors/{region}", None, "catalogue",
        enum_fields=("connector_type", "source", "confidence")),
    _op("patch-vehicle_models-vehicle_model_id-connectors-region", "PATCH",
        "/vehicle_models/{vehicle_model_id}/connectors/{region}", "vehicle_catalogue:write",
        "catalogue", enum_fields=("connector_type", "source", "confidence")),
    _op("get-vehicle_models-vehicle_model_id", "GET", "/vehicle_models/{vehicle_model_id}", None,
        "catalogue", enum_fields=("default_connector_type",)),
    _op("patch-vehicle_models-vehicle_model_id", "PATCH", "/vehicle_models/{vehicle_model_id}",
        "vehicle_catalogue:write", "catalogue", enum_fields=("default_connector_type",)),
    _op("get-vehicle_makes", "GET", "/vehicle_makes", None, "catalogue", "lists", is_list=True),
    _op("get-vehicle_makes-vehicle_make_id", "GET", "/vehicle_makes/{vehicle_make_id}", None,
        "catalogue"),
    *_log_ops(),
    _op("get-vehicles-vehicle_id-vpp_modes", "GET", "/vehicles/{vehicle_id}/vpp_modes",
        "vehicle:read", "vehicles"),
    _op("get-vehicle_onboarding", "GET", "/vehicle_onboarding", None, "onboarding",
        enum_fields=("auth_method",)),
    _op("post-vehicle_onboarding-complete", "POST", "/vehicle_onboarding/complete", None,
        "onboarding"),
    _op("post-vehicle_onboarding-onboarding_link", "POST", "/vehicle_onboarding/onboarding_link",
        "vehicle:write", "onboarding", has_body=False),
    _op("get-vehicle_compatibility-check", "GET", "/vehicle_compatibility/check", None,
        "onboarding"),
    _op("post-vehicle_waitlist", "POST", "/vehicle_waitlist", None, "onboarding"),
    _op("post-vehicles-vehicle_id-reconnect", "POST", "/vehicles/{vehicle_id}/reconnect", "",
        "vehicles"),
    _op("post-vehicles-vehicle_id-disconnect", "POST", "/vehicles/{vehicle_id}/disconnect",
        "vehicle:write", "vehicles", enum_fields=_V),
)

# OAuth endpoints at the origin root (not part of the 38).
OAUTH_OPERATIONS: tuple[Op, ...] = (
    _op("oauth-token", "POST", "/o/token/", None, "token", oauth=True),
    _op("oauth-authorize", "GET", "/o/authorize/", None, "authorize", oauth=True,
        has_body=False),
    _op("oauth-revoke", "POST", "/o/revoke_token/", None, "revoke", oauth=True, has_body=False),
)

ROUTE_ERROR_OP = Op("route-error", "*", "", None, frozenset({"route_errors"}))

ALL_GROUPS = frozenset(
    g for op in OPERATIONS + OAUTH_OPERATIONS for g in op.groups
) | {"all"}

LOG_SEGMENTS = {kind: seg for kind, (seg, _k) in _LOG_PATHS.items()}
LOG_KEY_FIELD = {kind: key for kind, (_s, key) in _LOG_PATHS.items()}
LOG_FILTER_FIELD = LOG_KEY_FIELD
LOG_KINDS = tuple(_LOG_PATHS)
