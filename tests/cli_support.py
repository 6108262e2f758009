"""Helpers for the tests that run the CLI and README code as separate processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without EVENERGY_* (and COLUMNS), plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENERGY_") and k != "COLUMNS"}
    return {**base, "PYTHONPATH": str(ROOT), **(extra or {})}


@dataclass
class Server:
    base_url: str
    tokens: list[str]
    client_id: str
    client_secret: str


def start_simulator(*extra: str) -> tuple[subprocess.Popen[str], Server]:
    proc = subprocess.Popen(
        [PY, "-m", "evenergy_async.simulator", "--port", "0", "--vehicles", "6", "--logs", "20", *extra],
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    text = ""
    while "Press Ctrl-C" not in text:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"simulator did not start: {text}")
        text += line
    base = re.search(r"serving (\S+)", text)
    cid = re.search(r"client_id:\s+(\S+)", text)
    secret = re.search(r"client_secret:\s+(\S+)", text)
    assert base and cid and secret
    tokens = re.findall(r"user \d+ token:\s+(\S+)", text)
    return proc, Server(base.group(1), tokens, cid.group(1), secret.group(1))




@contextmanager
def simulator_process(*extra: str) -> Iterator[Server]:
    """``python -m evenergy_async.simulator`` on a free loopback port, stopped afterwards."""
    proc, srv = start_simulator(*extra)
    try:
        yield srv
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
