"""What an HTTP layer cheaper than aiohttp's ``ClientSession`` could save per request (issue 12).

    .venv/bin/python benchmarks/http_floor.py [--requests 3000] [--runs 3]

The benchmark server (its own process) serves one log page of 100 records; each client asks
for it ``--requests`` times over 16 keep-alive connections, and the table gives the client's
CPU time per request, median of ``--runs`` (after one warm-up run each):

* ``aiohttp``: ``session.get(url)`` and ``await resp.read()``, as the raw loop (peer 1) does;
* ``floor``: a bare ``asyncio.Protocol`` on the same connections that writes the request bytes
  and waits for ``Content-Length`` bytes of answer. It is no HTTP client (no chunked bodies,
  no redirects, no TLS, no errors): it shows the least any client on asyncio must spend, so the
  difference is the most a leaner HTTP layer could win.

Nothing of it is used by the library; the numbers are in ``benchmarks/results/profile.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import aiohttp
from _harness import Server
from yarl import URL

CONNECTIONS = 16


async def via_aiohttp(url: URL, headers: dict[str, str], n: int) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONNECTIONS)) as session:

        async def worker(count: int) -> None:
            for _ in range(count):
                async with session.get(url, headers=headers) as resp:
                    body = await resp.read()
                    if resp.status != 200 or not body:
                        raise SystemExit(f"unexpected answer {resp.status}")

        await asyncio.gather(*(worker(n // CONNECTIONS) for _ in range(CONNECTIONS)))


class _Floor(asyncio.Protocol):
    """Reads one answer at a time: headers, then Content-Length bytes."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.end: int | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.end is None:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).lower()
            start = head.find(b"content-length:") + len(b"content-length:")
            stop = head.find(b"\r\n", start)
            self.end = head_end + 4 + int(head[start : stop if stop > 0 else None])
        if len(self.buffer) >= self.end and self.waiter is not None:
            answer = bytes(self.buffer[: self.end])
            del self.buffer[: self.end]
            self.end = None
            self.waiter.set_result(answer)


async def via_floor(url: URL, headers: dict[str, str], n: int) -> None:
    loop = asyncio.get_running_loop()
    lines = [f"GET {url.raw_path_qs} HTTP/1.1", f"Host: {url.host}:{url.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()

    async def worker(count: int) -> None:
        transport, protocol = await loop.create_connection(_Floor, url.host, url.port)
        try:
            for _ in range(count):
                protocol.waiter = loop.create_future()
                transport.write(request)
                answer = await protocol.waiter
                if not answer.startswith(b"HTTP/1.1 200"):
                    raise SystemExit("unexpected answer")
        finally:
            transport.close()

    await asyncio.gather(*(worker(n // CONNECTIONS) for _ in range(CONNECTIONS)))


def measure(client: Callable[[URL, dict[str, str], int], Awaitable[None]], url: URL, headers: dict[str, str],
            n: int, runs: int) -> list[float]:  # fmt: skip
    asyncio.run(client(url, headers, n))  # warm-up: imports, first connections
    out = []
    for _ in range(runs):
        cpu = time.process_time()
        asyncio.run(client(url, headers, n))
        out.append((time.process_time() - cpu) / n * 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with Server(vehicles=2, logs=500) as server:
        info = server.info
        url = URL(info["base_url"]) / "vehicles" / info["vehicle_ids"][0] / "status_logs" % {"page_size": "100"}
        headers = {"Authorization": f"Bearer {info['token']}", "EvEnergy-Version": "2"}
        rows = [(name, measure(fn, url, headers, args.requests, args.runs)) for name, fn in
                (("aiohttp", via_aiohttp), ("floor", via_floor))]  # fmt: skip
    print(f"{args.requests:,} requests of one 100-record page, {CONNECTIONS} connections, {args.runs} runs\n")
    print("| client | CPU µs per request, median (min-max) |\n|---|---:|")
    for name, values in rows:
        print(f"| {name} | {statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) |")


if __name__ == "__main__":
    main()
