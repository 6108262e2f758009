"""``CredentialsFile`` and ``harvest --credentials FILE``: JSON Lines read lazily, bad lines
named by number without their secrets, rotated refresh tokens journaled and folded back."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from evenergy_async import BearerToken, EvEnergyClient, Hooks, HttpEvent, RefreshToken
from evenergy_async._harvest import (
    CredentialsFile,
    CredentialsFileError,
    CredentialsInUseError,
    Harvester,
    LogKind,
    append_credentials,
)
from evenergy_async.simulator import FaultConfig, SimulatorConfig

from ..spec_oracle import validated_simulator
from .conftest import assert_exactly_once, expected_lines, harvested_lines, no_sleep

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-VALUE-never-printed-0123456789abcdef"


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


async def entries(path: Path, **kwargs: str) -> list[object]:
    return await entries_of(CredentialsFile(path, **kwargs))


async def entries_of(creds: CredentialsFile) -> list[object]:
    async with creds:
        return [e async for e in creds]


async def test_lines_become_labelled_credentials(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.jsonl",
        [
            "# the fleet",
            json.dumps({"access_token": "a1"}),
            "",
            json.dumps({"access_token": "a2", "label": "alice"}),
            json.dumps({"refresh_token": "r3"}),
            json.dumps({"refresh_token": "r4", "access_token": "a4", "expires_at": "2099-01-01T00:00:00Z"}),
            json.dumps({"refresh_token": "r5", "expires_at": None, "label": "bob"}),
        ],
    )
    got = await entries(path, client_id="app", client_secret="shh")
    labels = [e.label for e in got]  # type: ignore[attr-defined]
    creds = [e.credential for e in got]  # type: ignore[attr-defined]
    assert labels == ["line2", "alice", "line5", "line6", "bob"]
    assert creds[0] == BearerToken("a1") and creds[1] == BearerToken("a2")
    r3, r4 = creds[2], creds[3]
    assert isinstance(r3, RefreshToken) and r3.refresh_token == "r3" and r3.client_id == "app"
    assert r3.access_token is None and r3.expires_at is None and r3.on_refresh is not None
    assert isinstance(r4, RefreshToken) and r4.access_token == "a4" and r4.expires_at is not None
    assert "r3" not in repr(got) and "a1" not in repr(got)


async def test_the_file_is_read_lazily(tmp_path: Path) -> None:
    lines = [json.dumps({"access_token": f"t{i}"}) for i in range(5000)] + ["{broken"]
    path = write(tmp_path / "big.jsonl", lines)
    async with CredentialsFile(path) as creds:
        it = aiter(creds)
        first = await anext(it)
        assert first.label == "line1"
        assert creds.lines_read <= 1024  # a chunk, not the file
        with pytest.raises(CredentialsFileError, match="line 5001: not valid JSON"):
            async for _ in it:
                pass


BAD_LINES = [
    ("{" + f'"access_token": "{SECRET}"', "not valid JSON"),
    (json.dumps([SECRET]), "not a JSON object but an array"),
    (json.dumps({"acess_token": SECRET}), "unknown key(s): 'acess_token'"),
    (json.dumps({"access_token": "x", SECRET: "y"}), "1 not shown"),
    (json.dumps({"access_token": 12345}), "access_token must be a string, not a number"),
    (json.dumps({"access_token": "  "}), "access_token is empty"),
    (json.dumps({"label": "x"}), "needs an access_token or a refresh_token"),
    (json.dumps({"access_token": SECRET, "expires_at": "2099-01-01"}), "expires_at goes with a refresh_token"),
    (json.dumps({"refresh_token": SECRET, "expires_at": "soon"}), "expires_at is not an RFC 3339 time"),
    (json.dumps({"access_token": SECRET, "label": "first"}), "label 'first' is already used on line 2"),
    (json.dumps({"access_token": SECRET, "label": "two\nlines"}), "label holds control characters"),
    (json.dumps({"access_token": SECRET, "label": "red\u001b[31m"}), "label holds control characters"),
    (json.dumps({"access_token": "a"}), "repeats a token of line 2: give each token once"),
    (json.dumps({"refresh_token": "a", "label": "x"}), "repeats a token of line 2"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
async def test_a_bad_line_is_named_by_number_without_its_secret(tmp_path: Path, line: str, reason: str) -> None:
    path = write(tmp_path / "c.jsonl", ["# ok so far", json.dumps({"access_token": "a", "label": "first"}), line])
    with pytest.raises(CredentialsFileError) as info:
        await entries(path, client_id="app")
    message = str(info.value)
    assert info.value.line == 3 and "line 3" in message and reason in message
    assert SECRET not in message


async def test_a_refresh_token_on_two_lines_is_refused_at_the_second(tmp_path: Path) -> None:
    """One refresh token cannot serve two lines: the first refresh kills it for the other, which
    would then fail in every later run. One line holding one token twice is fine."""
    path = write(
        tmp_path / "c.jsonl",
        [
            json.dumps({"refresh_token": SECRET, "label": "alice"}),
            json.dumps({"refresh_token": "r2", "access_token": "r2", "label": "same-in-one-line"}),
            "# a copy of alice's line under another name:",
            json.dumps({"refresh_token": SECRET, "label": "alice-again"}),
        ],
    )
    got = []
    with pytest.raises(CredentialsFileError) as info:
        async with CredentialsFile(path, client_id="app") as creds:
            async for entry in creds:
                got.append(entry.label)
    assert got == ["alice", "same-in-one-line"]
    assert str(info.value).endswith("line 4: repeats a token of line 1: give each token once")
    assert SECRET not in str(info.value) + repr(info.value)


async def test_a_line_too_long_to_be_a_credential_is_refused_unread(tmp_path: Path) -> None:
    """A file without line ends (a binary, /dev/zero) is not read into memory whole."""
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"access_token": "a"}) + "\n" + "x" * 200_000)
    got = []
    with pytest.raises(CredentialsFileError, match="line 2: longer than 65,536 characters") as info:
        async with CredentialsFile(path) as creds:
            async for entry in creds:
                got.append(entry)
    assert len(got) == 1 and "xxx" not in str(info.value)


async def test_a_refresh_token_needs_the_client_id(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", [json.dumps({"refresh_token": SECRET})])
    with pytest.raises(CredentialsFileError, match="line 1: a refresh_token needs the app's client id") as info:
        await entries(path)
    assert SECRET not in str(info.value)


async def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CredentialsFileError, match="no such file"):
        await entries(tmp_path / "nope.jsonl")


async def test_rotations_are_journaled_in_groups_and_folded_into_the_file(tmp_path: Path) -> None:
    groups: list[int] = []

    class Counting(CredentialsFile):
        def _after_journal_sync(self) -> None:
            groups.append(1)

    users = 30
    config = SimulatorConfig(seed=4, users=users, vehicles=users, logs_per_kind=3)
    async with validated_simulator(config) as sim:
        path = write(
            tmp_path / "fleet.jsonl",
            [json.dumps({"refresh_token": sim.issue_token(sim.user_id(i))["refresh_token"]}) for i in range(users)],
        )
        os.chmod(path, 0o600)
        async with (
            Counting(path, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
            EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
            Harvester(client, credentials=creds, kinds=[LogKind.STATUS], concurrency=users) as h,
        ):
            report = await h.run(tmp_path / "out")
            assert (tmp_path / "fleet.jsonl.rotations").exists()  # until the file is closed
        assert report.complete and report.http_requests == 3 * users  # refresh, list, one page each
        assert 1 <= len(groups) < users  # concurrent refreshes shared fsyncs
        assert not (tmp_path / "fleet.jsonl.rotations").exists()
        assert os.stat(path).st_mode & 0o777 == 0o600  # the rewrite keeps the file's mode
        live = set(sim._state.tokens.refresh)
        stored = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(stored) == users and all(s["refresh_token"] in live for s in stored)
        assert all(s["access_token"] and s["expires_at"] for s in stored)
        # the next run starts from the stored pairs: no refresh needed, the access tokens work
        before = sim.stats.requests
        async with (
            CredentialsFile(path, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
            EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
            Harvester(client, credentials=creds, kinds=[LogKind.STATUS]) as h,
        ):
            again = await h.run(tmp_path / "out2")
        assert again.complete and sim.stats.requests - before == 2 * users


async def test_a_user_who_revoked_access_fails_alone(tmp_path: Path) -> None:
    """A fleet where two users revoked the app: one line holds only the dead refresh token
    (refused at the first refresh), the other also the access token the revocation killed (401,
    then the refresh refused). Those two tokens are reported; every other user is harvested;
    with new authorizations on their lines, the next run completes exactly once."""
    users = 4
    async with validated_simulator(SimulatorConfig(seed=9, users=users, vehicles=2 * users, logs_per_kind=5)) as sim:
        grants = [sim.issue_token(sim.user_id(i)) for i in range(users)]
        lines = [json.dumps({"refresh_token": g["refresh_token"], "label": f"u{i}"}) for i, g in enumerate(grants)]
        lines[2] = json.dumps({"refresh_token": grants[2]["refresh_token"], "access_token": grants[2]["access_token"],
                               "label": "u2"})  # fmt: skip
        path = write(tmp_path / "fleet.jsonl", lines)
        async with EvEnergyClient(base_url=sim.base_url) as client:
            for i in (1, 2):  # what the app's "disconnect" button does
                await client.oauth.revoke(grants[i]["refresh_token"], client_id=sim.client_id,
                                          client_secret=sim.client_secret)  # fmt: skip
        out = tmp_path / "out"

        async def harvest() -> object:
            async with (
                CredentialsFile(path, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
                EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
                Harvester(client, credentials=creds, kinds=[LogKind.STATUS], concurrency=4, sleep=no_sleep,
                          state=tmp_path / "state.sqlite") as h,  # fmt: skip
            ):
                report = await h.run(out)
                return report, client.stats.token_requests

        report, token_requests = await harvest()
        failed = {f.token: (f.error, f.status, f.vehicle_id, f.credentials_rejected) for f in report.failures}  # type: ignore[attr-defined]
        assert failed == {"u1": ("AuthError", 400, None, True), "u2": ("AuthError", 400, None, True)}
        assert token_requests == users  # one refresh each: a refused credential is not asked again
        kept = [v["id"] for i in (0, 3) for v in sim.data.vehicles_of(sim.user_id(i))]
        assert_exactly_once(harvested_lines(out, LogKind.STATUS), expected_lines(sim, LogKind.STATUS, kept))

        # the two users authorize the app again: their new grants go on their lines
        stored = [json.loads(line) for line in path.read_text().splitlines()]
        for i in (1, 2):
            stored[i] = {"refresh_token": sim.issue_token(sim.user_id(i))["refresh_token"], "label": f"u{i}"}
        write(path, [json.dumps(entry) for entry in stored])
        again, _ = await harvest()
        assert not again.failures  # type: ignore[attr-defined]
        assert_exactly_once(harvested_lines(out, LogKind.STATUS), expected_lines(sim, LogKind.STATUS))


async def test_a_user_who_revokes_access_mid_run_loses_nothing(tmp_path: Path) -> None:
    """The user disconnects the app while the harvest is on their third page: the revocation
    kills the access token too, so the next page gets a 401, and the refresh is refused. That
    partition fails (credentials_rejected), its three pages stay committed, the other user is
    harvested; re-authorized, the next run takes it up where it stopped: exactly once."""
    config = SimulatorConfig(seed=13, users=2, vehicles=2, logs_per_kind=40)
    async with validated_simulator(config) as sim:
        grants = [sim.issue_token(sim.user_id(i)) for i in range(2)]
        path = write(
            tmp_path / "fleet.jsonl",
            [
                json.dumps({"refresh_token": g["refresh_token"], "access_token": g["access_token"], "label": f"u{i}"})
                for i, g in enumerate(grants)
            ],
        )
        (v1,) = [v["id"] for v in sim.data.vehicles_of(sim.user_id(1))]
        seen: list[str] = []

        async def harvest(hooks: Hooks | None) -> Any:
            async with (
                CredentialsFile(path, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
                EvEnergyClient(base_url=sim.base_url, sleep=no_sleep, hooks=hooks) as client,
                Harvester(client, credentials=creds, kinds=[LogKind.STATUS], page_size=5, per_token_concurrency=1,
                          commit_interval=0.0, state=tmp_path / "state.sqlite", sleep=no_sleep) as h,  # fmt: skip
            ):
                return await h.run(tmp_path / "out")

        async with EvEnergyClient(base_url=sim.base_url) as revoker:

            async def disconnect_on_third_page(event: HttpEvent) -> None:
                if event.status == 200 and event.url and f"/vehicles/{v1}/status_logs" in event.url:
                    seen.append(event.url)
                    if len(seen) == 3:  # what the app's "disconnect" button does
                        (live,) = [t for t, i in sim._state.tokens.refresh.items() if i.user_id == sim.user_id(1)]
                        await revoker.oauth.revoke(live, client_id=sim.client_id, client_secret=sim.client_secret)

            report = await harvest(Hooks(on_response=disconnect_on_third_page))
        assert [(f.token, f.vehicle_id, f.kind, f.credentials_rejected) for f in report.failures] == [
            ("u1", v1, LogKind.STATUS, True)
        ]
        assert report.records["status"] == 40 + 3 * 5  # u0's 40, u1's first three pages
        stored = [json.loads(line) for line in path.read_text().splitlines()]
        stored[1] = {"refresh_token": sim.issue_token(sim.user_id(1))["refresh_token"], "label": "u1"}
        write(path, [json.dumps(entry) for entry in stored])  # u1 authorizes the app again
        again = await harvest(None)
        assert again.complete and again.records["status"] == 40 - 3 * 5
        assert_exactly_once(harvested_lines(tmp_path / "out", LogKind.STATUS), expected_lines(sim, LogKind.STATUS))


async def test_a_failing_token_endpoint_is_retried_not_taken_for_a_refusal(tmp_path: Path) -> None:
    """503s from the token endpoint are the endpoint's failure, not a refused credential: the
    harvester retries them as a 5xx, and the run completes."""
    users = 3
    async with validated_simulator(SimulatorConfig(seed=10, users=users, vehicles=users, logs_per_kind=4)) as sim:
        path = write(
            tmp_path / "fleet.jsonl",
            [json.dumps({"refresh_token": sim.issue_token(sim.user_id(i))["refresh_token"]}) for i in range(users)],
        )
        sim.set_faults(FaultConfig(rate=1.0, kinds={"http_503": 1.0}, paths={"token"}, max_faults=2))
        async with (
            CredentialsFile(path, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
            EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
            Harvester(client, credentials=creds, kinds=[LogKind.STATUS], concurrency=1, sleep=no_sleep) as h,
        ):
            report = await h.run(tmp_path / "out")
        assert report.complete and not report.failures
        assert report.retry_reasons.get("harvester:token-503") == 2
        assert_exactly_once(harvested_lines(tmp_path / "out", LogKind.STATUS), expected_lines(sim, LogKind.STATUS))


async def test_a_crashed_runs_journal_wins_over_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.jsonl",
        [json.dumps({"refresh_token": "old1", "label": "a"}), "# keep me", json.dumps({"refresh_token": "old2"})],
    )
    journal = [
        {"label": "a", "refresh_token": "new1", "access_token": "x1", "expires_at": None},
        {"label": "line3", "refresh_token": "new2", "access_token": "x2", "expires_at": "2099-01-01T00:00:00+00:00"},
        {"label": "a", "refresh_token": "newer1", "access_token": "y1", "expires_at": None},
    ]
    text = "".join(json.dumps(j) + "\n" for j in journal) + '{"label": "a", "refresh_tok'  # torn last line
    (tmp_path / "c.jsonl.rotations").write_text(text)
    got = await entries(path, client_id="app")
    creds = [e.credential for e in got]  # type: ignore[attr-defined]
    assert [c.refresh_token for c in creds] == ["newer1", "new2"]
    assert [c.access_token for c in creds] == ["y1", "x2"]
    assert path.read_text().splitlines()[1] == "# keep me"
    assert not (tmp_path / "c.jsonl.rotations").exists()


async def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path: Path) -> None:
    """A file saved by Notepad or PowerShell 5 starts with a UTF-8 byte order mark: line 1 is
    read without it, and a rotation of line 1 is folded in (the mark is then dropped)."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"refresh_token": "old1", "label": "a"}).encode() + b"\r\n# b\r\n")
    (tmp_path / "c.jsonl.rotations").write_text(json.dumps({"label": "a", "refresh_token": "new1"}) + "\n")
    got = await entries(path, client_id="app")
    assert [(e.label, e.credential.refresh_token) for e in got] == [("a", "new1")]  # type: ignore[attr-defined]
    assert path.read_bytes() == b'{"refresh_token": "new1", "label": "a"}\n# b\n'


async def test_a_comment_in_another_encoding_is_kept_byte_for_byte(tmp_path: Path) -> None:
    """The file is read as UTF-8, but a comment that is not (say Latin-1) is still a comment:
    skipped when read, and written back unchanged when the rotations are folded in."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"refresh_token": "old1", "label": "a"}\n# Andr\xe9\'s tokens\n')
    rotation = {"label": "a", "refresh_token": "new1", "access_token": "x1", "expires_at": None}
    (tmp_path / "c.jsonl.rotations").write_text(json.dumps(rotation) + "\n")
    got = await entries(path, client_id="app")
    assert [e.credential.refresh_token for e in got] == ["new1"]  # type: ignore[attr-defined]
    assert path.read_bytes().split(b"\n")[1] == b"# Andr\xe9's tokens"
    assert not (tmp_path / "c.jsonl.rotations").exists()


async def test_one_harvest_at_a_time_holds_the_file(tmp_path: Path) -> None:
    """Two harvests refreshing the same tokens would log each other out, and their folds would
    overwrite each other's rotations: a second open is refused, in this process or another,
    until the first closes or dies (the kernel drops a dead process's lock)."""
    path = write(tmp_path / "c.jsonl", [json.dumps({"access_token": "a"})])
    async with CredentialsFile(path) as first:
        with pytest.raises(CredentialsInUseError, match="in use by another harvest"):
            async with CredentialsFile(path):
                pass
        assert len([e async for e in first]) == 1  # the first is unaffected
    async with CredentialsFile(path) as again:  # released at close
        assert len([e async for e in again]) == 1
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import asyncio, sys\n"
        "from evenergy_async._harvest import CredentialsFile\n"
        "async def main():\n"
        "    async with CredentialsFile(sys.argv[1]):\n"
        "        print('open', flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n",
        str(path),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"open\n"
    with pytest.raises(CredentialsInUseError):
        async with CredentialsFile(path):
            pass
    holder.kill()
    await holder.wait()
    async with CredentialsFile(path) as after_kill:
        assert len([e async for e in after_kill]) == 1


# -- the CLI -------------------------------------------------------------------------------


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "evenergy_async",
        *args,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_cli_harvests_a_credentials_file_exactly_once(tmp_path: Path) -> None:
    users = 12
    async with validated_simulator(SimulatorConfig(seed=8, users=users, vehicles=users, logs_per_kind=7)) as sim:
        lines = [json.dumps({"access_token": sim.user_token(i), "label": f"bearer{i}"}) for i in range(users // 2)]
        lines += [
            json.dumps({"refresh_token": sim.issue_token(sim.user_id(i))["refresh_token"]})
            for i in range(users // 2, users)
        ]
        path = write(tmp_path / "fleet.jsonl", lines)
        env = {"EVENERGY_CLIENT_ID": sim.client_id, "EVENERGY_CLIENT_SECRET": sim.client_secret, "EVENERGY_TOKEN": ""}
        out = tmp_path / "out"
        code, stdout, stderr = await cli(
            "harvest", "--credentials", str(path), "--out", str(out), "--base-url", str(sim.base_url),
            "--kinds", "status,command", "--page-size", "3", "--concurrency", "4", "--json", "-q", env=env,
        )  # fmt: skip
        assert code == 0, stderr
        report = json.loads(stdout)
        assert set(report["tokens"]) == {f"bearer{i}" for i in range(users // 2)} | {
            f"line{i + 1}" for i in range(users // 2, users)
        }
        for kind in (LogKind.STATUS, LogKind.COMMAND):
            assert_exactly_once(harvested_lines(out, kind), expected_lines(sim, kind))
        live = set(sim._state.tokens.refresh)
        for line in path.read_text().splitlines():
            data = json.loads(line)
            assert "refresh_token" not in data or data["refresh_token"] in live
        for secret in [sim.user_token(0), sim.client_secret]:
            assert secret not in stdout + stderr


async def test_cli_users_who_revoked_access_exit_4_after_the_rest_is_harvested(tmp_path: Path) -> None:
    """Seven of nine users revoked the app: exit code 4, one line naming five of them and the
    file (the report names all seven), and every other user's records harvested."""
    users, revoked = 9, range(1, 8)
    async with validated_simulator(SimulatorConfig(seed=11, users=users, vehicles=users, logs_per_kind=4)) as sim:
        grants = [sim.issue_token(sim.user_id(i)) for i in range(users)]
        path = write(
            tmp_path / "fleet.jsonl",
            [json.dumps({"refresh_token": g["refresh_token"], "label": f"u{i}"}) for i, g in enumerate(grants)],
        )
        async with EvEnergyClient(base_url=sim.base_url) as client:
            for i in revoked:
                await client.oauth.revoke(grants[i]["refresh_token"], client_id=sim.client_id,
                                          client_secret=sim.client_secret)  # fmt: skip
        env = {"EVENERGY_CLIENT_ID": sim.client_id, "EVENERGY_CLIENT_SECRET": sim.client_secret, "EVENERGY_TOKEN": ""}
        out = tmp_path / "out"
        # the forecast shows them and exits 4 too: a run would fail them alike
        code, stdout, stderr = await cli(
            "harvest", "--credentials", str(path), "--out", str(out), "--base-url", str(sim.base_url),
            "--kinds", "status", "--plan", env=env,
        )  # fmt: skip
        assert code == 4, stderr
        failed = [line.split(":")[0].strip() for line in stdout.splitlines() if "LISTING FAILED: AuthError [400]" in line]
        assert failed == [f"token u{i}" for i in revoked]
        assert stderr.splitlines() == [
            f"evenergy-async: error: credentials rejected for token(s) u1, u2, u3, u4, u5 and 2 more (see the "
            f"report): check their lines in {path} (a user who revoked access must authorize the app again)"
        ]
        code, stdout, stderr = await cli(
            "harvest", "--credentials", str(path), "--out", str(out), "--base-url", str(sim.base_url),
            "--kinds", "status", "--json", "-q", env=env,
        )  # fmt: skip
        assert code == 4, stderr
        assert stderr.splitlines() == [
            f"evenergy-async: error: credentials rejected for token(s) u1, u2, u3, u4, u5 and 2 more (see the "
            f"report): check their lines in {path} (a user who revoked access must authorize the app again); "
            "the rest of the run is saved"
        ]
        report = json.loads(stdout)
        assert {f["token"] for f in report["failures"]} == {f"u{i}" for i in revoked}
        assert all(f["credentials_rejected"] and f["error"] == "AuthError" for f in report["failures"])
        kept = [v["id"] for i in (0, 8) for v in sim.data.vehicles_of(sim.user_id(i))]
        assert_exactly_once(harvested_lines(out, LogKind.STATUS), expected_lines(sim, LogKind.STATUS, kept))
        assert all(g["refresh_token"] not in stdout + stderr for g in grants)


async def test_cli_bad_credentials_line_is_a_usage_error_without_the_secret(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.jsonl", [json.dumps({"access_token": "fine"}), json.dumps({"acces_token": SECRET})])
    code, stdout, stderr = await cli(
        "harvest", "--credentials", str(path), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v2", "-q"
    )
    assert code == 2
    assert "line 2" in stderr and "unknown key(s): 'acces_token'" in stderr
    assert SECRET not in stdout + stderr and "Traceback" not in stderr
    code, _, stderr = await cli("harvest", "--credentials", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path))
    assert code == 2 and "no such file" in stderr


async def test_cli_second_harvest_on_the_same_credentials_stops_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "fleet.jsonl", [json.dumps({"access_token": "fine"})])
    async with CredentialsFile(path):  # another harvest has it open
        code, _, stderr = await cli(
            "harvest", "--credentials", str(path), "--out", str(tmp_path / "out"), "--base-url", "http://127.0.0.1:9/v2", "-q"
        )
    assert code == 6, stderr
    assert stderr.splitlines() == [
        f"evenergy-async: error: credentials file {path}: in use by another harvest (each refresh would kill the "
        "token the other holds): wait for it to finish, or give each harvest its own credentials"
    ]


async def test_shard_does_not_split_a_credentials_file(tmp_path: Path) -> None:
    """shard= splits vehicles; with a CredentialsFile every shard would refresh every token, and
    each refresh kills the copies the other shards hold (the CLI refuses --shard the same way)."""
    path = write(tmp_path / "fleet.jsonl", [json.dumps({"refresh_token": SECRET})])
    async with CredentialsFile(path, client_id="app") as creds, EvEnergyClient(base_url="http://127.0.0.1:9/v2") as client:
        with pytest.raises(ValueError, match="shard= does not split a CredentialsFile"):
            Harvester(client, credentials=creds, shard=(0, 2))
        async with Harvester(client, credentials=creds, shard=None):
            pass


@pytest.mark.parametrize("appender", ["append_credentials", "flock(1) in a shell"])
async def test_a_user_added_while_the_rotations_are_folded_in_is_kept(tmp_path: Path, appender: str) -> None:
    """An onboarding job adds a user while a harvest folds its rotations into the file (a copy,
    then a rename over the original). The fold holds an exclusive lock on the file from its
    first read to the rename, so the new line waits and lands in the new file; without it, the
    line went into the file the rename threw away."""
    path = write(tmp_path / "c.jsonl", [json.dumps({"refresh_token": "old1", "label": "a"})])
    (tmp_path / "c.jsonl.rotations").write_text(json.dumps({"label": "a", "refresh_token": "new1"}) + "\n")
    added = json.dumps({"refresh_token": "r-new-user", "label": "b"})
    (tmp_path / "extra.jsonl").write_text(added + "\n")
    done: list[object] = []

    def append() -> None:
        if appender == "append_credentials":
            done.append(append_credentials(path, [added]))
        else:
            shell = f"cat {tmp_path / 'extra.jsonl'} >> {path}"
            done.append(subprocess.run(["flock", str(path), "-c", shell], check=True, timeout=30).returncode)

    threads: list[threading.Thread] = []

    class Racing(CredentialsFile):
        def _before_rename(self) -> None:
            threads.append(threading.Thread(target=append))
            threads[0].start()
            time.sleep(0.3)  # time enough for the append to land, were the file not locked

    got = await entries_of(Racing(path, client_id="app"))
    threads[0].join(30)
    assert done in ([1], [0])
    # read by this run if it landed before the reads that follow the fold, else by the next
    assert [e.label for e in got] in (["a"], ["a", "b"])  # type: ignore[attr-defined]
    assert [json.loads(line) for line in path.read_text().splitlines()] == [
        {"refresh_token": "new1", "label": "a"},
        {"refresh_token": "r-new-user", "label": "b"},
    ]


async def test_a_line_being_added_is_never_read_half_written(tmp_path: Path) -> None:
    """The harvest reads the file lazily while users may be added: a line written in two parts
    under the writer's lock is read whole (the reader waits for the lock), never as bad JSON."""
    path = write(tmp_path / "c.jsonl", [json.dumps({"access_token": "a1", "label": "a"})])
    line = json.dumps({"access_token": "b2", "label": "b"}).encode() + b"\n"
    half_written = threading.Event()

    def slow_writer() -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line[:20])
            half_written.set()
            time.sleep(0.3)
            os.write(fd, line[20:])
        finally:
            os.close(fd)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert half_written.wait(10)
    got = await entries(path)
    writer.join(10)
    assert [e.label for e in got] == ["a", "b"]  # type: ignore[attr-defined]


def test_append_credentials_checks_every_line_before_writing_any(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"access_token": "a1"}))  # no line end after the last line
    with pytest.raises(CredentialsFileError, match=r"line 2: unknown key\(s\): 'acces_token'") as info:
        append_credentials(path, [json.dumps({"access_token": "b2"}), json.dumps({"acces_token": SECRET})])
    assert SECRET not in str(info.value)
    with pytest.raises(CredentialsFileError, match="line 1: holds a line break"):
        append_credentials(path, ['{"access_token": "b2"}\n{"access_token": "c3"}'])
    assert path.read_text() == json.dumps({"access_token": "a1"})  # nothing written
    added = append_credentials(path, ["# added by onboarding", json.dumps({"access_token": "b2"}) + "\n"])
    assert added == 1
    with pytest.raises(TypeError, match="not one string"):  # its characters are no lines
        append_credentials(path, json.dumps({"access_token": "b2"}))
    with pytest.raises(TypeError, match="line 1 must be a string, not dict"):
        append_credentials(path, [{"access_token": "b2"}])  # type: ignore[list-item]
    with pytest.raises(CredentialsFileError, match=r"missing\.jsonl: no such file"):
        append_credentials(tmp_path / "missing.jsonl", [json.dumps({"access_token": "x"})])
    assert path.read_text().splitlines() == [
        json.dumps({"access_token": "a1"}), "# added by onboarding", json.dumps({"access_token": "b2"})
    ]


async def test_a_credentials_file_reached_by_a_symbolic_link_is_rewritten_where_it_lives(tmp_path: Path) -> None:
    """``fleet.jsonl`` a link to the real file: the fold used to replace the link with a regular
    file, so the real file kept a refresh token the rotation had killed (and what the onboarding
    job appended to it was never read again). The fold now rewrites the real file, the link
    stays, and a harvest reaching it by another link finds it locked."""
    (tmp_path / "secure").mkdir()
    real = tmp_path / "secure" / "fleet.jsonl"
    async with validated_simulator(SimulatorConfig(seed=14, users=1, vehicles=1, logs_per_kind=3)) as sim:
        write(real, [json.dumps({"refresh_token": sim.issue_token(sim.user_id(0))["refresh_token"], "label": "u0"})])
        link, other = tmp_path / "fleet.jsonl", tmp_path / "other-link.jsonl"
        link.symlink_to(real)
        other.symlink_to(real)
        async with (
            CredentialsFile(link, client_id=sim.client_id, client_secret=sim.client_secret) as creds,
            EvEnergyClient(base_url=sim.base_url, sleep=no_sleep) as client,
            Harvester(client, credentials=creds, kinds=[LogKind.STATUS]) as h,
        ):
            with pytest.raises(CredentialsInUseError):
                async with CredentialsFile(other, client_id=sim.client_id):
                    pass
            report = await h.run(tmp_path / "out")
        assert report.complete
        assert link.is_symlink() and link.resolve() == real.resolve()
        (stored,) = [json.loads(line) for line in real.read_text().splitlines()]
        assert stored["refresh_token"] in sim._state.tokens.refresh  # the live one, in the real file
        assert sorted(p.name for p in (tmp_path / "secure").iterdir()) == ["fleet.jsonl", "fleet.jsonl.lock"]
