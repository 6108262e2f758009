"""The progress display as a person sees it: an 80-column terminal (a real pseudo-terminal),
and plain lines when stderr is not a terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime
from pathlib import Path

from evenergy_async._cli import progress_lines
from evenergy_async._harvest import HarvestReport, LogKind, TokenReport

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DEMO = ["demo", "--vehicles", "24", "--logs", "300", "--latency", "0.01", "--progress-interval", "0.1", "--verbose"]


def env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENERGY_") and k not in ("COLUMNS", "LINES")}
    return {**base, "PYTHONPATH": str(ROOT)}


def run_in_terminal(argv: list[str], columns: int) -> tuple[int, str]:
    """stderr (and stdin) on a pseudo-terminal of ``columns`` x 24; stdout to a pipe."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "evenergy_async", *argv], stdin=slave, stdout=subprocess.DEVNULL, stderr=slave, env=env()
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal's last writer has gone
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    return proc.wait(30), b"".join(chunks).decode()


def test_progress_fits_80_columns_and_redraws_in_place() -> None:
    code, screen = run_in_terminal(DEMO, 80)
    assert code == 0, screen
    assert "Traceback" not in screen
    frames = []
    for line in screen.split("\r\n"):  # the terminal turns \n into \r\n
        for frame in line.split("\r"):
            visible = ANSI.sub("", frame)
            frames.append(visible)
            assert len(visible) <= 80, visible
    progress = [f for f in frames if " records " in f and "ETA" in f]
    assert len(progress) >= 3, screen  # several updates...
    assert "\x1b[K" in screen  # ... each cleared to the end of the line
    assert re.search(r"\x1b\[\d+A\r", screen)  # ... redrawn over the previous one (with per-token lines)
    per_token = [f for f in frames if re.match(r"\s+user\d: \d+ vehicles", f)]
    assert per_token  # --verbose: one line per token
    first = progress[0]
    assert "ETA ?" not in first  # from the forecast at once


def test_progress_fits_a_narrow_terminal() -> None:
    code, screen = run_in_terminal([*DEMO[:-1]], 40)
    assert code == 0, screen
    for line in screen.split("\r\n"):
        for frame in line.split("\r"):
            if " records" in frame:
                assert len(ANSI.sub("", frame)) <= 40, frame


def test_progress_line_keeps_what_matters_when_short() -> None:
    report = HarvestReport(
        kinds=(LogKind.STATUS, LogKind.LOCATION),
        since=None,
        until=datetime(2026, 11, 20, tzinfo=UTC),
        started_at=datetime(2026, 11, 20, tzinfo=UTC),
        elapsed=12.0,
        records={"status": 1234, "location": 99},
        http_requests=50,
        requests=50,
        partitions_total=100,
        partitions_done=50,
        tokens={"alice": TokenReport(token="alice", input_exhausted=True, budget_limit=1000, budget_remaining=950)},
    )
    wide = progress_lines(report, width=200)[0]
    assert "1,333 records" in wide and "(status 1,234 location 99)" in wide and "50/100 parts" in wide
    assert "ETA 12s" in wide and "budget 950/1000" in wide
    narrow = progress_lines(report, width=40)[0]
    assert len(narrow) <= 40 and "records" in narrow and "ETA 12s" in narrow
    parked = progress_lines(report, parked=["alice"], width=80)[0]
    assert "parked: alice" in parked and "ETA parked" in parked
    fleet = progress_lines(report, parked=[f"user{i}" for i in range(2500)], width=120)[0]
    assert "parked: 2,500 tokens" in fleet and "user0" not in fleet
    verbose = progress_lines(report, width=80, verbose=True)
    assert len(verbose) == 2 and verbose[1].startswith("  alice: ")
