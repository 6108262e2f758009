"""The transport seam: one request in, one fully-read response out.

``AiohttpTransport`` is the only place the client side touches aiohttp. It maps every
aiohttp failure onto the library's transport errors, recording whether the request may
have reached the server (``ConnectError``: certainly not). ``MockTransport`` answers from
a function, for users' unit tests.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._errors import ConnectError, RequestTimeoutError, ResponseLostError, TransportError
from ._sansio import redact_url

__all__ = ["AiohttpTransport", "MockTransport", "Request", "Response", "Transport"]


@attrs.frozen
class Request:
    method: str
    url: URL
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    timeout: float | None = None


@attrs.frozen
class Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = attrs.field(repr=False)
    url: URL

    @classmethod
    def build(
        cls,
        status: int,
        body: bytes = b"",
        headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        *,
        url: URL | str = "",
    ) -> Response:
        """A response for ``MockTransport`` handlers; ``headers`` as pairs may repeat a name."""
        return cls(status, CIMultiDictProxy(CIMultiDict(headers or {})), body, URL(str(url)))


MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""The largest response body read (a page of 100 records is well under 1 MiB)."""


class Transport(Protocol):
    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """Sends requests through an ``aiohttp.ClientSession``; closes it only if it made it.

    ``trace_configs`` (aiohttp's request tracing) go to the session it creates.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        max_connections: int = 100,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        if trace_configs is not None and session is not None:
            raise ValueError("trace_configs= applies to a session the transport creates, not a lent one")
        self._max_body = max_response_bytes
        self._session = session
        self._owns_session = session is None
        _prime_allocator()  # whoever made the session: the reads are asyncio's
        self._max_connections = max_connections
        self._trace_configs = list(trace_configs) if trace_configs is not None else None
        self._timeouts: dict[float | None, aiohttp.ClientTimeout] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                auto_decompress=True,
                trace_configs=self._trace_configs,
            )
            # aiohttp silently resends an idempotent request once when a kept-alive connection
            # drops; the client's own RetryPolicy decides (and counts) every retry instead.
            # There is no public switch (aiohttp's own test_utils sets the same attribute).
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
        return self._session

    async def send(self, request: Request) -> Response:
        session = self._get_session()
        timeout = self._timeouts.get(request.timeout)
        if timeout is None:
            timeout = self._timeouts[request.timeout] = aiohttp.ClientTimeout(total=request.timeout)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                timeout=timeout,
                allow_redirects=False,
            ) as resp:
                length = resp.content_length
                if length is not None and length <= self._max_body and "Content-Encoding" not in resp.headers:
                    body = await resp.read()  # the usual answer: its length is known and kept to
                else:
                    body = await self._read_capped(resp, request)
                return Response(resp.status, resp.headers, body, request.url)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _transport_error(exc, request) from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body, read in chunks up to ``max_response_bytes`` (after decompression): a server
        that sends without end, or a small compressed bomb, is an error, not all of memory."""
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > self._max_body:
                resp.close()  # the connection is not reused: the rest is never read
                raise ResponseLostError(
                    f"response body larger than {self._max_body:,} bytes: not read",
                    method=request.method,
                    url=redact_url(request.url),
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()


_primed = False


def _prime_allocator() -> None:
    """Free one 1 MiB block, once per process, before a transport's first response is read.

    asyncio reads a socket with ``recv(256 KiB)`` and shrinks the result to what arrived. glibc
    serves an allocation that large with its own ``mmap`` unless a block at least that large was
    freed earlier in the process (its dynamic ``M_MMAP_THRESHOLD`` then rises to that size).
    Until then, every read maps fresh memory, faults in each page it fills and unmaps it: in a
    harvest writing JSONL, about 25,000 page faults and 0.05-0.1 s of kernel time per 300,000
    records (``benchmarks/results/profile.md``). Freeing this block raises the threshold the
    same way an application's own large buffer would; other allocators ignore it.
    """
    global _primed
    if not _primed:
        _primed = True
        block = bytes(1 << 20)  # calloc'd: mapped, not touched
        del block


def _transport_error(exc: Exception, request: Request) -> TransportError:
    """Map an aiohttp failure onto the library's transport errors."""
    method, where = request.method, redact_url(request.url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return RequestTimeoutError("timed out connecting", method=method, url=where, request_sent=False)
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return RequestTimeoutError("timed out waiting for the response", method=method, url=where)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"could not connect: {exc.os_error}", method=method, url=where)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ResponseLostError("response body truncated", method=method, url=where)
    return ResponseLostError(f"connection lost ({type(exc).__name__})", method=method, url=where)


Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """Answers every request by calling ``handler(request)`` (sync or async).

    The handler may raise a ``TransportError`` to simulate a network failure.
    ``requests`` keeps every request seen, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):  # pragma: no cover - misuse
            raise TransportError("MockTransport handler returned no Response", method=request.method)
        return result

    async def aclose(self) -> None:
        self.closed = True
        await asyncio.sleep(0)
