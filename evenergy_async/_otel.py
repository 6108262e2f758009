"""OpenTelemetry spans (the ``otel`` extra: ``opentelemetry-api``, imported lazily).

Per the stable HTTP semantic conventions, every attempt is a ``SpanKind.CLIENT`` span named
``{method} {route}`` (``GET /vehicles/{vehicle_id}``; just the method when there is no
route) with ``http.request.method``, ``url.full`` (redacted), ``server.address``,
``server.port``, ``http.response.status_code``, ``error.type`` on failure and
``http.request.resend_count`` on resends; its status is ERROR for 4xx and 5xx (and for
failures without a response). A paginated list (``paginator.pages()`` and ``async for``) and
a harvester partition are INTERNAL parent spans over their attempts.

Nothing is imported until it can matter: a global tracer provider can only have been set by
code that imported ``opentelemetry.trace``, so until that module is loaded a client's tracing
is inactive at the cost of one ``sys.modules`` lookup (importing the API takes about 10 ms,
which a client's first request would otherwise pay). Without ``opentelemetry-api`` installed
no span is ever made.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncGenerator, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from ._observe import error_type

if TYPE_CHECKING:
    from ._transport import Request, Response, Transport

__all__: list[str] = []  # private

T = TypeVar("T")

INSTRUMENTATION = "evenergy_async"
_UNSET: Any = object()
_api: Any = _UNSET  # the opentelemetry modules, or None when not installed


def _load() -> Any:
    global _api
    if _api is _UNSET:
        try:
            from opentelemetry import context, trace
        except ImportError:
            _api = None
        else:
            _api = (trace, context)
    return _api


def tracing(tracer_provider: Any = None) -> Tracing | None:
    """Tracing through ``tracer_provider`` (default: the global one, bound once someone has
    imported ``opentelemetry.trace``), or None when the API is known to be missing."""
    if tracer_provider is None:
        return None if _api is None else Tracing(None)
    if _load() is None:
        raise ValueError("tracer_provider= needs opentelemetry-api: pip install 'evenergy_async[otel]'")
    return Tracing(tracer_provider)


class Tracing:
    def __init__(self, tracer_provider: Any) -> None:
        self._provider = tracer_provider
        self._follows_global = tracer_provider is None
        self._bound = False
        if tracer_provider is not None:
            self._bind()

    def _bind(self) -> bool:
        """Take the API's modules and the tracer (False: the API is not installed)."""
        api = _load()
        if api is None:
            return False
        from . import __version__

        trace, context = api
        provider = self._provider
        self.tracer = (
            provider.get_tracer(INSTRUMENTATION, __version__)
            if provider is not None
            else trace.get_tracer(INSTRUMENTATION, __version__)
        )
        self._proxy_provider = trace.ProxyTracerProvider
        self._trace = trace
        self._context = context
        self._client_kind = trace.SpanKind.CLIENT
        self._internal_kind = trace.SpanKind.INTERNAL
        self._error = trace.StatusCode.ERROR
        self._bound = True
        return True

    def active(self) -> bool:
        """Whether spans go anywhere: a provider was given, or the global one has been set
        (until then the API's proxy hands out no-op spans: not worth building)."""
        if not self._bound and ("opentelemetry.trace" not in sys.modules or not self._bind()):
            return False  # nobody can have set a global provider (or the API is missing)
        return not self._follows_global or not isinstance(self._trace.get_tracer_provider(), self._proxy_provider)

    def start_attempt(self, request: Request, url: str, route: str | None, attempt: int) -> _AttemptSpan:
        method = request.method
        target = request.url
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.full": url,
            "server.address": target.host or "",
            "server.port": target.port or 0,
        }
        if route is not None:
            attributes["url.template"] = route
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        span = self.tracer.start_span(
            f"{method} {route}" if route else method, kind=self._client_kind, attributes=attributes
        )
        return _AttemptSpan(self, span)

    @contextlib.contextmanager
    def internal(self, name: str, attributes: dict[str, Any]) -> Iterator[Any]:
        """An INTERNAL span, current inside the block (so attempts made in it are its children)."""
        with self.tracer.start_as_current_span(
            name,
            kind=self._internal_kind,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield span

    def set_error(self, span: Any, description: str | None = None) -> None:
        span.set_status(self._trace.Status(self._error, description))

    async def over_pages(self, pages: AsyncGenerator[T, None], route: str | None, count: Any) -> AsyncGenerator[T, None]:
        """``pages`` under one parent span, current only while a page is being fetched (an async
        generator must not leave a context attached across its ``yield``)."""
        span = self.tracer.start_span(
            f"paginate {route}" if route else "paginate",
            kind=self._internal_kind,
            attributes={"url.template": route} if route else {},
        )
        trace, context = self._trace, self._context
        n = items = 0
        try:
            while True:
                token = context.attach(trace.set_span_in_context(span))
                try:
                    page = await pages.__anext__()
                except StopAsyncIteration:
                    break
                except BaseException as exc:
                    if span.is_recording():
                        span.set_attribute("error.type", error_type(exc))
                        self.set_error(span, type(exc).__name__)
                    raise
                finally:
                    context.detach(token)
                n += 1
                items += count(page)
                yield page
        finally:
            span.set_attribute("evenergy.pages", n)
            span.set_attribute("evenergy.items", items)
            span.end()
            await pages.aclose()


class _AttemptSpan:
    __slots__ = ("_span", "_tracing")

    def __init__(self, tracing: Tracing, span: Any) -> None:
        self._tracing = tracing
        self._span = span

    async def send(self, transport: Transport, request: Request) -> Response:
        tracing = self._tracing
        span = self._span
        context = tracing._context
        token = context.attach(tracing._trace.set_span_in_context(span))
        try:
            response = await transport.send(request)
        except BaseException as exc:
            if span.is_recording():
                span.set_attribute("error.type", error_type(exc))
                tracing.set_error(span, str(exc) if isinstance(exc, Exception) else type(exc).__name__)
            raise
        else:
            status = response.status
            if span.is_recording():
                span.set_attribute("http.response.status_code", status)
                if status >= 400:
                    span.set_attribute("error.type", str(status))
                    tracing.set_error(span)
            return response
        finally:
            context.detach(token)
            span.end()
