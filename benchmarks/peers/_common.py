"""What every peer shares: the job it reads, the worker pool, the result it prints.

A peer is a script run as its own subprocess by ``benchmarks/run.py``. It reads one JSON job
on stdin, harvests every (vehicle, kind) partition with at most ``concurrency`` partitions in
flight, and prints one JSON result line on stdout. Records are counted page by page and then
dropped (no peer keeps 300k records alive), so all peers pay the same for "consuming" them.
The wall time covers the event loop run: session setup, the harvest, teardown; not the
interpreter start-up or imports.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

import attrs

KIND_PATHS = {"status": "status_logs", "location": "location_logs", "command": "command_logs"}


@attrs.define
class Job:
    base_url: str  # http://127.0.0.1:PORT/v2
    token: str
    vehicle_ids: list[str]
    kinds: list[str]
    page_size: int
    concurrency: int
    expected_records: int
    extra: dict[str, Any] = attrs.field(factory=dict)

    def partitions(self) -> list[tuple[str, str]]:
        return [(vid, kind) for vid in self.vehicle_ids for kind in self.kinds]

    def first_url(self, vid: str, kind: str) -> str:
        return f"{self.base_url}/vehicles/{vid}/{KIND_PATHS[kind]}?page_size={self.page_size}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "EvEnergy-Version": "2"}


@attrs.define
class Tally:
    records: int = 0
    requests: int = 0
    extra: dict[str, Any] = attrs.field(factory=dict)  # peer-specific numbers for the result line


def next_link(header: str | None) -> str | None:
    """The ``rel="next"`` target of a Link header (``about:blank`` and absence: no next page).

    Deliberately minimal: what a hand-written loop does. Peers 1-4 share it, so the Link
    parsing cost is the same for all of them.
    """
    if not header:
        return None
    for part in header.split(","):
        if 'rel="next"' in part:
            target = part[part.index("<") + 1 : part.index(">")]
            return None if target == "about:blank" else target
    return None


async def run_pool(
    partitions: Iterable[tuple[str, str]],
    concurrency: int,
    harvest_one: Callable[[str, str, Tally], Awaitable[None]],
) -> Tally:
    """``concurrency`` workers pull (vehicle, kind) partitions until none is left."""
    tally = Tally()
    it: Iterator[tuple[str, str]] = iter(partitions)

    async def worker() -> None:
        for vid, kind in it:  # next() never awaits: safe to share between tasks
            await harvest_one(vid, kind, tally)

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())
    return tally


def main(
    harvest: Callable[[Job], Awaitable[Tally]],
    setup: Callable[[Job], object] | None = None,
    after: Callable[[Job, dict[str, Any]], object] | None = None,
) -> None:
    """Read the job, run ``setup`` (imports; not timed), run the harvest once, run ``after``
    (checks on the output; not timed, may add to the result), print the result.

    ``BENCH_PROFILE=path`` in the environment runs the harvest under cProfile (CPU-time clock)
    and dumps the stats there.
    """
    job = Job(**json.loads(sys.stdin.read()))
    if setup is not None:
        setup(job)
    profile_path = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        # CPU time: waiting for the server (or for a core) is not a cost of the peer. C built-ins
        # are folded into their Python callers unless BENCH_PROFILE_BUILTINS=1: profiling 3
        # million dict.get calls would dwarf what they cost.
        builtins = os.environ.get("BENCH_PROFILE_BUILTINS") == "1"
        profiler = cProfile.Profile(time.process_time, builtins=builtins)
    gc_time = [0.0, 0.0, 0]
    gc_gen: dict[int, int] = {}
    if os.environ.get("BENCH_GC"):
        import gc

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_time[1] = time.process_time()
            else:
                gc_time[0] += time.process_time() - gc_time[1]
                gc_time[2] += 1
                gc_gen[info["generation"]] = gc_gen.get(info["generation"], 0) + 1

        gc.callbacks.append(on_gc)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    rss0 = ru0.ru_maxrss
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    tally = asyncio.run(harvest(job))
    if profiler is not None:
        profiler.disable()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    if profiler is not None and profile_path:
        profiler.dump_stats(profile_path)
    out = {
        "records": tally.records,
        "requests": tally.requests,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": (ru1 := resource.getrusage(resource.RUSAGE_SELF)).ru_utime - ru0.ru_utime,  # all threads
        "sys_s": ru1.ru_stime - ru0.ru_stime,  # kernel time: socket I/O, file writes, fsync
        "minflt": ru1.ru_minflt - ru0.ru_minflt,  # page faults (memory first touched)
        "ctx_switches": (ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw),  # (voluntary, forced)
        "maxrss_kb": ru1.ru_maxrss,  # peak, KiB on Linux
        "maxrss_before_kb": rss0,  # peak after imports and setup, before the harvest
        **tally.extra,
    }
    if os.environ.get("BENCH_GC"):
        out["gc_s"], out["gc_runs"], out["gc_by_generation"] = gc_time[0], gc_time[2], gc_gen
    if after is not None:
        after(job, out)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
