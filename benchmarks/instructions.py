"""CPU instructions per record of each peer (valgrind): a cost measure that noise cannot move.

    .venv/bin/python benchmarks/instructions.py                       # peers 1,1o,5p,5,5j
    .venv/bin/python benchmarks/instructions.py --peers 5j --small 5 --large 15

Wall and CPU times on a shared 2-core machine move by 2x with the load; instructions do not.
Each peer runs under ``valgrind --tool=callgrind`` (its own simulator process, unmeasured)
at two sizes (``--small`` and ``--large`` vehicles x 500 logs x 3 kinds, scenario (i)'s
shape); the difference of the two instruction counts over the difference of the records is
the cost per record, start-up and imports cancelled out. It counts the peer's every thread
(the sink's and the state store's too) but not the kernel (socket I/O, fsync), and not the
timing: a peer that waits well and one that waits badly can count alike, so this complements
``run.py``, it does not replace it. Needs ``valgrind``; about 1.5 minutes per peer and size.
A JSONL peer writes to a temporary directory without the after-run line count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import PEERS as PEER_DIR
from _harness import PYTHON, ROOT, Server
from run import PEERS


def instructions(peer: str, vehicles: int) -> tuple[int, int]:
    """(instructions, records) of one run of ``peer`` under callgrind."""
    p = PEERS[peer]
    with Server(vehicles, 500, 0.0) as srv, tempfile.TemporaryDirectory(prefix="evbench-ir-") as tmp:
        extra = dict(p.extra)
        if extra.get("mode") == "jsonl":
            extra["out_dir"] = tmp  # keep the files there: no line count after the run
        job = srv.job(page_size=100, concurrency=16, **extra)
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", "--cache-sim=no", f"--callgrind-out-file={out}", PYTHON,
             str(PEER_DIR / p.script)],
            input=json.dumps(job), capture_output=True, text=True, cwd=ROOT, env={**os.environ, **p.env}, check=False,
        )
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode != 0 or not found:
            raise SystemExit(f"peer {peer} under valgrind failed:\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        if result["records"] != job["expected_records"]:
            raise SystemExit(f"peer {peer}: {result['records']} records, expected {job['expected_records']}")
        return int(found.group(1)), int(result["records"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peers", default="1,1o,5p,5,5j")
    parser.add_argument("--small", type=int, default=5, help="vehicles in the small run")
    parser.add_argument("--large", type=int, default=15, help="vehicles in the large run")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    rows = []
    for key in args.peers.split(","):
        if key not in PEERS:
            raise SystemExit(f"unknown peer {key!r}; known: {', '.join(PEERS)}")
        small, small_records = instructions(key, args.small)
        large, large_records = instructions(key, args.large)
        per = (large - small) / (large_records - small_records)
        rows.append((key, per))
        print(f"peer {key:<4} {per:9,.0f} instructions/record", file=sys.stderr, flush=True)
    base = next((per for key, per in rows if key == "1"), None)
    print("| # | peer | instructions per record | vs peer 1 |")
    print("|---|---|---:|---:|")
    for key, per in rows:
        ratio = f"{per / base:.2f}x" if base else "-"
        print(f"| {key} | {PEERS[key].label} | {per:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
