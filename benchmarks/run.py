"""The whole benchmark: five peers harvest the same logs from the same server, side by side.

    .venv/bin/python benchmarks/run.py                  # both scenarios, 5 rounds, memory, decode
    .venv/bin/python benchmarks/run.py --quick          # small sizes, 1 round: a smoke check
    .venv/bin/python benchmarks/run.py --scenario i --rounds 3 --peers 1,5

Needs the ``bench`` extra (httpx, openapi-python-client, matplotlib, orjson, msgspec). Prints a markdown
table and writes ``benchmarks/results/results.md``, ``results.json`` (raw numbers) and
``throughput.png``. See benchmarks/README.md for what each peer is and how runs are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

import genclient
import memory
from _harness import HERE, PYTHON, ROOT, Server, run_peer

RESULTS = HERE / "results"


@attrs.frozen
class Scenario:
    key: str
    title: str
    vehicles: int
    logs: int
    latency: float
    page_size: int
    concurrency: int

    @property
    def ideal_rps(self) -> float | None:
        return self.concurrency / self.latency if self.latency else None

    def describe(self) -> str:
        lat = f"{self.latency * 1000:g} ms latency" if self.latency else "no added latency"
        return (
            f"{lat}, {self.vehicles} vehicles x {self.logs} logs per kind x 3 kinds "
            f"= {self.vehicles * self.logs * 3:,} records, page size {self.page_size}, concurrency {self.concurrency}"
        )


SCENARIOS = {
    "i": Scenario("i", "CPU-bound", 200, 500, 0.0, 100, 16),
    "ii": Scenario("ii", "latency-bound", 50, 200, 0.020, 100, 32),
}
QUICK = {
    "i": Scenario("i", "CPU-bound (quick)", 20, 200, 0.0, 100, 16),
    "ii": Scenario("ii", "latency-bound (quick)", 10, 200, 0.020, 100, 32),
}


@attrs.frozen
class Peer:
    key: str
    label: str
    script: str
    extra: dict[str, Any] = attrs.field(factory=dict)
    env: dict[str, str] = attrs.field(factory=dict)

    @property
    def postgres(self) -> bool:
        """Whether the peer loads into PostgreSQL (peer 5g: a server is started for it)."""
        return self.extra.get("mode") == "postgres"


PEERS = {
    "1": Peer("1", "raw aiohttp, dicts", "aiohttp_dicts.py"),
    "1o": Peer("1o", "raw aiohttp, dicts, orjson", "aiohttp_dicts.py", {"json": "orjson"}),
    "2": Peer("2", "aiohttp + attrs/plain cattrs", "aiohttp_cattrs.py"),
    "3": Peer("3", "httpx, dicts", "httpx_dicts.py"),
    "4": Peer("4", "openapi-python-client (generated)", "generated.py"),
    "5": Peer("5", "evenergy_async Harvester, async for batch (typed)", "evenergy.py", {"mode": "harvester"}),
    "5j": Peer("5j", "evenergy_async Harvester run(JsonlSink) (CLI)", "evenergy.py", {"mode": "jsonl"}),
    "5jf": Peer("5jf", "evenergy_async run(JsonlSink), no fsync", "evenergy.py", {"mode": "jsonl", "fsync": False}),
    "5jm": Peer("5jm", "evenergy_async run(JsonlSink), state in memory", "evenergy.py", {"mode": "jsonl", "state": "memory"}),
    "5p": Peer("5p", "evenergy_async paginators", "evenergy.py", {"mode": "paginators"}),
    "5g": Peer("5g", "evenergy_async Harvester run(PostgresSink)", "evenergy.py", {"mode": "postgres"}),
    "5n": Peer("5n", "evenergy_async Harvester, no fast extra", "evenergy.py", {"mode": "harvester", "no_orjson": True}),
}
DEFAULT_PEERS = "1,1o,2,3,4,5,5j,5g,5p"


def harvester_available() -> bool:
    return (ROOT / "evenergy_async" / "_harvest").is_dir()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------- running


def run_scenario(
    sc: Scenario, peers: list[Peer], rounds: int, gen_path: str | None, pg: Any = None
) -> dict[str, Any]:
    log(f"\n== scenario ({sc.key}) {sc.title}: {sc.describe()}")
    with Server(sc.vehicles, sc.logs, sc.latency) as srv:
        log(f"   server pid {srv.pid} ready in {srv.info['setup_s']:.1f}s, {srv.expected_records:,} records expected")

        def job(peer: Peer) -> dict[str, Any]:
            extra = dict(peer.extra)
            if peer.key == "4":
                extra["generated_path"] = gen_path
            if peer.postgres:
                extra["dsn"] = pg.dsn
            return srv.job(page_size=sc.page_size, concurrency=sc.concurrency, **extra)

        # warm-up, not counted: fills the server's page cache for both URL shapes (the harvester's
        # carry an ``until`` filter) and the OS page cache for the peers' imports
        for peer in [PEERS["1"], *(p for p in peers if p.key == "5")]:
            warm = run_peer(peer.script, job(peer), server_pid=srv.pid, env=peer.env)
            log(f"   warm-up (peer {peer.key}, not counted): {warm['wall_s']:.2f}s")
        runs: dict[str, list[dict[str, Any]]] = {p.key: [] for p in peers}
        postmaster = postmaster_pid(pg)  # the PostgreSQL server's CPU is counted for peer 5g
        for rnd in range(1, rounds + 1):
            for peer in peers:
                db_pid = postmaster if peer.postgres else None
                res = run_peer(peer.script, job(peer), server_pid=srv.pid, env=peer.env, db_pid=db_pid)
                runs[peer.key].append(res)
                log(
                    f"   round {rnd}/{rounds} peer {peer.key:<3} {peer.label:<38} {res['wall_s']:7.2f}s "
                    f"{res['records'] / res['wall_s']:>10,.0f} rec/s {res['requests'] / res['wall_s']:>8,.0f} req/s"
                )
    return {"scenario": attrs.asdict(sc), "expected_records": srv.expected_records, "runs": runs}


def run_decode(gen_path: str | None, quick: bool) -> dict[str, Any]:
    cmd = [PYTHON, str(HERE / "decode.py"), "--json"]
    if quick:
        cmd += ["--items", "300", "--repeat", "3"]
    if gen_path:
        cmd += ["--generated", gen_path]
    log("\n== decode micro-benchmark")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"decode.py failed:\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


# ---------------------------------------------------------------------------------- summaries


def summarize(sc: dict[str, Any], peers: list[Peer]) -> list[dict[str, Any]]:
    scenario = Scenario(**sc["scenario"])
    rows = []
    for peer in peers:
        runs = sc["runs"].get(peer.key) or []
        if not runs:
            continue
        walls = [r["wall_s"] for r in runs]
        records = runs[0]["records"]
        requests = statistics.median(r["requests"] for r in runs)
        wall = statistics.median(walls)
        server = [r["server_cpu_s"] / r["wall_s"] for r in runs if "server_cpu_s" in r]
        db = [r["db_cpu_s"] for r in runs if "db_cpu_s" in r]
        rows.append({
            "peer": peer.key,
            "label": peer.label,
            "rounds": len(runs),
            "wall_median": wall,
            "wall_min": min(walls),
            "wall_max": max(walls),
            "records": records,
            "requests": requests,
            "records_per_s": records / wall,
            "records_per_s_min": records / max(walls),
            "records_per_s_max": records / min(walls),
            "requests_per_s": requests / wall,
            "cpu_median": statistics.median(r["cpu_s"] for r in runs),
            "sys_median": statistics.median(r["sys_s"] for r in runs) if all("sys_s" in r for r in runs) else None,
            "minflt_median": statistics.median(r["minflt"] for r in runs) if all("minflt" in r for r in runs) else None,
            "server_cpu_share": statistics.median(server) if server else None,
            "db_cpu_median": statistics.median(db) if db else None,
            "maxrss_mb": statistics.median(r["maxrss_kb"] for r in runs) / 1024,
        })
    base = next((r for r in rows if r["peer"] == "1"), None)
    for row in rows:
        row["wall_ratio"] = row["wall_median"] / base["wall_median"] if base else None
        row["rps_vs_peer1"] = row["requests_per_s"] / base["requests_per_s"] if base else None
        row["ideal_share"] = row["requests_per_s"] / scenario.ideal_rps if scenario.ideal_rps else None
    return rows


def scenario_table(sc: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    scenario = Scenario(**sc["scenario"])
    latency = scenario.ideal_rps is not None
    head = ["#", "peer", "wall s, median (min-max)", "records/s", "requests/s", "wall vs peer 1"]
    if latency:
        head += ["req/s vs peer 1", f"share of ideal {scenario.ideal_rps:,.0f} req/s"]
    head += ["peer CPU s", "of it kernel s", "page faults", "server CPU"]
    db = any(r.get("db_cpu_median") is not None for r in rows)
    if db:
        head += ["PostgreSQL CPU s"]
    lines = [
        f"### Scenario ({scenario.key}) {scenario.title}",
        "",
        f"{scenario.describe()}; {rows[0]['rounds'] if rows else 0} round(s), interleaved.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|",
    ]
    for r in rows:
        cells = [
            r["peer"], r["label"], f"{r['wall_median']:.2f} ({r['wall_min']:.2f}-{r['wall_max']:.2f})",
            f"{r['records_per_s']:,.0f}", f"{r['requests_per_s']:,.0f}",
            f"{r['wall_ratio']:.2f}x" if r["wall_ratio"] else "-",
        ]
        if latency:
            cells += [f"{r['rps_vs_peer1']:.0%}" if r["rps_vs_peer1"] else "-", f"{r['ideal_share']:.0%}"]
        cells += [
            f"{r['cpu_median']:.2f}",
            f"{r['sys_median']:.2f}" if r.get("sys_median") is not None else "-",
            f"{r['minflt_median']:,.0f}" if r.get("minflt_median") is not None else "-",
            f"{r['server_cpu_share']:.0%}" if r["server_cpu_share"] is not None else "-",
        ]
        if db:
            cells.append(f"{r['db_cpu_median']:.2f}" if r.get("db_cpu_median") is not None else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


WALL_TARGET = 1.0  # issue 12: at or below the raw dict loop's wall time (aim: the raw+orjson loop's)
RPS_TARGET = 0.95  # issue 12: at least 95% of the raw dict loop's requests/s
MEMORY_TARGET = 1.05  # issue 12: peak RSS at 10 N within 5% of the peak at N (JSONL harvest)


def targets(summaries: dict[str, list[dict[str, Any]]], mem: dict[str, Any] | None) -> list[str]:
    """Issue 12's targets, met or not, with the numbers (medians of the interleaved rounds)."""
    out = []

    def row(sc: str, peer: str) -> dict[str, Any] | None:
        return next((r for r in summaries.get(sc, []) if r["peer"] == peer), None)

    aim = row("i", "1o")
    aim_text = f", aim {aim['wall_ratio']:.2f}x = peer 1o, raw+orjson" if aim and aim["wall_ratio"] else ""
    for peer in ("5", "5j", "5g", "5p"):
        label = PEERS[peer].label + ("" if peer != "5p" else " (for reference)")
        r = row("i", peer)
        if r and r["wall_ratio"]:
            ok = "met" if r["wall_ratio"] <= WALL_TARGET else "NOT met"
            out.append(
                f"- (i) peer {peer} {label}: wall {r['wall_ratio']:.2f}x peer 1 "
                f"(target <= {WALL_TARGET:.1f}x{aim_text}): **{ok}**"
            )
        r = row("ii", peer)
        if r and r["rps_vs_peer1"]:
            ok = "met" if r["rps_vs_peer1"] >= RPS_TARGET else "NOT met"
            out.append(
                f"- (ii) peer {peer} {label}: {r['rps_vs_peer1']:.0%} of peer 1's requests/s "
                f"(target >= {RPS_TARGET:.0%}): **{ok}**"
            )
    if mem and mem.get("ratio"):
        ok = "met" if mem["ratio"] <= MEMORY_TARGET else "NOT met"
        out.append(
            f"- memory (JSONL harvest): peak RSS at 10N = {mem['ratio']:.3f}x the peak at N "
            f"(target <= {MEMORY_TARGET:.2f}x): **{ok}**"
        )
    return out


def decode_table(dec: dict[str, Any]) -> str:
    results = dec["results"]
    # every row's columns, in first-seen order (a kind may lack one: "-")
    columns = [c for c in dict.fromkeys(c for row in results.values() for c in row) if c != "bytes_per_item"]
    lines = [
        f"### Decode cost per item (ns, median of repeats; one page of {dec['items']} records)",
        "",
        "Structure rows start from the parsed page (JSON parsing excluded); add a `loads` column for the total. "
        "The fast-extra column (when msgspec is installed) is what the client does then: from the page bytes "
        "to the same models, parsing and the checks that keep the converter's result included; compare it "
        "with `orjson.loads` + `evenergy structure_list`.",
        "",
        "| kind | bytes/item | " + " | ".join(columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for kind, row in results.items():
        cells = [f"{row[c]:,.0f}" if c in row else "-" for c in columns]
        lines.append(f"| {kind} | {row['bytes_per_item']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def environment() -> dict[str, Any]:
    versions = {}
    for dist in ("aiohttp", "httpx", "attrs", "cattrs", "orjson", "msgspec", "openapi-python-client", "yarl"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def markdown(report: dict[str, Any], summaries: dict[str, list[dict[str, Any]]]) -> str:
    env = report["environment"]
    v = env["versions"]
    parts = [
        "# Benchmark results",
        "",
        f"`{report['command']}` on {env['date']}; Python {env['python']}, {env['platform']}; "
        f"aiohttp {v['aiohttp']}, httpx {v['httpx']}, cattrs {v['cattrs']}, orjson {v['orjson']}, "
        f"openapi-python-client {v['openapi-python-client']}.",
        "",
        f"**The machine has {env['cpus']} CPU cores**, shared by the server process (the simulator, page bodies "
        "precomputed, rate limit out of reach) and the peer process under test, and possibly by other work. "
        "Each peer runs in its own subprocess; peers are interleaved round by round; wall time is the peer's "
        "event-loop run (session set-up, harvest, teardown), medians with min-max. A run counts only if the peer "
        "returned exactly the expected number of records. \"server CPU\" is the server process's CPU time over "
        "the peer's wall time: near 100% would mean the server, not the peer, was the bottleneck. "
        "\"of it kernel s\" is the part of the peer's CPU time spent in the kernel (socket I/O, file writes, "
        "page faults), \"page faults\" its minor page faults (memory touched for the first time) during the run. "
        "Peer 5g loads into a PostgreSQL server on the same 2 cores (started for the run, fsync on, a fresh "
        "schema per run, created inside the timed part as a first harvest would); \"PostgreSQL CPU s\" is that "
        "server's CPU time (all its processes) during the peer's process, including the untimed row count "
        "and schema drop after the run.",
        "",
    ]
    for note in report.get("notes", []):
        parts.append(f"- {note}")
    if report.get("notes"):
        parts.append("")
    for key, sc in report["scenarios"].items():
        parts += [scenario_table(sc, summaries[key]), ""]
        scenario = Scenario(**sc["scenario"])
        if scenario.ideal_rps:
            waves = -(-scenario.vehicles * 3 // scenario.concurrency)
            pages = -(-scenario.logs // scenario.page_size)
            parts += [
                f"Ideal: concurrency / latency = {scenario.concurrency} / {scenario.latency:g} s = "
                f"{scenario.ideal_rps:,.0f} requests/s. With {scenario.vehicles * 3} partitions of {pages} sequential "
                f"pages over {scenario.concurrency} workers the last wave is partial, so even a zero-cost client "
                f"needs {waves} x {pages} x {scenario.latency * 1000:g} ms = "
                f"{waves * pages * scenario.latency:.2f} s here (share at most "
                f"{scenario.vehicles * 3 * pages / (waves * pages * scenario.latency) / scenario.ideal_rps:.0%}).",
                "",
            ]
    mem = report.get("memory")
    if mem:
        parts += [memory.markdown(mem), ""]
    if report.get("decode"):
        parts += [decode_table(report["decode"]), ""]
    tg = targets(summaries, mem)
    if tg:
        quick = " (--quick sizes: too small to judge, use a full run)" if "--quick" in report["command"] else ""
        parts += [f"### Targets (issue 12){quick}", "", *tg, ""]
    return "\n".join(parts)


def chart(report: dict[str, Any], summaries: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    keys = [k for k in report["scenarios"] if summaries.get(k)]
    fig, axes = plt.subplots(1, len(keys), figsize=(6.5 * len(keys), 4.8), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        rows = summaries[key]
        sc = Scenario(**report["scenarios"][key]["scenario"])
        labels = [f"{r['peer']}: {r['label']}" for r in rows]
        values = [r["records_per_s"] for r in rows]
        err = [
            [r["records_per_s"] - r["records_per_s_min"] for r in rows],
            [r["records_per_s_max"] - r["records_per_s"] for r in rows],
        ]
        colors = ["#4c72b0" if not r["peer"].startswith("5") else "#dd8452" for r in rows]
        ax.barh(range(len(rows)), values, xerr=err, color=colors, capsize=3)
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("records/s (median, bars: min-max)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x / 1000:,.0f}k"))
        ax.set_title(f"({sc.key}) {sc.title}", fontsize=10)
        for i, r in enumerate(rows):
            ax.text(r["records_per_s_max"], i, f"  {r['records_per_s']:,.0f}", va="center", fontsize=7)
        ax.margins(x=0.2)
    env = report["environment"]
    fig.suptitle(f"evenergy_async benchmarks, {env['date']}, {env['cpus']} cores (server + peer)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------- main


def write_outputs(report: dict[str, Any], out: Path) -> str:
    """Summaries, results.md, results.json and throughput.png from the raw report; returns the markdown."""
    keys = {k for sc in report["scenarios"].values() for k in sc["runs"]}
    peers = [p for p in PEERS.values() if p.key in keys]
    summaries = {key: summarize(sc, peers) for key, sc in report["scenarios"].items()}
    report["summaries"] = summaries
    md = markdown(report, summaries)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(md)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    if any(summaries.values()):
        chart(report, summaries, out / "throughput.png")
    return md


def start_postgres() -> tuple[Any, str]:
    """A throwaway PostgreSQL server for peer 5g, configured as shipped (fsync on), as the tests
    and ``postgres_load.py`` start one (``tests/pgserver.py``; ``$EVENERGY_TEST_DATABASE_URL``
    uses an existing server instead): (server, message), or (None, why peer 5g is skipped)."""
    sys.path.insert(0, str(ROOT))
    try:
        import asyncpg  # noqa: F401

        from tests.pgserver import start_server

        server = start_server(durable=True)
    except Exception as exc:  # any reason: the peer is skipped and the report says why
        return None, f"peer 5g SKIPPED: no PostgreSQL server ({type(exc).__name__}: {exc})"
    where = f"{server.directory} ({server.bindir})" if server.directory else "an existing server ($EVENERGY_TEST_DATABASE_URL)"
    return server, f"PostgreSQL for peer 5g: {where}, fsync on"


def postmaster_pid(pg: Any) -> int | None:
    """The PostgreSQL server's main process (None: a server this run did not start)."""
    if pg is None or pg.directory is None:
        return None
    try:
        return int(Path(pg.directory, "data", "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round (a smoke check)")
    parser.add_argument("--scenario", choices=["i", "ii", "all"], default="all")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5; 1 with --quick)")
    parser.add_argument("--peers", default=DEFAULT_PEERS, help=f"comma-separated, of {','.join(PEERS)}")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--no-decode", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--from-json", type=Path, help="only rewrite results.md and the chart from a results.json")
    args = parser.parse_args()
    if args.from_json:
        print(write_outputs(json.loads(args.from_json.read_text()), args.out))
        return
    rounds = args.rounds or (1 if args.quick else 5)
    table = QUICK if args.quick else SCENARIOS
    scenarios = [table[k] for k in (["i", "ii"] if args.scenario == "all" else [args.scenario])]
    notes: list[str] = []
    peers = []
    for key in args.peers.split(","):
        if key not in PEERS:
            raise SystemExit(f"unknown peer {key!r}; known: {', '.join(PEERS)}")
        peer = PEERS[key]
        if peer.extra.get("mode") == "harvester" and not harvester_available():
            msg = f"peer {key} ({peer.label}) SKIPPED: evenergy_async._harvest is not there yet"
            log(f"!! {msg}")
            notes.append(msg)
            continue
        peers.append(peer)
    pg = None
    if any(p.postgres for p in peers):
        pg, msg = start_postgres()
        if pg is None:
            log(f"!! {msg}")
            notes.append(msg)
            peers = [p for p in peers if not p.postgres]
        else:
            log(msg)

    command = "benchmarks/run.py " + " ".join(sys.argv[1:])
    report: dict[str, Any] = {"command": command.strip(), "environment": environment(), "notes": notes,
                              "scenarios": {}}
    log(f"{report['environment']['cpus']} CPU cores: the server and the measured peer share them.")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="evbench-") as tmp:
        gen_path = None
        if any(p.key == "4" for p in peers) or not args.no_decode:
            gen_path_p, gen_notes = genclient.generate(Path(tmp))
            gen_path = str(gen_path_p)
            for note in gen_notes:
                log(f"openapi-python-client: {note}")
                notes.append(f"openapi-python-client (temporary copy of the spec): {note}")
        try:
            for sc in scenarios:
                report["scenarios"][sc.key] = run_scenario(sc, peers, rounds, gen_path, pg)
        finally:
            if pg is not None:
                pg.stop()
        if not args.no_memory:
            if harvester_available():
                report["memory"] = memory.measure(quick=args.quick, log=log)
            else:
                notes.append("memory benchmark SKIPPED: the harvester is not there yet")
        if not args.no_decode:
            report["decode"] = run_decode(gen_path, args.quick)
    report["elapsed_s"] = time.perf_counter() - started
    md = write_outputs(report, args.out)
    print(md)
    log(f"\nwrote {args.out / 'results.md'}, results.json, throughput.png in {report['elapsed_s']:.0f}s")


if __name__ == "__main__":
    main()
