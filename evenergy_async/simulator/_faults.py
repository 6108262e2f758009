"""Fault injection: configuration and the deterministic decision engine.

A fault is decided per request from ``(seed, request path, n-th request to that path)``
only, so the same seed and the same request sequence per path replay the same faults,
whatever the interleaving of different paths.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Mapping
from typing import Any

import attrs

from ._ops import ALL_GROUPS, OPERATIONS, Op
from ._wire import derive_unit

__all__ = ["FAULT_KINDS", "FaultConfig", "FaultEvent"]

#: Every fault kind the simulator can inject.
FAULT_KINDS: tuple[str, ...] = (
    "http_500",  # 500 problem+json
    "http_502",  # 502 with an HTML body (as a gateway would answer)
    "http_503",  # 503 with an HTML body
    "rate_limit_short",  # 429 with Retry-After: short_retry_after (1 s)
    "rate_limit_long",  # 429 with Retry-After: long_retry_after (3600 s)
    "drop_before_response",  # the connection is closed without any answer (not processed)
    "drop_after_processing",  # the request is processed (writes happen), then the connection
    #                           is closed without any answer: the outcome is unknown
    "drop_mid_body",  # headers with the full Content-Length, part of the body, then close
    "truncated_json",  # 200 with a cut JSON body and a matching (short) Content-Length
    "invalid_json",  # 200 with a body that is not JSON at all
    "stall",  # no answer for stall_seconds (then the normal answer)
    "malformed_link",  # an unparseable Link header (lists only)
    "repeat_record",  # the previous page's last record repeated at the top (log lists paged
    #                   with page_after only)
    "unknown_fields",  # extra unknown fields in every record
    "unknown_enum",  # unknown enum values in every record (operations with enum fields)
    "token_expiry",  # 401 once and the access token is dead from then on (tokens issued
    #                  by /o/token/ only: static user tokens cannot be refreshed)
)

_ALWAYS = frozenset(
    {"http_500", "http_502", "http_503", "rate_limit_short", "rate_limit_long",
     "drop_before_response", "drop_after_processing", "stall"}
)
_BODY = frozenset({"drop_mid_body", "truncated_json", "invalid_json", "unknown_fields"})

_OPERATION_IDS = frozenset(op.operation_id for op in OPERATIONS) | {
    "oauth-token", "oauth-authorize", "oauth-revoke"
}


def _default_kinds() -> dict[str, float]:
    return dict.fromkeys(FAULT_KINDS, 1.0)


def _check_kinds(_inst: Any, _attr: Any, value: Mapping[str, float]) -> None:
    unknown = set(value) - set(FAULT_KINDS)
    if unknown:
        raise ValueError(f"unknown fault kinds: {sorted(unknown)}; known: {FAULT_KINDS}")
    if any(w < 0 for w in value.values()):
        raise ValueError("fault weights must be >= 0")


def _check_paths(_inst: Any, _attr: Any, value: frozenset[str]) -> None:
    for p in value:
        if p in ALL_GROUPS or p in _OPERATION_IDS or p.startswith("/"):
            continue
        raise ValueError(
            f"unknown fault target {p!r}: use a group {sorted(ALL_GROUPS)}, an operationId, "
            "or a path prefix starting with '/'"
        )


def _check_rate(_inst: Any, _attr: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError("fault rate must be within [0, 1]")


@attrs.define(frozen=True)
class FaultConfig:
    """Random, replayable fault injection.

    ``rate``: probability that an eligible request is faulted. ``kinds``: relative weights
    per kind (see ``FAULT_KINDS``); a kind that does not apply to a request (e.g.
    ``repeat_record`` on a first page) is left out of that request's draw. ``paths``: which
    requests are eligible: groups (``log_lists`` (default), ``log_gets``, ``logs``,
    ``lists``, ``vehicles``, ``catalogue``, ``onboarding``, ``all`` (every ``/v2``
    operation), ``token`` (the token endpoint: only when named)), operationIds, or path
    prefixes such as ``"/v2/vehicles/"``.
    """

    rate: float = attrs.field(default=0.0, validator=_check_rate)
    seed: int = 0
    kinds: Mapping[str, float] = attrs.field(factory=_default_kinds, validator=_check_kinds)
    paths: frozenset[str] = attrs.field(
        default=frozenset({"log_lists"}), converter=frozenset, validator=_check_paths
    )
    stall_seconds: float = 30.0
    short_retry_after: int = 1
    long_retry_after: int = 3600
    max_faults: int | None = None  # stop injecting random faults after this many


@attrs.define(frozen=True)
class FaultEvent:
    """One injected fault, in injection order (``Simulator.fault_log``)."""

    index: int  # 0-based order of injection
    kind: str
    method: str
    path: str
    query: str
    path_request_number: int  # n-th eligible request to this path (1-based); 0 if forced
    forced: bool


@attrs.define
class _Forced:
    kind: str
    remaining: int
    path: str | None


def applicable(kind: str, op: Op, query: Mapping[str, str], refreshable_token: bool) -> bool:
    if kind in _ALWAYS:
        return True
    if kind in _BODY:
        return op.has_body
    if kind == "malformed_link":
        return op.is_list
    if kind == "repeat_record":
        return op.is_log_list and "page_after" in query
    if kind == "unknown_enum":
        return bool(op.enum_fields)
    if kind == "token_expiry":
        return refreshable_token and not op.public
    return False  # pragma: no cover - all kinds handled above


class FaultInjector:
    def __init__(self, config: FaultConfig | None) -> None:
        self.config = config
        self._counters: dict[str, int] = {}
        self._forced: deque[_Forced] = deque()
        self.random_faults = 0

    def reset(self) -> None:
        self._counters.clear()
        self._forced.clear()
        self.random_faults = 0

    def force(self, kind: str, count: int, path: str | None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {FAULT_KINDS}")
        if count < 1:
            raise ValueError("count must be >= 1")
        self._forced.append(_Forced(kind, count, path))

    def _eligible(self, op: Op, path: str) -> bool:
        cfg = self.config
        assert cfg is not None
        targets = cfg.paths
        if op.oauth:
            return op.operation_id in targets or bool(op.groups & targets)
        if "all" in targets or op.operation_id in targets or op.groups & targets:
            return True
        return any(t.startswith("/") and path.startswith(t) for t in targets)

    def decide(
        self, op: Op, path: str, query: Mapping[str, str], refreshable_token: bool
    ) -> tuple[str, int, bool] | None:
        """Return ``(kind, path_request_number, forced)`` or None."""
        for forced in self._forced:
            if forced.path is not None:
                if not path.startswith(forced.path):
                    continue
            elif op.oauth:
                continue  # the token endpoint only when explicitly targeted
            if not applicable(forced.kind, op, query, refreshable_token):
                continue
            forced.remaining -= 1
            if forced.remaining <= 0:
                self._forced.remove(forced)
            return forced.kind, 0, True
        cfg = self.config
        if cfg is None or cfg.rate <= 0.0 or not self._eligible(op, path):
            return None
        n = self._counters.get(path, 0) + 1
        self._counters[path] = n
        if cfg.max_faults is not None and self.random_faults >= cfg.max_faults:
            return None
        u1, u2 = derive_unit(cfg.seed, path, n)
        if u1 >= cfg.rate:
            return None
        kinds = [
            (k, w) for k, w in cfg.kinds.items()
            if w > 0 and applicable(k, op, query, refreshable_token)
        ]
        if not kinds:
            return None
        cumulative = []
        total = 0.0
        for _k, w in kinds:
            total += w
            cumulative.append(total)
        i = min(bisect.bisect_right(cumulative, u2 * total), len(kinds) - 1)
        self.random_faults += 1
        return kinds[i][0], n, False
