"""Protocol logic without I/O: pure functions over (method, url, status, headers, body).

Building request headers, validating path parameters, parsing ``Link`` and rate-limit
headers, decoding JSON, turning a problem+json body into an exception and deciding
whether (and how long) to wait before a retry all live here, so they can be tested
without a network and reused by any transport.
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from yarl import URL

from ._converter import format_timestamp
from ._errors import (
    APIError,
    RateLimitError,
    ResponseDecodeError,
    TransportError,
    error_for_status,
)

_orjson: Any
try:  # optional speed-up (the `fast` extra)
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised when orjson is absent
    _orjson = None

__all__ = [
    "DEFAULT_BASE_URL",
    "RateLimitState",
    "RetryPolicy",
    "build_headers",
    "decode_json",
    "encode_json",
    "error_from_response",
    "is_loopback",
    "parse_link_header",
    "parse_rate_limit",
    "parse_retry_after",
    "redact_url",
    "validate_id",
    "validate_path_segment",
]

DEFAULT_BASE_URL: Final = "https://api.ev.energy/v2"
USER_AGENT: Final = "evenergy_async/0.1"

# ---------------------------------------------------------------------------
# settings: checked when a client, policy or harvester is made


def check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    """``value`` if it is an integer in ``lo..hi``; else a TypeError or ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {lo}..{hi}, got {value}" if hi is not None else f"{name} must be >= {lo}, got {value}")
    return value


def check_seconds(
    name: str, value: object, *, positive: bool = False, infinite: bool = False, optional: str | None = None
) -> float:
    """``value`` as seconds: a real number, not NaN, >= 0 (> 0 if ``positive``), finite unless
    ``infinite``; else a TypeError or ValueError naming ``name`` (``optional``: what None means,
    for the message: the caller lets None through)."""
    or_none = "" if optional is None else " or None"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds{or_none}, not {type(value).__name__}")
    seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (positive and seconds == 0) or (math.isinf(seconds) and not infinite):
        what = f"{'' if infinite else 'finite '}number of seconds {'> 0' if positive else '>= 0'}"
        note = "" if optional is None else f" (or None: {optional})"
        raise ValueError(f"{name} must be a {what}{note}, got {value!r}")
    return seconds


# ---------------------------------------------------------------------------
# identifiers and path parameters

_ID_PATTERNS: Final = {
    "vehicle": re.compile(r"vhcl[A-Z0-9]{26}", re.ASCII),
    "vehicle_make": re.compile(r"vmak[A-Z0-9]{26}", re.ASCII),
    "vehicle_model": re.compile(r"vmod[A-Z0-9]{26}", re.ASCII),
    "vehicle_trim": re.compile(r"trim[A-Z0-9]{26}", re.ASCII),
    "user": re.compile(r"user[A-Z0-9]{26}", re.ASCII),
    "program": re.compile(r"prog[A-Z0-9]{26}", re.ASCII),
}
_REGIONS: Final = frozenset({"NORTH_AMERICA", "EUROPE"})


def validate_id(kind: str, value: object) -> str:
    """Return ``value`` if it is a well-formed ID of ``kind``; raise ``ValueError`` otherwise.

    Anchored and ASCII-only: the spec's unanchored ``\\d`` patterns would let
    ``../`` or non-ASCII digits through.
    """
    pattern = _ID_PATTERNS[kind]
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise ValueError(f"not a valid {kind} ID: {value!r} (expected {pattern.pattern})")
    return value


def validate_region(value: object) -> str:
    text = getattr(value, "value", value)
    if not isinstance(text, str) or text not in _REGIONS:
        raise ValueError(f"not a valid region: {value!r} (expected one of {sorted(_REGIONS)})")
    return text


_SAFE_SEGMENT: Final = re.compile(r"[0-9A-Za-z:.+_-]+", re.ASCII)


def validate_path_segment(value: str) -> str:
    """A final guard for anything put into a path: no ``/``, ``..``, ``%``, ``?``, ``#`` or non-ASCII."""
    if not _SAFE_SEGMENT.fullmatch(value) or value in {".", ".."} or ".." in value:
        raise ValueError(f"unsafe path segment: {value!r}")
    return value


def format_path_timestamp(value: datetime) -> str:
    """A caller's timestamp for a path or query, in wire form (UTC, microseconds, ``Z``).

    Stricter than the converter's ``format_timestamp``: a naive datetime is refused, since
    guessing its zone would silently shift a filter or address another record.
    """
    if not isinstance(value, datetime):
        raise ValueError(f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"timestamp must be timezone-aware, got {value!r}")
    return format_timestamp(value)


# ---------------------------------------------------------------------------
# URLs and hosts


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: URL) -> URL:
    if url.scheme not in {"http", "https"} or not url.host:
        raise ValueError(f"base_url must be an absolute http(s) URL, got {str(url)!r}")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ValueError("refusing plain http:// for a non-loopback host: use https://")
    if url.user or url.password:
        raise ValueError("base_url must not carry credentials")
    return url.with_query(None).with_fragment(None)


_SECRET_QUERY_KEYS: Final = frozenset(
    {"access_token", "refresh_token", "token", "client_secret", "code", "code_verifier"}
)


def redact_url(url: URL | str) -> str:
    """The URL as text with any credential-like query value masked (for errors and logs)."""
    u = url if isinstance(url, URL) else URL(url, encoded=True)
    if u.user or u.password:
        u = u.with_user(None)
    if any(k.lower() in _SECRET_QUERY_KEYS for k in u.query):
        u = u.with_query([(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in u.query.items()])
    return str(u)


# ---------------------------------------------------------------------------
# headers


def build_headers(
    *,
    api_version: int | str,
    token: str | None,
    user: str | None,
    has_body: bool,
    accept_language: str | None = None,
) -> dict[str, str]:
    headers = {
        "Accept": "application/json, application/problem+json",
        "User-Agent": USER_AGENT,
        "EvEnergy-Version": str(api_version),
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if user is not None:
        headers["EvEnergy-User"] = user
    if has_body:
        headers["Content-Type"] = "application/json"
    if accept_language is not None:
        headers["Accept-Language"] = accept_language
    return headers


def normalize_user(user: str) -> str:
    """Accept a bare user ID or the user's absolute URL; send the bare ID (the spec's header pattern)."""
    candidate = user.rstrip("/").rsplit("/", 1)[-1] if "/" in user else user
    return validate_id("user", candidate)


# ---------------------------------------------------------------------------
# JSON


def decode_json(body: bytes) -> Any:
    """Parse JSON; raise ``ValueError`` on anything that is not one complete JSON document."""
    if _orjson is not None:
        try:
            return _orjson.loads(body)
        except _orjson.JSONDecodeError as exc:
            raise ValueError(str(exc)) from exc
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


def encode_json(data: Any) -> bytes:
    if _orjson is not None:
        encoded: bytes = _orjson.dumps(data)
        return encoded
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------
# Link header (RFC 8288)

_OWS: Final = frozenset(" \t\r\n")
_BAD_TARGET: Final = re.compile(r'[<"\s]')
# RFC 9110 tchar: the characters of a parameter name (``title*`` included)
_TCHAR: Final = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def parse_link_header(value: str | Iterable[str] | None) -> dict[str, str]:
    """Map each relation type (lower-cased) to its target. Raise ``ValueError`` if malformed.

    ``value`` is one ``Link`` field value or every ``Link`` header line of a response: several
    lines mean the same as one comma-joined line (RFC 9110 §5.3), so pass them all
    (``headers.getall("Link", ())``). Every RFC 8288 spelling is read: quoted or unquoted
    ``rel``, several relation types in one ``rel`` (``rel="next last"``), parameters in any
    order, any whitespace, parameter names in any case, quoted-string escapes, empty list
    elements. The first link of a relation type wins; later ``rel`` parameters of one link are
    ignored (RFC 8288 §3.3). A link without a relation type (no ``rel``, or an empty one) is
    malformed: it is what a corrupted ``rel="next"`` looks like.

    A malformed header must not be read as "no next page": that would silently end a
    listing early, so it is an error the caller can retry.
    """
    if value is None:
        return {}
    text = value if isinstance(value, str) else ", ".join(value)
    if not text.strip():
        return {}
    fast = _parse_simple_links(text)
    if fast is not None:
        return fast
    return _parse_links(text)


def _malformed(text: str, pos: int) -> ValueError:
    return ValueError(f"malformed Link header near {text[pos:pos + 40]!r}")


def _parse_links(text: str) -> dict[str, str]:
    """The RFC 8288 ``#link-value`` grammar, read with a cursor (no backtracking)."""
    links: dict[str, str] = {}
    n = len(text)
    i = 0

    def skip(i: int) -> int:
        while i < n and text[i] in _OWS:
            i += 1
        return i

    while True:
        i = skip(i)
        while i < n and text[i] == ",":  # empty list elements are legal
            i = skip(i + 1)
        if i >= n:
            return links
        if text[i] != "<":
            raise _malformed(text, i)
        start = i
        close = text.find(">", i + 1)
        if close < 0:
            raise _malformed(text, i)
        target = text[i + 1 : close].strip()
        if _BAD_TARGET.search(target):  # not a URI-Reference: a lost ">" or "<" swallowed a link
            raise _malformed(text, i)
        i = close + 1
        rels: list[str] | None = None
        while True:  # *( OWS ";" OWS link-param ), up to "," or the end
            i = skip(i)
            if i >= n or text[i] == ",":
                break
            if text[i] != ";":
                raise _malformed(text, i)
            i = skip(i + 1)
            j = i
            while j < n and text[j] in _TCHAR:
                j += 1
            name = text[i:j].lower()
            if not name:
                if j >= n or text[j] in ";,":  # an empty parameter ("; ;"): nothing to read
                    i = j
                    continue
                raise _malformed(text, i)
            i = skip(j)
            param: str | None = None
            if i < n and text[i] == "=":
                i = skip(i + 1)
                if i < n and text[i] == '"':
                    chars: list[str] = []
                    i += 1
                    while i < n and text[i] != '"':
                        if text[i] == "\\" and i + 1 < n:
                            i += 1
                        chars.append(text[i])
                        i += 1
                    if i >= n:
                        raise _malformed(text, i - len(chars) - 1)
                    i += 1
                    param = "".join(chars)
                else:
                    j = i
                    while j < n and text[j] not in ";," and text[j] not in _OWS and text[j] != '"':
                        j += 1
                    param = text[i:j]
                    i = j
            if name == "rel" and rels is None:
                rels = (param or "").split()
        if not rels:
            # every link has a relation type (RFC 8288 §3.3); a "rel" lost to corruption
            # must not read as "no next page"
            raise ValueError(f"malformed Link header: a link without a relation type near {text[start:i][:60]!r}")
        for rel in rels:
            links.setdefault(rel.lower(), target)


_SIMPLE_LINK: Final = re.compile(r'\s*<([^<>"\s]*)>;\s*rel="([a-z]+)"\s*(?:,|$)')


def _parse_simple_links(value: str) -> dict[str, str] | None:
    """The common shape (``<url>; rel="x"`` joined by commas) quickly; None for anything else."""
    links: dict[str, str] = {}
    pos, end = 0, len(value)
    match = _SIMPLE_LINK.match
    while pos < end:
        m = match(value, pos)
        if m is None:
            return None
        links.setdefault(m.group(2), m.group(1))
        pos = m.end()
    return links


def next_link(links: Mapping[str, str]) -> str | None:
    target = links.get("next")
    if target is None or target.strip() == "" or target.strip().lower() == "about:blank":
        return None
    return target


# ---------------------------------------------------------------------------
# rate limits


@attrs.frozen
class RateLimitState:
    """The rate-limit headers of the last response: ``limit`` and ``remaining`` requests
    in the rolling hour, ``seen_at`` (``time.monotonic()``) and ``seen_at_wall`` (UTC)."""

    limit: int | None
    remaining: int | None
    seen_at: float
    seen_at_wall: datetime
    retry_after: float | None = None


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None


def parse_rate_limit(headers: Mapping[str, str], now: float | None = None) -> RateLimitState | None:
    limit = _int_header(headers, "X-RateLimit-Limit")
    remaining = _int_header(headers, "X-RateLimit-Remaining")
    if limit is None and remaining is None:
        return None
    return RateLimitState(
        limit=limit,
        remaining=remaining,
        seen_at=time.monotonic() if now is None else now,
        seen_at_wall=datetime.now(UTC),
        retry_after=parse_retry_after(headers),
    )


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or HTTP-date; ``RetryAfter`` accepted too)."""
    raw = headers.get("Retry-After") or headers.get("RetryAfter")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


# ---------------------------------------------------------------------------
# errors


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _field_errors(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, messages in value.items():
        if isinstance(messages, list):
            out[str(key)] = [str(m) for m in messages]
        else:
            out[str(key)] = [str(messages)]
    return out


def error_from_response(
    method: str, url: URL | str, status: int, headers: Mapping[str, str], body: bytes
) -> APIError:
    """Turn an error response into the matching ``APIError`` subclass (pure)."""
    problem: dict[str, Any] = {}
    if body:
        try:
            parsed = decode_json(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            problem = parsed
    title = _str_or_none(problem.get("title"))
    detail = _str_or_none(problem.get("detail"))
    message = detail or title or f"HTTP {status}"
    cls = error_for_status(status)
    common: dict[str, Any] = {
        "method": method,
        "url": redact_url(url),
        "status": status,
        "type": _str_or_none(problem.get("type")),
        "title": title,
        "detail": detail,
        "instance": _str_or_none(problem.get("instance")),
        "field_errors": _field_errors(problem.get("field_errors")),
        "problem": problem,
    }
    if cls is RateLimitError:
        return RateLimitError(
            message,
            retry_after=parse_retry_after(headers),
            limit=_int_header(headers, "X-RateLimit-Limit"),
            remaining=_int_header(headers, "X-RateLimit-Remaining"),
            **common,
        )
    if common["field_errors"]:
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in common["field_errors"].items())
        message = f"{message} ({fields})"
    return cls(message, **common)


def decode_error(
    message: str, *, method: str, url: URL | str, status: int, path: str = "$"
) -> ResponseDecodeError:
    return ResponseDecodeError(message, path=path, method=method, url=redact_url(url), status=status)


# ---------------------------------------------------------------------------
# retries

_IDEMPOTENT: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


@attrs.frozen
class RetryPolicy:
    """When and how long to wait before trying a request again.

    ``max_attempts`` counts the first try (1 disables retries). Waits grow as
    ``backoff_base * 2**(attempt-1)`` up to ``backoff_max``, with full jitter; a
    ``Retry-After`` is honoured when it is at most ``retry_after_cap`` seconds, and
    above that the ``RateLimitError`` is raised so the caller can schedule around it.
    GET, PATCH and DELETE are retried on connection errors, timeouts, 429 and 502/503/504
    (and, for GET, on a body that is not valid JSON); a POST only when it certainly was
    not processed (no connection made, or 429).
    """

    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 20.0
    retry_after_cap: float = 60.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    jitter: Callable[[float], float] = attrs.field(default=None, repr=False)

    def __attrs_post_init__(self) -> None:
        check_int("max_attempts", self.max_attempts, 1)
        check_seconds("backoff_base", self.backoff_base)
        check_seconds("backoff_max", self.backoff_max)
        check_seconds("retry_after_cap", self.retry_after_cap, infinite=True)
        if self.jitter is None:
            rng = random.Random()
            object.__setattr__(self, "jitter", lambda ceiling: rng.uniform(0, ceiling))

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return self.jitter(ceiling)

    def retry_status(self, method: str, status: int) -> bool:
        if status not in self.retry_statuses:
            return False
        return status == 429 or method.upper() in _IDEMPOTENT

    def retry_transport(self, method: str, error: TransportError) -> bool:
        if method.upper() in _IDEMPOTENT:
            return True
        return not error.request_sent

    def retry_decode(self, method: str) -> bool:
        return method.upper() in {"GET", "HEAD"}

