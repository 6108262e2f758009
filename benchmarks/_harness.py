"""Process plumbing shared by run.py, memory.py and profile_peer.py: the server process, peer runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEERS = HERE / "peers"
PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (None: no such process, or no /proc)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc), or None elsewhere."""
    fields = _proc_stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process, its children that have ended (reaped) and those still running
    (Linux /proc), or None elsewhere: a PostgreSQL server's, whose backends come and go with
    the connections."""
    own = _proc_stat(pid)
    if own is None:
        return None
    ticks = sum(int(x) for x in own[11:15])  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(entry)
            if fields is not None and fields[1] == str(pid):  # a child of pid
                ticks += sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK


@attrs.define
class Server:
    """The simulator in its own process (benchmarks/server.py)."""

    vehicles: int
    logs: int
    latency: float = 0.0
    proc: subprocess.Popen[str] | None = None
    info: dict[str, Any] = attrs.field(factory=dict)

    def __enter__(self) -> Server:
        cmd = [PYTHON, str(HERE / "server.py"), "--vehicles", str(self.vehicles), "--logs", str(self.logs),
               "--latency", str(self.latency)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise SystemExit(f"benchmark server failed to start (exit {self.proc.returncode})")
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()  # the server stops when its stdin closes
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def expected_records(self) -> int:
        return int(sum(self.info["expected"].values()))

    def job(self, *, page_size: int, concurrency: int, **extra: Any) -> dict[str, Any]:
        return {
            "base_url": self.info["base_url"],
            "token": self.info["token"],
            "vehicle_ids": self.info["vehicle_ids"],
            "kinds": sorted(self.info["expected"]),
            "page_size": page_size,
            "concurrency": concurrency,
            "expected_records": self.expected_records,
            "extra": {"until": self.info["until"], **extra},
        }


class PeerFailed(SystemExit):
    pass


def run_peer(
    script: str, job: dict[str, Any], *, server_pid: int | None = None, env: dict[str, str] | None = None,
    timeout: float = 900.0, db_pid: int | None = None,
) -> dict[str, Any]:
    """Run one peer subprocess on ``job``; return its result plus the server's CPU seconds meanwhile
    (and a PostgreSQL server's, ``db_pid``: its postmaster).

    Raises ``PeerFailed`` when the peer crashes or returns a record count other than expected.
    """
    srv0 = proc_cpu_seconds(server_pid) if server_pid else None
    db0 = tree_cpu_seconds(db_pid) if db_pid else None
    t0 = time.perf_counter()
    proc = subprocess.run(
        [PYTHON, str(PEERS / script)], input=json.dumps(job), capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, **(env or {})}, timeout=timeout, check=False,
    )
    elapsed = time.perf_counter() - t0
    srv1 = proc_cpu_seconds(server_pid) if server_pid else None
    db1 = tree_cpu_seconds(db_pid) if db_pid else None
    if proc.returncode != 0 or not proc.stdout.strip():
        raise PeerFailed(f"peer {script} {job.get('extra')} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["records"] != job["expected_records"]:
        raise PeerFailed(
            f"peer {script} {job.get('extra')} returned {result['records']} records, "
            f"expected exactly {job['expected_records']}: the benchmark stops (a run counts only with the exact count)"
        )
    result["process_s"] = elapsed
    if srv0 is not None and srv1 is not None:
        result["server_cpu_s"] = srv1 - srv0
    if db0 is not None and db1 is not None:
        result["db_cpu_s"] = db1 - db0
    return result
