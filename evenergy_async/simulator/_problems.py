"""RFC 9457 problem details raised by handlers and rendered by the pipeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__: list[str] = []  # private module

PROBLEM_BASE = "https://api.ev.energy/v2/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ProblemError(Exception):
    """Raise from a handler to answer with ``application/problem+json``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        field_errors: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.type = type_
        self.field_errors = {k: list(v) for k, v in field_errors.items()} if field_errors else None
        self.headers = dict(headers or {})

    def body(self, instance: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.type is not None:
            out["type"] = self.type
        out["status"] = self.status
        out["title"] = self.title
        out["detail"] = self.detail
        if instance is not None:
            out["instance"] = instance
        if self.field_errors:
            out["field_errors"] = self.field_errors
        return out


def validation_failed(slug: str, field_errors: Mapping[str, Sequence[str]]) -> ProblemError:
    return ProblemError(
        400,
        "Error on fields: " + ", ".join(field_errors),
        title="Request failed validation.",
        type_=f"{PROBLEM_BASE}validation-failed-{slug}/",
        field_errors=field_errors,
    )


def bad_query(field_errors: Mapping[str, Sequence[str]], *, pagination: bool = False) -> ProblemError:
    if pagination:
        return ProblemError(
            400,
            "Invalid value for pagination parameter: " + ", ".join(field_errors),
            title="Invalid pagination parameter",
            type_=f"{PROBLEM_BASE}pagination-parameters/",
            field_errors=field_errors,
        )
    return ProblemError(
        400,
        "Invalid value for query parameter: " + ", ".join(field_errors),
        title="Invalid query parameter",
        type_=f"{PROBLEM_BASE}query-parameters/",
        field_errors=field_errors,
    )


def not_found(detail: str = "Resource does not exist or cannot be accessed.") -> ProblemError:
    # The spec's 404 schema has no ``type``: clients must cope with its absence.
    return ProblemError(404, detail, title="Not found")


def unauthorized(presented: bool) -> ProblemError:
    """401: no credentials, or a token that is not (or no longer) valid."""
    if presented:
        return ProblemError(
            401, "The access token is invalid, expired or revoked.", title="Unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="api", error="invalid_token"'},
        )
    return ProblemError(
        401, "Authentication credentials were not provided.", title="Unauthorized",
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def too_many(retry_after: int) -> ProblemError:
    """429 with ``Retry-After``."""
    return ProblemError(
        429, f"Request was rate limited. Try again in {retry_after} seconds",
        title="Too Many Requests", type_=f"{PROBLEM_BASE}rate-limit-exceeded/",
        headers={"Retry-After": str(retry_after)},
    )
