"""Observation of the send pipeline: hooks, structured logs and (via ``_otel``) spans.

Every HTTP attempt the client makes goes through :meth:`Observer.attempt`, and every retry it
decides on through :meth:`Observer.retry`. They feed, in this order: the user's
:class:`Hooks`, an OpenTelemetry span per attempt (when ``opentelemetry-api`` is installed),
and a log record on ``evenergy_async.http`` with structured ``extra`` fields. Nothing here
ever sees a token: URLs are redacted before they leave this module.

A *scope* (:func:`scope`) adds fields such as the harvester's token label, vehicle and kind to
every record logged in it (it is a context variable, so it follows tasks).
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from ._sansio import redact_url

if TYPE_CHECKING:
    from ._otel import Tracing
    from ._transport import Request, Response, Transport

__all__ = ["Hooks", "HttpEvent"]

log = logging.getLogger("evenergy_async")
http_log = logging.getLogger("evenergy_async.http")

HookFunction = Callable[["HttpEvent"], "Awaitable[object] | object"]
"""A hook: called with one :class:`HttpEvent`; may be a plain function or a coroutine function."""

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_scope: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar("evenergy_async_scope", default=_NO_FIELDS)


@attrs.frozen
class HttpEvent:
    """What a hook receives about one HTTP attempt (``on_request``, ``on_response``) or one
    decided retry (``on_retry``).

    ``route`` is the operation's templated path (``/vehicles/{vehicle_id}``; ``None`` for a
    request that is not one of the API's operations), ``url`` the full URL with any secret
    redacted. ``attempt`` counts the sends of one call from 1 (a refresh after a 401 and every
    retry send again). ``status`` is the HTTP status (``None`` before the response, or when
    the attempt failed without one: then ``error`` is the exception's class name).
    ``duration`` is the attempt's seconds (``on_response``). ``retry_reason`` (``"503"``,
    ``"429"``, ``"ConnectError"``, ``"invalid-body"``...) and ``retry_delay`` (seconds to
    wait before the next attempt) are set for ``on_retry`` only.
    """

    method: str
    route: str | None
    url: str
    attempt: int
    status: int | None = None
    error: str | None = None
    duration: float | None = None
    retry_reason: str | None = None
    retry_delay: float | None = None


@attrs.frozen
class Hooks:
    """Callbacks on the client's HTTP traffic: ``EvEnergyClient(hooks=Hooks(on_response=f))``.

    Each is called with an :class:`HttpEvent`: ``on_request`` before every attempt is sent,
    ``on_response`` after it (with the status, or the error when no response came),
    ``on_retry`` when the client decided to retry (with the reason and the delay). A hook may
    be a plain function or a coroutine function (awaited in line: keep it quick). A hook that
    raises does not break the call: the first failure of each hook is logged (with its
    traceback) on ``evenergy_async``, later ones are ignored.
    """

    on_request: HookFunction | None = None
    on_response: HookFunction | None = None
    on_retry: HookFunction | None = None


@contextlib.contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log record of the client and harvester inside the block."""
    token = _scope.set({**_scope.get(), **fields})
    try:
        yield
    finally:
        _scope.reset(token)


def scope_fields() -> Mapping[str, Any]:
    return _scope.get()


def error_type(exc: BaseException) -> str:
    """A low-cardinality name for a failure: ``evenergy_async.ConnectError``, ``builtins.OSError``..."""
    cls = type(exc)
    module = "evenergy_async" if cls.__module__.startswith("evenergy_async") else cls.__module__
    return f"{module}.{cls.__qualname__}"


class Observer:
    """One per client (shared by its views): hooks, tracing and logging of every attempt."""

    def __init__(self, hooks: Hooks | None, tracing: Tracing | None) -> None:
        if hooks is not None and not isinstance(hooks, Hooks):
            raise TypeError("hooks must be an evenergy_async.Hooks")
        if hooks is not None and not (hooks.on_request or hooks.on_response or hooks.on_retry):
            hooks = None
        self.hooks = hooks
        self.tracing = tracing
        self._failed_hooks: set[int] = set()

    async def attempt(
        self, transport: Transport, request: Request, route: str | None, attempt: int
    ) -> Response:
        """Send one attempt through ``transport``, observed."""
        logging_on = http_log.isEnabledFor(logging.DEBUG)
        tracing = self.tracing
        if tracing is not None and not tracing.active():
            tracing = None
        hooks = self.hooks
        if hooks is None and tracing is None and not logging_on:
            return await transport.send(request)
        method = request.method
        url = redact_url(request.url)
        if hooks is not None and hooks.on_request is not None:
            await self._run_hook(hooks.on_request, HttpEvent(method, route, url, attempt))
        span = tracing.start_attempt(request, url, route, attempt) if tracing is not None else None
        t0 = time.perf_counter()
        try:
            response = await transport.send(request) if span is None else await span.send(transport, request)
        except Exception as exc:
            duration = time.perf_counter() - t0
            if logging_on:
                http_log.debug(
                    "%s %s failed: %s (attempt %d, %.1f ms)",
                    method,
                    route or url,
                    type(exc).__name__,
                    attempt,
                    duration * 1000,
                    extra=self._fields(method, route, url, None, attempt, duration, error=type(exc).__name__),
                )
            if hooks is not None and hooks.on_response is not None:
                event = HttpEvent(method, route, url, attempt, error=type(exc).__name__, duration=duration)
                await self._run_hook(hooks.on_response, event)
            raise
        duration = time.perf_counter() - t0
        status = response.status
        if logging_on:
            http_log.debug(
                "%s %s -> %d (attempt %d, %.1f ms)",
                method,
                route or url,
                status,
                attempt,
                duration * 1000,
                extra=self._fields(method, route, url, status, attempt, duration),
            )
        if hooks is not None and hooks.on_response is not None:
            event = HttpEvent(method, route, url, attempt, status=status, duration=duration)
            await self._run_hook(hooks.on_response, event)
        return response

    async def retry(
        self, method: str, route: str | None, url: Any, attempt: int, reason: str, delay: float
    ) -> None:
        """A retry was decided after ``attempt`` (``reason``), to be sent after ``delay`` seconds."""
        text = redact_url(url)
        if http_log.isEnabledFor(logging.INFO):
            http_log.info(
                "retrying %s %s after %s in %.2fs (attempt %d)",
                method,
                route or text,
                reason,
                delay,
                attempt,
                extra={**self._fields(method, route, text, None, attempt, None), "retry_reason": reason},
            )
        hooks = self.hooks
        if hooks is not None and hooks.on_retry is not None:
            event = HttpEvent(method, route, text, attempt, retry_reason=reason, retry_delay=delay)
            await self._run_hook(hooks.on_retry, event)

    @staticmethod
    def _fields(
        method: str,
        route: str | None,
        url: str,
        status: int | None,
        attempt: int,
        duration: float | None,
        *,
        error: str | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {**_scope.get(), "method": method, "route": route, "url": url, "attempt": attempt}
        if status is not None:
            fields["status"] = status
        if error is not None:
            fields["error"] = error
        if duration is not None:
            fields["duration_ms"] = round(duration * 1000, 3)
        return fields

    async def _run_hook(self, hook: HookFunction, event: HttpEvent) -> None:
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            key = id(hook)
            if key not in self._failed_hooks:
                self._failed_hooks.add(key)
                name = getattr(hook, "__qualname__", None) or repr(hook)
                log.warning(
                    "hook %s raised; the request goes on (later failures of this hook are not logged)",
                    name,
                    exc_info=True,
                    extra={"hook": name, "method": event.method, "route": event.route},
                )


harvest_log = logging.getLogger("evenergy_async.harvest")


class PartitionScope:
    """A harvester partition under observation: its log fields, its span, its outcome."""

    __slots__ = ("fields", "span", "tracing")

    def __init__(self, fields: dict[str, Any], tracing: Tracing | None) -> None:
        self.fields = fields
        self.tracing = tracing
        self.span: Any = None

    def done(self) -> None:
        self._outcome("done")
        if harvest_log.isEnabledFor(logging.DEBUG):
            harvest_log.debug("partition done", extra={**self.fields, "outcome": "done"})

    def parked(self) -> None:
        self._outcome("parked")
        harvest_log.info(
            "partition left for a later run: the token's budget is parked", extra={**self.fields, "outcome": "parked"}
        )

    def failed(self, error: BaseException) -> None:
        self._outcome("failed", error)
        status = getattr(error, "status", None)
        harvest_log.warning(
            "partition failed: %s: %s",
            type(error).__name__,
            error,
            extra={**self.fields, "outcome": "failed", "error": type(error).__name__, "status": status},
        )

    def _outcome(self, outcome: str, error: BaseException | None = None) -> None:
        span = self.span
        if span is not None and span.is_recording():
            span.set_attribute("evenergy.outcome", outcome)
            if error is not None and self.tracing is not None:
                span.set_attribute("error.type", error_type(error))
                self.tracing.set_error(span, type(error).__name__)


@contextlib.contextmanager
def partition(tracing: Tracing | None, token: str, vehicle: str, kind: str) -> Iterator[PartitionScope]:
    """Observe one harvester partition: the block's log records carry ``token``, ``vehicle``
    and ``kind``, and (with OpenTelemetry) its requests are children of one span."""
    fields = {"token": token, "vehicle": vehicle, "kind": kind}
    if tracing is not None and not tracing.active():
        tracing = None
    part = PartitionScope(fields, tracing)
    reset = _scope.set({**_scope.get(), **fields})
    try:
        if tracing is None:
            yield part
        else:
            attributes = {"evenergy.token": token, "evenergy.vehicle_id": vehicle, "evenergy.kind": kind}
            with tracing.internal("harvest partition", attributes) as span:
                part.span = span
                yield part
    finally:
        _scope.reset(reset)


def token_parked(token: str, retry_after: float | None, abandoned: bool) -> None:
    """A 429 with a long ``Retry-After`` parked a token (``abandoned``: beyond ``max_park``)."""
    harvest_log.warning(
        "token %s parked for %ss (429 Retry-After)%s",
        token,
        retry_after,
        ": its remaining work is left for the next run" if abandoned else "",
        extra={"token": token, "retry_after": retry_after, "abandoned": abandoned},
    )


def run_finished(report: Any) -> None:
    """The harvest's end (``HarvestReport``): one INFO record with the totals."""
    if not harvest_log.isEnabledFor(logging.INFO):
        return
    harvest_log.info(
        "harvest finished: %d records, partitions %d done, %d failed, %d parked%s",
        sum(report.records.values()),
        report.partitions_done,
        report.partitions_failed,
        report.partitions_parked,
        " (cancelled)" if report.cancelled else "",
        extra={
            "records": dict(report.records),
            "partitions_done": report.partitions_done,
            "partitions_failed": report.partitions_failed,
            "partitions_parked": report.partitions_parked,
            "partitions_total": report.partitions_total,
            "http_requests": report.http_requests,
            "retries": report.retries,
            "elapsed_s": round(report.elapsed, 3),
            "cancelled": report.cancelled,
        },
    )
