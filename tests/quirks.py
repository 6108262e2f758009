"""The spec's known quirks (``../shared/spec/README.md``, "Known quirks of the spec"): the one
allow-list of ways an exchange may differ from the OpenAPI document. One entry per quirk, one
comment each; everything else the validator finds is a test failure.

Each entry counts its uses; at the end of a whole-suite run an entry that never matched is
reported as a failure (``tests/conftest.py``), so the list cannot rot.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rfc3339_validator import validate_rfc3339

if TYPE_CHECKING:
    from .spec_oracle import SpecRequest, Violation


@dataclass(frozen=True)
class Quirk:
    name: str
    applies: Callable[[Violation, SpecRequest, int], bool]


USES: Counter[str] = Counter()


# --------------------------------------------------------------------------- document fixes
# Quirks the validator cannot express as an allowed violation: fixed in the in-memory copy
# (the vendored file stays byte-identical). Each must still find its target in the document.


def _security_scheme_name(spec: dict[str, Any]) -> bool:
    # "`POST /vehicle_onboarding/onboarding_link` names its security scheme `OAuth2` while the
    # document defines `oauth2`; it does need a token (`vehicle:write`)." openapi-core silently
    # skips an undefined scheme; renamed, the bearer token is required as for every other op.
    op = spec["paths"]["/vehicle_onboarding/onboarding_link"]["post"]
    changed = False
    for req in op.get("security", []):
        if "OAuth2" in req:
            req["oauth2"] = req.pop("OAuth2")
            changed = True
    return changed


SPEC_FIXES: dict[str, Callable[[dict[str, Any]], bool]] = {
    "onboarding_link security scheme OAuth2": _security_scheme_name,
}


def patched_spec(spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(spec)
    for name, fix in SPEC_FIXES.items():
        if not fix(out):
            raise AssertionError(f"spec fix {name!r} no longer finds its target: drop it from tests/quirks.py")
    return out


# --------------------------------------------------------------------------- allowed violations

LOG_LISTS = frozenset(
    f"get-vehicles-vehicle_id-{kind}_logs" for kind in ("status", "location", "command", "error")
)


def _is_timestamp(value: object) -> bool:
    return isinstance(value, str) and validate_rfc3339(value)


def _bad_version(value: str | None) -> bool:
    if value is None:
        return False
    try:
        return float(value) != 2.0
    except ValueError:
        return True


QUIRKS: tuple[Quirk, ...] = (
    Quirk(
        "log-list cursors are timestamps",
        # "The log lists' `page_after`/`page_before` cursors are timestamps (from the `Link` URLs),
        # but the shared parameter declares the ID pattern: a strict validator flags the second
        # page of every log list." Allowed: exactly that pattern failure, with an RFC 3339 value.
        lambda v, req, status: v.direction == "request" and v.operation in LOG_LISTS
        and v.where in ("query parameter page_after", "query parameter page_before")
        and v.keyword == "pattern" and _is_timestamp(v.value),
    ),
    Quirk(
        "bad version is 400 everywhere",
        # "A bad `EvEnergy-Version` gives 400 on every operation, also where 400 is not listed
        # (e.g. `DELETE /vehicles/{id}`)." Allowed: an undeclared 400 answering a request whose
        # EvEnergy-Version is not 2 (that request is itself flagged, see `invalid_requests`).
        lambda v, req, status: v.direction == "response" and v.where == "status" and status == 400
        and _bad_version(req.headers.get("EvEnergy-Version")),
    ),
)


def filter_violations(violations: Iterable[Violation], req: SpecRequest, status: int) -> tuple[Violation, ...]:
    """The violations no quirk explains (uses of each quirk are counted)."""
    out = []
    for v in violations:
        for q in QUIRKS:
            if q.applies(v, req, status):
                USES[q.name] += 1
                break
        else:
            out.append(v)
    return tuple(out)


def unused() -> list[str]:
    return [q.name for q in QUIRKS if USES[q.name] == 0]


def allows_schemathesis_failure(failure: Exception, case: Any) -> bool:
    """A schemathesis failure that a quirk explains (counted as a use of that quirk)."""
    status = getattr(failure, "status_code", None)
    headers = {k.lower(): v for k, v in (case.headers or {}).items()}
    # "bad version is 400 everywhere": an undeclared 400 answering a bad EvEnergy-Version
    if type(failure).__name__ == "UndefinedStatusCode" and status == 400 and _bad_version(headers.get("evenergy-version")):
        USES["bad version is 400 everywhere"] += 1
        return True
    return False
