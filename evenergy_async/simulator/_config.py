"""Simulator configuration and run statistics."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from yarl import URL

from ._faults import FaultConfig
from ._pages import DEFAULT_LINK_STYLE, LINK_STYLES

__all__ = ["SimulatorConfig", "SimulatorStats"]

LOG_KIND_NAMES = ("status", "location", "command", "error")


def _check_logs(_inst: Any, _attr: Any, value: int | Mapping[str, int]) -> None:
    if isinstance(value, Mapping):
        unknown = set(value) - set(LOG_KIND_NAMES)
        if unknown:
            raise ValueError(f"unknown log kinds {sorted(unknown)}; known: {LOG_KIND_NAMES}")
        values = list(value.values())
    else:
        values = [value]
    if any(not isinstance(v, int) or v < 0 for v in values):
        raise ValueError("logs_per_kind must be >= 0")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _check_link_style(_inst: Any, _attr: Any, value: str) -> None:
    if value not in LINK_STYLES:
        raise ValueError(f"unknown link_style {value!r}; known: {sorted(LINK_STYLES)}")


def _public_url(value: str | None) -> str | None:
    """Normalise ``public_url``: absolute http(s), no query or fragment, ``/v2`` by default."""
    if value is None:
        return None
    try:
        url = URL(str(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"public_url is not a URL: {value!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"public_url must be an absolute http(s) URL, got {value!r}")
    if url.query_string or url.fragment or url.user or url.password:
        raise ValueError("public_url must not carry a query, a fragment or credentials")
    text = str(url).rstrip("/")
    return text if url.path.strip("/") else text + "/v2"


def _positive(_inst: Any, attr: Any, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attr.name} must be > 0")


def _non_negative(_inst: Any, attr: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"{attr.name} must be >= 0")


@attrs.define
class SimulatorConfig:
    """Everything that shapes a simulator run. All data derives from ``seed``."""

    seed: int = 0
    users: int = attrs.field(default=3, validator=_positive)  # end users owning vehicles
    vehicles: int = attrs.field(default=30, validator=_non_negative)  # round-robin over users
    #: per vehicle, for each kind; or a dict kind -> n (missing kinds: 0)
    logs_per_kind: int | Mapping[str, int] = attrs.field(default=50, validator=_check_logs)
    start: datetime = attrs.field(default=datetime(2026, 11, 1, tzinfo=UTC), converter=_aware)
    end: datetime = attrs.field(default=datetime(2026, 11, 20, tzinfo=UTC), converter=_aware)
    rate_limit: int = attrs.field(default=1000, validator=_positive)  # per (app, user) bucket
    rate_window: float = attrs.field(default=3600.0, validator=_positive)  # rolling, seconds
    token_ttl: int = attrs.field(default=36000, validator=_positive)  # issued access tokens
    latency: float = attrs.field(default=0.0, validator=_non_negative)  # added per request
    precompute_pages: bool = False  # serialize log pages (page_size=100) up front
    faults: FaultConfig | None = None
    clock: Callable[[], float] = time.monotonic  # rate-limit window, token and code expiry
    # --- extensions beyond the contract ---
    anonymous_rate_limit: int = attrs.field(default=50, validator=_positive)  # per IP, public ops
    delete_status: int = 204  # DELETE /vehicles/{id}: 204 (no body) or 200 (with a body)
    auth_code_ttl: float = 60.0  # seconds an authorization code lives
    max_cached_series: int = 0  # keep at most N generated (vehicle, kind) log series; 0 = all
    #: how list answers spell their ``Link`` header: every legal spelling is available (see
    #: ``LINK_STYLES`` in the README); bodies are the same whatever the spelling
    link_style: str = attrs.field(default=DEFAULT_LINK_STYLE, validator=_check_link_style)
    #: where clients reach the API when that is not the listener itself (a reverse proxy, a
    #: container's published port): every ``Link``, ``url`` field, ``Location`` and problem
    #: ``instance`` names it. The base URL, e.g. ``https://sim.example/api/v2`` (a bare origin
    #: gets ``/v2``); the OAuth endpoints are then under its parent (``.../api/o/token/``).
    public_url: str | None = attrs.field(default=None, converter=_public_url)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.delete_status not in (200, 204):
            raise ValueError("delete_status must be 200 or 204")

    def logs_for(self, kind: str) -> int:
        if isinstance(self.logs_per_kind, Mapping):
            return int(self.logs_per_kind.get(kind, 0))
        return int(self.logs_per_kind)


@attrs.define
class SimulatorStats:
    """Counters of one simulator run (``Simulator.stats``)."""

    requests: int = 0  # every HTTP request, including the OAuth endpoints
    token_requests: int = 0  # POST /o/token/
    by_status: Counter[int] = attrs.field(factory=Counter)
    by_operation: Counter[str] = attrs.field(factory=Counter)  # operationId -> requests
    by_kind: Counter[str] = attrs.field(factory=Counter)  # path kind (status_logs, vehicles...)
    faults_injected: Counter[str] = attrs.field(factory=Counter)
    rate_limited: int = 0  # genuine 429s (budget spent), not injected ones
    dropped: int = 0  # connections dropped on purpose (faults)

    def reset(self) -> None:
        self.requests = 0
        self.token_requests = 0
        self.by_status.clear()
        self.by_operation.clear()
        self.by_kind.clear()
        self.faults_injected.clear()
        self.rate_limited = 0
        self.dropped = 0
