"""Every exception the library raises on purpose.

Hierarchy::

    EvEnergyError                      base of everything below
    ├── ClientStateError               client used before open / after close, reopened
    ├── TransportError                 no usable HTTP response
    │   ├── ConnectError               the connection was never made: nothing was sent
    │   ├── RequestTimeoutError        no complete response in time (outcome_unknown for writes)
    │   └── ResponseLostError          sent, then the connection broke or the body was cut short
    ├── APIError                       the server answered with a non-success status
    │   ├── BadRequestError            400 (field_errors: validation failures per field)
    │   ├── UnauthorizedError          401
    │   ├── ForbiddenError             403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409 / 422 (UnprocessableError is an alias)
    │   ├── RateLimitError             429 (retry_after, limit, remaining)
    │   └── ServerError                5xx
    ├── AuthError                      the OAuth token endpoint refused or failed (error, error_description)
    ├── ResponseDecodeError            body is not JSON or does not fit the schema (path to the field)
    └── PaginationError                a Link header loops or points to another origin

Every error carries the request ``method`` and ``url`` (credentials are never part of
URLs, and no secret is ever put into a message), and, where there was a response,
``status`` and the RFC 9457 problem fields (``type``, ``title``, ``detail``,
``instance``, ``field_errors``). What the server said is kept, except the credentials the
request carried, should the server echo them back (:func:`redact_secrets`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = [
    "APIError",
    "APIUnreachableError",
    "AuthError",
    "BadRequestError",
    "ClientStateError",
    "ConflictError",
    "ConnectError",
    "EvEnergyError",
    "ForbiddenError",
    "NotFoundError",
    "PaginationError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ResponseLostError",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UnprocessableError",
    "error_for_status",
]


class EvEnergyError(Exception):
    """Base class: ``except EvEnergyError`` catches everything this library raises."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = url
        self.status = status

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.method and self.url else ""
        status = f" [{self.status}]" if self.status is not None else ""
        return f"{self.message}{status}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, method={self.method!r}, url={self.url!r}, status={self.status!r})"


class ClientStateError(EvEnergyError):
    """The client was used outside its open lifetime, or reopened after close."""


class TransportError(EvEnergyError):
    """The request did not produce a usable HTTP response.

    ``request_sent`` says whether any byte of the request may have reached the server;
    ``outcome_unknown`` is true when the request may have been processed (a write whose
    response was lost: it is never replayed automatically).
    """

    request_sent: bool = True

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        if request_sent is not None:
            self.request_sent = request_sent

    @property
    def outcome_unknown(self) -> bool:
        return self.request_sent and (self.method or "GET").upper() not in {"GET", "HEAD", "OPTIONS"}

    def __str__(self) -> str:
        text = super().__str__()
        if self.outcome_unknown:
            text += "; the request may have been processed: outcome unknown"
        return text


class ConnectError(TransportError):
    """The connection could not be established: the server certainly saw nothing."""

    request_sent = False


class RequestTimeoutError(TransportError):
    """No complete response arrived within the timeout."""


class ResponseLostError(TransportError):
    """The request went out but the response was lost (dropped connection, truncated body)."""


class APIUnreachableError(TransportError):
    """The API stopped answering: no response for ``seconds``, the failures connection-level.

    Raised by the harvester to end a run (its delivered work committed) instead of failing
    partition after partition. ``address`` is the API's ``host:port``.
    """

    def __init__(
        self,
        message: str,
        *,
        address: str,
        seconds: float,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, request_sent=False)
        self.address = address
        self.seconds = seconds


class APIError(EvEnergyError):
    """The API answered with an error status; carries the RFC 9457 problem fields."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        type: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        instance: str | None = None,
        field_errors: Mapping[str, Sequence[str]] | None = None,
        problem: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.type = type
        self.title = title
        self.detail = detail
        self.instance = instance
        self.field_errors: dict[str, list[str]] = {
            k: list(v) for k, v in (field_errors or {}).items()
        }
        self.problem: dict[str, Any] = dict(problem or {})


class BadRequestError(APIError):
    """400: the request was malformed or failed validation (see ``field_errors``)."""


class UnauthorizedError(APIError):
    """401: missing, invalid or expired access token."""


class ForbiddenError(APIError):
    """403: the token may not do this."""


class NotFoundError(APIError):
    """404: no such resource (or not visible to this token)."""


class ConflictError(APIError):
    """409 or 422: the request was understood but cannot be applied."""


UnprocessableError = ConflictError


class RateLimitError(APIError):
    """429: the hourly budget is spent; ``retry_after`` seconds until it may be tried again."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        limit: int | None = None,
        remaining: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining


class ServerError(APIError):
    """5xx: the server failed."""


class AuthError(EvEnergyError):
    """The OAuth endpoint refused the grant (``error``/``error_description`` per RFC 6749)."""

    def __init__(
        self,
        message: str,
        *,
        error: str | None = None,
        error_description: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.error = error
        self.error_description = error_description


class ResponseDecodeError(EvEnergyError):
    """The body was not valid JSON, or did not match the schema at ``path``."""

    def __init__(
        self,
        message: str,
        *,
        path: str = "$",
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.path = path
        #: a body that is not JSON at all (or a malformed Link header) may be a transient
        #: fault worth a retry for a GET; a body that parses but does not fit the schema is not
        self.transient = False

    def __str__(self) -> str:
        return f"{super().__str__()} at {self.path}"


class PaginationError(EvEnergyError):
    """A ``Link`` header repeated a page (a loop) or pointed away from the API origin."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: ConflictError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)


_E = TypeVar("_E", bound=EvEnergyError)

MIN_SECRET = 8
"""Shorter strings are not redacted: no real credential is that short, and replacing every
occurrence of a few common characters would garble the server's text."""


def redact_secrets(error: _E, secrets: Iterable[str | None]) -> _E:
    """``error`` with each of ``secrets`` (what the request carried: its access token, a client
    secret, a refresh token...) replaced by ``***`` wherever the server's answer put it: the
    message, the problem fields, ``error_description``, the raw ``problem``. A server may echo
    a credential back (a debug message, an ``instance`` URL with a token in its query); the
    error is printed and logged, so it must not carry it. Returns the same object."""
    found = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
    if not found:
        return error

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            for secret in found:
                if secret in value:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(clean(v) for v in value)
        return value

    for name, value in list(vars(error).items()):
        setattr(error, name, clean(value))
    error.args = tuple(clean(arg) for arg in error.args)
    return error
