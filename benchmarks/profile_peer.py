"""Where does a peer's time go? cProfile one peer subprocess in scenario (i) and group the costs.

    .venv/bin/python benchmarks/profile_peer.py                 # peer 5 (harvester), scenario (i) sizes
    .venv/bin/python benchmarks/profile_peer.py --peer 5 --peer 5p --peer 1o --out benchmarks/results/profile.md

Each function's own time (tottime) goes to a category by the module it lives in. By default
C built-ins are not profiled (their time is their Python caller's own time: ``orjson.loads``
is in ``decode_json``, ``fromisoformat`` and ``dict.get`` in the generated structure
functions), because instrumenting millions of ``dict.get`` calls distorts everything; the
decode micro-benchmark (decode.py) gives their per-item costs. With ``--builtins`` they are
profiled and split over their callers' categories. The profiler's clock is the process's CPU time (``time.process_time``), so time spent
waiting for the server or descheduled (2 shared cores) is not counted. cProfile slows Python
code down more than C code, so the shares overstate the Python-heavy parts somewhat; the
unprofiled wall and CPU times are shown for scale.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Server, run_peer
from run import PEERS

CATEGORIES = [
    # (category, predicate on (filename, funcname)); first match wins
    ("JSON parsing", lambda f, n: "orjson.loads" in n or n in ("decode_json", "_json_of") or f.endswith(("json/decoder.py", "json/__init__.py"))
     or "scan_once" in n or "_json" in f),
    ("datetime parsing", lambda f, n: "fromisoformat" in n or n in ("parse_timestamp", "_parse_dt")),
    ("Link / pagination", lambda f, n: f.endswith("_pagination.py") or n in ("parse_link_header", "next_link")
     or (f.endswith("_common.py") and n == "next_link")),
    ("structuring (converter, models, enums)", lambda f, n: f.endswith(("_converter.py", "_models.py", "enum.py"))
     or "cattrs" in f or f.startswith("<cattrs") or "_usermodels" in f or "/evgen/" in f
     or (f.startswith("<") and "generated" in f)),
    ("harvester", lambda f, n: "/_harvest/" in f),
    ("client pipeline (_client/_transport/_sansio/_auth)",
     lambda f, n: f.endswith(("_client.py", "_transport.py", "_sansio.py", "_auth.py", "_services.py", "_errors.py"))
     and "evenergy_async" in f),
    ("yarl URLs", lambda f, n: "/yarl/" in f),
    ("attrs-generated __init__/eq", lambda f, n: f.startswith("<attrs generated")),
    ("aiohttp client + multidict", lambda f, n: "/aiohttp/" in f or "/multidict/" in f or "/aiohappyeyeballs/" in f),
    ("httpx/httpcore", lambda f, n: "/httpx/" in f or "/httpcore/" in f or "/h11/" in f or "/anyio/" in f),
    ("the peer script itself (with the C calls it makes, e.g. json)", lambda f, n: "/benchmarks/peers/" in f),
    ("asyncio event loop + sockets", lambda f, n: "/asyncio/" in f or "selectors" in f or "socket" in n
     or "select" in n or n.startswith("<method 'recv") or n.startswith("<method 'send")),
]


def categorize(filename: str, funcname: str) -> str | None:
    for name, pred in CATEGORIES:
        if pred(filename, funcname):
            return name
    return None


def is_builtin(filename: str) -> bool:
    return filename == "~" or filename.startswith("<built-in") or filename == ""


def breakdown(stats_path: str) -> tuple[dict[str, float], list[tuple[float, float, int, str]], float]:
    st = pstats.Stats(stats_path)
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    cats: dict[str, float] = defaultdict(float)
    for (filename, _line, funcname), (_cc, _nc, tt, _ct, callers) in raw.items():
        own = categorize(filename, funcname)
        if own is not None and not (is_builtin(filename) and own == "asyncio event loop + sockets"):
            cats[own] += tt
            continue
        if is_builtin(filename) and callers:
            edge_total = sum(edge[2] for edge in callers.values()) or 1.0
            for (cf, _cl, cn), edge in callers.items():
                cat = own or categorize(cf, cn) or "other"
                if own is None and cat == "other" and is_builtin(cf):
                    cat = "other"
                cats[cat] += tt * edge[2] / edge_total
            continue
        cats[own or "other"] += tt
    top = sorted(
        ((v[2], v[3], v[1], f"{Path(k[0]).name}:{k[1]}({k[2]})") for k, v in raw.items()), reverse=True
    )
    return dict(cats), top, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", action="append", help="peer key(s) from run.py (default: 5)")
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--logs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="directory to keep the .prof files in")
    parser.add_argument("--out", type=Path, help="also write the markdown there")
    parser.add_argument("--builtins", action="store_true", help="profile C built-ins too (much more overhead)")
    args = parser.parse_args()
    keys = args.peer or ["5"]
    out: list[str] = []
    with Server(args.vehicles, args.logs) as srv, tempfile.TemporaryDirectory() as tmp:
        outdir = args.keep or Path(tmp)
        outdir.mkdir(parents=True, exist_ok=True)
        for key in keys:
            peer = PEERS[key]
            job = srv.job(page_size=100, concurrency=args.concurrency, **peer.extra)
            plain = run_peer(peer.script, job, server_pid=srv.pid, env=peer.env)
            prof = outdir / f"peer-{key}.prof"
            env = {**peer.env, "BENCH_PROFILE": str(prof), "BENCH_PROFILE_BUILTINS": "1" if args.builtins else "0"}
            profiled = run_peer(peer.script, job, server_pid=srv.pid, env=env)
            cats, top, total = breakdown(str(prof))
            out += [
                f"## peer {key}: {peer.label}",
                "",
                f"{plain['records']:,} records, {plain['requests']:,} requests, concurrency {args.concurrency}; "
                f"unprofiled: wall {plain['wall_s']:.2f}s, CPU {plain['cpu_s']:.2f}s; under cProfile: wall "
                f"{profiled['wall_s']:.2f}s, {total:.2f}s of profiled CPU time",
                "",
                "| category | s (profiled) | share | us per record (profiled) |",
                "|---|---:|---:|---:|",
            ]
            for name, sec in sorted(cats.items(), key=lambda kv: -kv[1]):
                out.append(f"| {name} | {sec:.2f} | {sec / total:.0%} | {sec / plain['records'] * 1e6:.2f} |")
            out += ["", f"Top {args.top} functions by own time (tottime s, cumtime s, calls):", "", "```"]
            out += [f"{tt:8.3f} {ct:8.3f} {calls:>9,}  {name}" for tt, ct, calls, name in top[: args.top]]
            out += ["```", ""]
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
