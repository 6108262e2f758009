"""The ``evenergy-async`` command: run as a real subprocess against the simulator in this process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evenergy_async import EvEnergyClient
from evenergy_async._cli import credentials_from_env, main, token_label
from evenergy_async._harvest import LogKind, shard_of
from evenergy_async.simulator import Simulator, SimulatorConfig

from .spec_oracle import validated_simulator

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def cli_sim() -> AsyncIterator[Simulator]:
    async with validated_simulator(SimulatorConfig(seed=4, users=2, vehicles=6, logs_per_kind=15)) as s:
        yield s


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVENERGY_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evenergy_async",
        *args,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def jsonl_files(directory: Path) -> list[Path]:
    return list(directory.glob("*.jsonl"))


def user_vehicles(sim: Simulator, user: int) -> set[str]:
    return {v["id"] for v in sim.data.vehicles_of(sim.user_id(user))}


async def test_harvest_then_incremental_rerun(cli_sim: Simulator, tmp_path: Path) -> None:
    token = cli_sim.user_token(0)
    args = [
        "harvest",
        "--kinds",
        "status,command",
        "--since",
        "2026-11-01",
        "--out",
        str(tmp_path),
        "--concurrency",
        "4",
        "--base-url",
        str(cli_sim.base_url),
        "--progress-interval",
        "0.1",
    ]
    code, out, err = await cli(*args, "--until", "2026-11-21", env={"EVENERGY_TOKEN": token})
    assert code == 0, err
    assert "harvest complete" in out and "records/s" in out
    progress = [line for line in err.splitlines() if " records " in line and "ETA" in line]
    assert progress, err  # the periodic progress lines (stderr is not a TTY here): plain lines
    assert "\r" not in err and "\x1b" not in err
    assert token not in out + err  # credentials are never echoed
    for kind in (LogKind.STATUS, LogKind.COMMAND):
        rows = lines(tmp_path / kind.filename)
        assert {r["vehicle_id"] for r in rows} == user_vehicles(cli_sim, 0)
        expected = {(vid, r["url"]) for vid in user_vehicles(cli_sim, 0) for r in cli_sim.data.logs(kind.value, vid)}
        got = [(r["vehicle_id"], r["url"]) for r in rows]
        assert len(got) == len(set(got)) and set(got) == expected
    assert not (tmp_path / "location_logs.jsonl").exists()
    assert (tmp_path / "harvest-state.sqlite").exists()
    # new logs, second run: only they are appended
    vid = sorted(user_vehicles(cli_sim, 0))[0]
    cli_sim.add_logs("status", vid, 2, after=datetime(2026, 11, 21, tzinfo=UTC))
    code, out, err = await cli(*args, "--json", "--quiet", env={"EVENERGY_TOKEN": token})
    assert code == 0, err
    report = json.loads(out)
    assert report["records"] == {"status": 2, "command": 0}  # from the watermark (2026-11-21) on
    assert err == ""
    assert len(lines(tmp_path / "status_logs.jsonl")) == len(user_vehicles(cli_sim, 0)) * 15 + 2


async def test_plan_prints_forecast_without_harvesting(cli_sim: Simulator, tmp_path: Path) -> None:
    code, out, err = await cli(
        "harvest",
        "--plan",
        "--since",
        "2026-11-01",
        "--page-size",
        "10",
        "--out",
        str(tmp_path / "plan-out"),
        "--base-url",
        str(cli_sim.base_url),
        env={"EVENERGY_TOKEN": cli_sim.user_token(1)},
    )
    assert code == 0, err
    label = token_label(cli_sim.user_token(1))
    assert out.startswith("plan: ") and f"token {label}: 3 vehicles" in out
    assert not (tmp_path / "plan-out").exists()  # --plan writes nothing, no state file either


async def test_shards_split_the_vehicles(cli_sim: Simulator, tmp_path: Path) -> None:
    env = {"EVENERGY_TOKEN": cli_sim.user_token(0)}
    seen: list[set[str]] = []
    for index in range(2):
        out_dir = tmp_path / f"shard{index}"
        code, _, err = await cli(
            "harvest",
            "--kinds",
            "location",
            "--shard",
            f"{index}/2",
            "--out",
            str(out_dir),
            "--quiet",
            "--base-url",
            str(cli_sim.base_url),
            env=env,
        )
        assert code == 0, err
        seen.append({str(r["vehicle_id"]) for r in lines(out_dir / "location_logs.jsonl")})
    assert seen[0] | seen[1] == user_vehicles(cli_sim, 0) and not seen[0] & seen[1]
    assert all(shard_of(v, 2) == i for i, share in enumerate(seen) for v in share)


async def test_failed_vehicle_gives_nonzero_exit(cli_sim: Simulator, tmp_path: Path) -> None:
    good = sorted(user_vehicles(cli_sim, 0))[0]
    foreign = sorted(user_vehicles(cli_sim, 1))[0]  # another user's vehicle: 404 for this token
    code, out, err = await cli(
        "harvest",
        "--kinds",
        "status",
        "--vehicle",
        good,
        "--vehicle",
        foreign,
        "--out",
        str(tmp_path),
        "--quiet",
        "--base-url",
        str(cli_sim.base_url),
        env={"EVENERGY_TOKEN": cli_sim.user_token(0)},
    )
    assert code == 1, err
    said = [line for line in err.splitlines() if line.startswith("evenergy-async:")]
    assert len(said) == 1 and "1 vehicle(s) failed" in said[0] and "Traceback" not in err
    assert "FAILED: 1 vehicle(s)" in out and foreign in out and "NotFoundError [404]" in out
    assert {r["vehicle_id"] for r in lines(tmp_path / "status_logs.jsonl")} == {good}


async def test_a_windows_vehicles_file_is_read_as_written(cli_sim: Simulator, tmp_path: Path) -> None:
    """Saved by Notepad: a byte order mark before the first ID and CRLF line ends; the file
    and the same bytes on stdin give the same vehicles."""
    ids = sorted(user_vehicles(cli_sim, 0))
    data = b"\xef\xbb\xbf" + b"".join(i.encode() + b"\r\n" for i in ids)
    (tmp_path / "ids.txt").write_bytes(data)
    for source, out in (("ids.txt", "o-file"), ("-", "o-stdin")):
        args = ["harvest", "--kinds", "status", "--vehicles-file", source, "--out", str(tmp_path / out), "-q"]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "evenergy_async", *args, "--base-url", str(cli_sim.base_url), cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "EVENERGY_TOKEN": cli_sim.user_token(0)},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(proc.communicate(data if source == "-" else b""), 60)
        assert proc.returncode == 0, err.decode()
        assert {r["vehicle_id"] for r in lines(tmp_path / out / "status_logs.jsonl")} == set(ids)


async def test_budget_reserve_leaves_each_token_its_share(tmp_path: Path) -> None:
    """``--budget-reserve 15`` on a budget of 40 an hour: the harvest stops at 15 left (no 429,
    exit 3, its work parked for the next run), and the app's own call with that token still
    gets through."""
    config = SimulatorConfig(seed=5, users=1, vehicles=2, logs_per_kind=30, rate_limit=40, rate_window=3600)
    async with validated_simulator(config) as sim:
        code, out, err = await cli(
            "harvest", "--out", str(tmp_path / "out"), "--page-size", "5", "--budget-reserve", "15",
            "--max-park", "0", "--json", "-q", "--base-url", str(sim.base_url),
            env={"EVENERGY_TOKEN": "me=" + sim.user_token(0)},
        )  # fmt: skip
        assert code == 3, err
        report = json.loads(out)
        assert report["tokens"]["me"]["budget_remaining"] == 15 and report["parked"]
        assert 0 < report["records_total"] < 6 * 30
        assert dict(sim.stats.by_status) == {200: 40 - 15}  # every request answered, none refused
        async with EvEnergyClient(sim.user_token(0), base_url=sim.base_url) as client:
            assert await client.vehicles.list().first() is not None  # the reserve at work
            assert client.rate_limit is not None and client.rate_limit.remaining == 14


async def test_a_budget_reserve_no_token_can_work_with_is_a_usage_error(tmp_path: Path) -> None:
    """A reserve at or above a token's limit would park it for ever ("budget spent, run again
    later", exit 3, again and again): once the first answer tells the limit, the run stops
    with exit code 2 and says which setting to change."""
    config = SimulatorConfig(seed=5, users=1, vehicles=2, logs_per_kind=30, rate_limit=40, rate_window=3600)
    async with validated_simulator(config) as sim:
        code, _, err = await cli(
            "harvest", "--out", str(tmp_path / "out"), "--budget-reserve", "40", "-q", "--base-url", str(sim.base_url),
            env={"EVENERGY_TOKEN": "me=" + sim.user_token(0)},
        )  # fmt: skip
        assert code == 2, err
        assert err.splitlines() == [
            "evenergy-async: error: budget_reserve 40 is not below the limit of token me, 40 requests per "
            "window: it could never send: lower --budget-reserve"
        ]
        assert sim.stats.requests == 2  # the CLI's check of the token, then the first listing page


async def test_a_rejected_token_among_good_ones_does_not_stop_their_harvest(cli_sim: Simulator, tmp_path: Path) -> None:
    """EVENERGY_TOKEN with one token the API refuses (a user who revoked access): the others are
    harvested, the run ends with exit code 4 naming the refused one. It used to stop before
    harvesting anything, every run, until the token was taken out."""
    code, out, err = await cli(
        "harvest", "--kinds", "status", "--out", str(tmp_path), "--json", "-q", "--base-url", str(cli_sim.base_url),
        env={"EVENERGY_TOKEN": f"alice={cli_sim.user_token(0)},gone=revoked-token,bob={cli_sim.user_token(1)}"},
    )  # fmt: skip
    assert code == 4, err
    assert err.splitlines() == [
        "evenergy-async: error: credentials rejected for token(s) gone: check EVENERGY_TOKEN or "
        "EVENERGY_CLIENT_ID/EVENERGY_CLIENT_SECRET; the rest of the run is saved"
    ]
    report = json.loads(out)
    assert [(f["token"], f["status"], f["credentials_rejected"]) for f in report["failures"]] == [("gone", 401, True)]
    got = [(r["vehicle_id"], r["url"]) for r in lines(tmp_path / "status_logs.jsonl")]
    vehicles = user_vehicles(cli_sim, 0) | user_vehicles(cli_sim, 1)
    assert {v for v, _ in got} == vehicles  # alice's and bob's, exactly once each record
    assert len(got) == len(set(got)) == sum(len(cli_sim.data.logs("status", v)) for v in vehicles)


async def test_client_credentials_from_env(cli_sim: Simulator, tmp_path: Path) -> None:
    code, out, err = await cli(
        "harvest",
        "--kinds",
        "error",
        "--out",
        str(tmp_path),
        "--quiet",
        "--json",
        "--base-url",
        str(cli_sim.base_url),
        env={"EVENERGY_CLIENT_ID": cli_sim.client_id, "EVENERGY_CLIENT_SECRET": cli_sim.client_secret},
    )
    assert code == 0, err
    assert json.loads(out)["records"]["error"] == 6 * 15  # an app token sees every vehicle
    assert cli_sim.client_secret not in out + err


async def test_demo_runs_end_to_end() -> None:
    code, out, err = await cli("demo", "--vehicles", "12", "--logs", "8", "--users", "2", "--quiet")
    assert code == 0, err
    assert "harvest complete" in out and "verified: ok" in out
    assert "records/s" in out and "requests/s" in out


def test_missing_credentials_is_a_usage_error_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("EVENERGY_TOKEN", "EVENERGY_CLIENT_ID", "EVENERGY_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    assert main(["harvest", "--out", str(tmp_path)]) == 2
    assert "no credentials" in capsys.readouterr().err
    monkeypatch.setenv("EVENERGY_CLIENT_ID", "app")
    assert main(["harvest", "--out", str(tmp_path)]) == 2
    assert "set both" in capsys.readouterr().err


def test_credentials_parsing_never_shows_secrets() -> None:
    creds = credentials_from_env({"EVENERGY_TOKEN": "tok-a, tok-b"})
    assert list(creds) == [token_label("tok-a"), token_label("tok-b")]
    assert all(label.startswith("tok-") and len(label) == 12 for label in creds)
    assert "tok-a" not in repr(creds) and "tok-a" not in "".join(creds)
    creds = credentials_from_env({"EVENERGY_CLIENT_ID": "app", "EVENERGY_CLIENT_SECRET": "s3cret"})
    assert "s3cret" not in repr(creds) and list(creds) == [token_label("app", "app")]


def test_token_labels_come_from_the_credentials_not_their_position() -> None:
    forward = credentials_from_env({"EVENERGY_TOKEN": "aaa,bbb"})
    backward = credentials_from_env({"EVENERGY_TOKEN": "bbb,aaa"})
    assert {label: c.token for label, c in forward.items()} == {label: c.token for label, c in backward.items()}
    named = credentials_from_env({"EVENERGY_TOKEN": "alice=aaa, bob=bbb=="})
    assert {label: c.token for label, c in named.items()} == {"alice": "aaa", "bob": "bbb=="}
    # base64 padding is not a label: RFC 6750 tokens have '=' only at the end
    padded = credentials_from_env({"EVENERGY_TOKEN": "abc=="})
    assert [c.token for c in padded.values()] == ["abc=="]
