"""SIGKILL a fleet harvest around refresh-token rotations (the provider kills the old refresh
token at each refresh): whatever the point, the credentials file (with its journal) keeps a
working refresh token for every user, and the next run delivers every record exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import pytest

from evenergy_async._harvest import LogKind
from evenergy_async.simulator import Simulator, SimulatorConfig

from .conftest import assert_exactly_once, expected_lines, harvested_lines

CHILD = Path(__file__).with_name("rotation_child.py")
ROOT = Path(__file__).resolve().parents[2]
USERS = 6


@pytest.fixture
def sim_config() -> SimulatorConfig:
    return SimulatorConfig(seed=31, users=USERS, vehicles=USERS, logs_per_kind=14)


async def run_child(sim: Simulator, tmp_path: Path, kill_at: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ROT_BASE_URL": str(sim.base_url),
        "ROT_FILE": str(tmp_path / "fleet.jsonl"),
        "ROT_OUT": str(tmp_path / "out"),
        "ROT_KILL_AT": kill_at,
        "EVENERGY_CLIENT_ID": sim.client_id,
        "EVENERGY_CLIENT_SECRET": sim.client_secret,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, output.decode(errors="replace")


def stored_refresh_tokens(tmp_path: Path) -> dict[str, str]:
    """Label -> the refresh token the file holds, the journal's newest entry winning."""
    tokens = {}
    for number, line in enumerate((tmp_path / "fleet.jsonl").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        data = json.loads(line)
        tokens[data.get("label", f"line{number}")] = data["refresh_token"]
    journal = tmp_path / "fleet.jsonl.rotations"
    if journal.exists():
        for raw in journal.read_bytes().splitlines(keepends=True):
            if raw.endswith(b"\n"):
                entry = json.loads(raw)
                tokens[entry["label"]] = entry["refresh_token"]
    return tokens


@pytest.mark.parametrize(
    "kills",
    [
        ["journaled:1", "journaled:3"],  # rotations durable, their access tokens never used
        ["fetch:2", "fetch:9"],  # mid-harvest, after refreshes
        ["before_rename:1"],  # folding the journal in at the end: temp file written, not renamed
        ["renamed:1"],  # the file rewritten, the journal not yet removed
        ["journaled:2", "before_rename:1", "renamed:1"],  # and again while recovering at the next start
    ],
)
async def test_sigkill_around_rotations_never_loses_a_refresh_token(
    sim: Simulator, tmp_path: Path, kills: list[str]
) -> None:
    (tmp_path / "out").mkdir()
    lines = [json.dumps({"refresh_token": sim.issue_token(sim.user_id(i))["refresh_token"]}) for i in range(USERS)]
    lines.insert(3, "# refresh tokens only: every run starts with a refresh")
    (tmp_path / "fleet.jsonl").write_text("\n".join(lines) + "\n")
    for kill_at in kills:
        code, output = await run_child(sim, tmp_path, kill_at)
        assert code == -signal.SIGKILL, output  # it really died there
        live = set(sim._state.tokens.refresh)
        stored = stored_refresh_tokens(tmp_path)
        assert len(stored) == USERS and all(t in live for t in stored.values()), kill_at
    code, output = await run_child(sim, tmp_path, "")
    assert code == 0, output
    assert not (tmp_path / "fleet.jsonl.rotations").exists()
    live = set(sim._state.tokens.refresh)
    assert all(t in live for t in stored_refresh_tokens(tmp_path).values())
    for kind in (LogKind.STATUS, LogKind.COMMAND):
        assert_exactly_once(harvested_lines(tmp_path / "out", kind), expected_lines(sim, kind))
