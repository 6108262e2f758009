"""Peer 3: httpx.AsyncClient returning dicts."""

from __future__ import annotations

import httpx
from _common import Job, Tally, main, next_link, run_pool


async def harvest(job: Job) -> Tally:
    limits = httpx.Limits(max_connections=job.concurrency, max_keepalive_connections=job.concurrency)
    async with httpx.AsyncClient(headers=job.headers, limits=limits, timeout=30.0) as client:

        async def one(vid: str, kind: str, tally: Tally) -> None:
            url: str | None = job.first_url(vid, kind)
            while url is not None:
                resp = await client.get(url)
                resp.raise_for_status()
                records = resp.json()
                url = next_link(resp.headers.get("Link"))
                tally.requests += 1
                tally.records += len(records)

        return await run_pool(job.partitions(), job.concurrency, one)


if __name__ == "__main__":
    main(harvest)
