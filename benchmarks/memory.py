"""Peak RSS of evenergy_async's harvester for N and 10 N records, streaming to a JSONL sink.

    .venv/bin/python benchmarks/memory.py [--quick]

Each size gets its own server process; the harvester runs in its own subprocess (peer 5 in
``jsonl`` mode) and reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, its peak resident
set, at the end; the JSONL files are counted line by line against the expected records.
Streaming means the peak should not grow with the number of records: the target is the peak
at 10 N within 5% of the peak at N.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, run_peer

LOGS = 500
PAGE_SIZE = 100
CONCURRENCY = 16


def sizes(quick: bool) -> tuple[int, int, int]:
    """(vehicles at N, vehicles at 10 N, logs per kind)."""
    return (2, 20, 200) if quick else (20, 200, LOGS)


def count_lines(directory: Path) -> int:
    total = 0
    for path in directory.rglob("*.jsonl"):
        with path.open("rb") as fh:
            total += sum(1 for _ in fh)
    return total


def measure_one(vehicles: int, logs: int, log: Callable[[str], None]) -> dict[str, Any]:
    with Server(vehicles, logs) as srv, tempfile.TemporaryDirectory(prefix="evbench-jsonl-") as tmp:
        job = srv.job(page_size=PAGE_SIZE, concurrency=CONCURRENCY, mode="jsonl", out_dir=tmp)
        res = run_peer("evenergy.py", job, server_pid=srv.pid)
        lines = count_lines(Path(tmp))
        if lines != srv.expected_records:
            raise SystemExit(f"JSONL sink holds {lines} lines, expected exactly {srv.expected_records}")
        jsonl_bytes = sum(p.stat().st_size for p in Path(tmp).rglob("*.jsonl"))
    row = {
        "vehicles": vehicles,
        "records": res["records"],
        "wall_s": res["wall_s"],
        "peak_rss_mb": res["maxrss_kb"] / 1024,
        "rss_before_mb": res["maxrss_before_kb"] / 1024,
        "jsonl_mb": jsonl_bytes / 2**20,
    }
    log(
        f"   {row['records']:>9,} records: peak RSS {row['peak_rss_mb']:.1f} MiB "
        f"(after imports {row['rss_before_mb']:.1f} MiB), {row['wall_s']:.1f}s, JSONL {row['jsonl_mb']:.0f} MiB"
    )
    return row


def measure(*, quick: bool, log: Callable[[str], None] = print) -> dict[str, Any]:
    small, big, logs = sizes(quick)
    log(f"\n== memory: harvester to JSONL, N = {small * logs * 3:,} and 10 N = {big * logs * 3:,} records")
    n = measure_one(small, logs, log)
    n10 = measure_one(big, logs, log)
    return {
        "concurrency": CONCURRENCY,
        "page_size": PAGE_SIZE,
        "n": n,
        "n10": n10,
        "ratio": n10["peak_rss_mb"] / n["peak_rss_mb"],
        "growth_ratio": (n10["peak_rss_mb"] - n10["rss_before_mb"]) / max(n["peak_rss_mb"] - n["rss_before_mb"], 1e-9),
    }


def markdown(mem: dict[str, Any]) -> str:
    lines = [
        "### Memory: harvester streaming to the JSONL sink",
        "",
        f"Peak RSS (`ru_maxrss` of the harvester subprocess), concurrency {mem['concurrency']}, "
        f"page size {mem['page_size']}. \"after imports\" is the peak before the harvest started.",
        "",
        "| records | peak RSS MiB | after imports MiB | harvest's own MiB | wall s | JSONL MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for key in ("n", "n10"):
        r = mem[key]
        lines.append(
            f"| {r['records']:,} | {r['peak_rss_mb']:.1f} | {r['rss_before_mb']:.1f} | "
            f"{r['peak_rss_mb'] - r['rss_before_mb']:.1f} | {r['wall_s']:.1f} | {r['jsonl_mb']:.0f} |"
        )
    lines += ["", f"Peak at 10 N / peak at N: **{mem['ratio']:.2f}x** (harvest's own part: {mem['growth_ratio']:.2f}x)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(markdown(measure(quick=args.quick)))


if __name__ == "__main__":
    main()
