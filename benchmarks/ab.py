"""A/B: the same peers run from this tree and from an earlier commit, side by side.

    .venv/bin/python benchmarks/ab.py --base 2755c26                      # scenario (ii), peers 5j,5
    .venv/bin/python benchmarks/ab.py --base HEAD~3 --scenario i --peers 5j --rounds 7

On a shared machine wall times move by 2x between runs, so two versions of the code are only
comparable when measured in one run: this checks out ``--base`` into a temporary git worktree,
starts one server, and runs each peer from both trees (the older tree first on the peer's
``PYTHONPATH``) interleaved round by round with the raw dict loop (peer 1), all in their own
subprocesses. It prints medians (min-max), each against peer 1 of the same run. The peer
scripts and the harness are this tree's: they use only the public API.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, Server, run_peer
from run import PEERS, SCENARIOS, postmaster_pid, start_postgres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="the commit to compare with (any git revision)")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="ii")
    parser.add_argument("--peers", default="5j,5", help="evenergy peers to run from both trees")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    sc = SCENARIOS[args.scenario]
    unknown = [k for k in args.peers.split(",") if k not in PEERS]
    if unknown:
        raise SystemExit(f"ab.py: unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    peers = [PEERS[k] for k in args.peers.split(",")]
    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.base}^{{commit}}"], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    if found.returncode != 0:
        raise SystemExit(f"ab.py: --base {args.base!r} is not a commit of this repository")
    with tempfile.TemporaryDirectory(prefix="evbench-ab-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), args.base], cwd=ROOT, check=True)
        pg = None
        if any(p.postgres for p in peers):  # peer 5g: a PostgreSQL server of its own
            pg, msg = start_postgres()
            if pg is None:
                raise SystemExit(f"ab.py: {msg}")
        try:
            runs = measure(sc, peers, args.rounds, str(tree), pg)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)
            if pg is not None:
                pg.stop()
    report(args, sc, runs)


def measure(sc: Any, peers: list[Any], rounds: int, base_tree: str, pg: Any = None) -> dict[str, list[dict[str, Any]]]:
    lineup: list[tuple[str, Any, dict[str, str] | None]] = [("1", PEERS["1"], None)]
    for p in peers:
        lineup += [(f"{p.key} base", p, {"PYTHONPATH": base_tree}), (f"{p.key} this", p, None)]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in lineup}
    with Server(sc.vehicles, sc.logs, sc.latency) as srv:
        def job(peer: Any) -> dict[str, Any]:
            extra = dict(peer.extra)
            if peer.postgres:
                extra["dsn"] = pg.dsn
            return srv.job(page_size=sc.page_size, concurrency=sc.concurrency, **extra)

        run_peer(PEERS["1"].script, job(PEERS["1"]), server_pid=srv.pid)  # warm-up, not counted
        postmaster = postmaster_pid(pg)
        for rnd in range(1, rounds + 1):
            for name, peer, env in lineup:
                db_pid = postmaster if peer.postgres else None
                res = run_peer(peer.script, job(peer), server_pid=srv.pid, env=env, db_pid=db_pid)
                runs[name].append(res)
                print(f"round {rnd}/{rounds} {name:<8} {res['wall_s']:6.3f}s", file=sys.stderr, flush=True)
    return runs


def report(args: argparse.Namespace, sc: Any, runs: dict[str, list[dict[str, Any]]]) -> None:
    raw = statistics.median(r["wall_s"] for r in runs["1"])
    print(f"`benchmarks/ab.py --base {args.base} --scenario {sc.key} --peers {args.peers} --rounds {args.rounds}`: "
          f"{sc.describe()}\n")
    print("| peer | tree | wall s, median (min-max) | wall vs peer 1 | req/s vs peer 1 | peer CPU s | PostgreSQL CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, results in runs.items():
        walls = [r["wall_s"] for r in results]
        med = statistics.median(walls)
        key, _, tree = name.partition(" ")
        label = PEERS[key].label
        cpu = statistics.median(r["cpu_s"] for r in results)
        db = [r["db_cpu_s"] for r in results if "db_cpu_s" in r]
        db_text = f"{statistics.median(db):.2f}" if db else "-"
        print(f"| {key} {label} | {tree or '-'} | {med:.3f} ({min(walls):.3f}-{max(walls):.3f}) | "
              f"{med / raw:.2f}x | {raw / med:.0%} | {cpu:.3f} | {db_text} |")


if __name__ == "__main__":
    main()
