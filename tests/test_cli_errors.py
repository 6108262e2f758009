"""Every bad input and failing environment gives one line on stderr, its documented exit code,
and never a traceback. Each case is a real ``python -m evenergy_async`` subprocess against the
simulator (its own process, started once for the module) or against nothing at all; the cases
run in parallel and each is then checked as its own test."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import sqlite3
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .cli_support import PY, Server, clean_env, simulator_process, start_simulator


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with simulator_process() as srv:
        yield srv


@pytest.fixture(scope="module")
def tls_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An https server whose certificate is self-signed (not trusted)."""
    tmp = tmp_path_factory.mktemp("tls")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True,
        capture_output=True,
    )
    httpd = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/v2"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Case:
    argv: list[str]
    code: int
    says: str | list[str]
    env: dict[str, str] = field(default_factory=dict)
    not_says: str | None = None


@dataclass
class Result:
    code: int
    out: str
    err: str
    seconds: float


def run_cli(argv: list[str], env: dict[str, str]) -> Result:
    t0 = time.monotonic()
    proc = subprocess.run(
        [PY, "-m", "evenergy_async", *argv], env=clean_env(env), capture_output=True, text=True, timeout=120
    )
    return Result(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - t0)


def cases(srv: Server, tls_url: str, tmp: Path) -> dict[str, Case]:
    token = {"EVENERGY_TOKEN": srv.tokens[0]}
    base = ["--base-url", srv.base_url]

    def harvest(name: str, *more: str) -> list[str]:
        return ["harvest", "--out", str(tmp / name), "--quiet", *base, *more]

    (tmp / "a-file").write_text("not a directory\n")
    (tmp / "text-state").write_text("this is not SQLite\n")
    corrupt = tmp / "corrupt.sqlite"
    with sqlite3.connect(corrupt) as db:
        db.execute("CREATE TABLE t (x)")
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 50)
    data = bytearray(corrupt.read_bytes())
    data[100:4000] = os.urandom(3900)  # the schema page scrambled, the header intact
    corrupt.write_bytes(bytes(data))
    full = tmp / "disk-full"
    full.mkdir()
    (full / "status_logs.jsonl").symlink_to("/dev/full")
    (tmp / "bad-ids").write_text("# vehicles\nvhcl01HRFF3SEVSCRAV9B3CHVDFN0H\nnot-a-vehicle\n")
    (tmp / "foreign-id").mkdir()
    (tmp / "foreign-id" / ".evenergy-sink-id").write_bytes(b"SQLite format 3\x00\xf8\x01")
    (tmp / "latin1-ids").write_bytes(b"# V\xe9hicules\nvhcl01HRFF3SEVSCRAV9B3CHVDFN0H\nvhcl01HRFF3SEVSCRAV9B3CHVDFN0\xc9\n")
    (tmp / "latin1-credentials.jsonl").write_bytes(b'{"access_token": "abc", "label": "Andr\xe9"}\n')
    port = closed_port()
    usage = 2
    return {
        # -- credentials in the environment
        "no-credentials": Case(harvest("o"), usage, "no credentials"),
        "empty-token": Case(harvest("o"), usage, "EVENERGY_TOKEN is empty", env={"EVENERGY_TOKEN": ""}),
        "token-commas-only": Case(harvest("o"), usage, "holds no token", env={"EVENERGY_TOKEN": " , ,, "}),
        "token-with-space": Case(harvest("o"), usage, "spaces or control", env={"EVENERGY_TOKEN": "abc def"}),
        "token-with-newline": Case(harvest("o"), usage, "spaces or control", env={"EVENERGY_TOKEN": "abc\ndef"}),
        "token-bad-label": Case(harvest("o"), usage, "label", env={"EVENERGY_TOKEN": "my label=abc"}),
        "token-twice": Case(harvest("o"), usage, "repeats", env={"EVENERGY_TOKEN": "abc,abc"}),
        "label-twice": Case(harvest("o"), usage, "used twice", env={"EVENERGY_TOKEN": "a=abc,a=def"}),
        "client-id-only": Case(harvest("o"), usage, "set both", env={"EVENERGY_CLIENT_ID": "app"}),
        # -- options
        "since-garbage": Case(harvest("o", "--since", "yesterday"), usage, "not a date", env=token),
        "since-bad-month": Case(harvest("o", "--since", "2026-13-01"), usage, "not a date", env=token),
        "since-empty": Case(harvest("o", "--since", ""), usage, "not a date", env=token),
        "since-overflow": Case(harvest("o", "--since", "9999-12-31T23:59:59-12:00"), usage, "not a date", env=token),
        "since-future": Case(harvest("o", "--since", "2999-01-01"), usage, "in the future", env=token),
        "until-before-since": Case(
            harvest("o", "--since", "2026-11-10", "--until", "2026-11-01"), usage, "is before --since", env=token
        ),
        "shard-3/2": Case(harvest("o", "--shard", "3/2"), usage, "0 <= I < N", env=token),
        "shard-0/0": Case(harvest("o", "--shard", "0/0"), usage, "0 <= I < N", env=token),
        "shard-garbage": Case(harvest("o", "--shard", "half"), usage, "0 <= I < N", env=token),
        "shard-negative": Case(harvest("o", "--shard=-1/2"), usage, "0 <= I < N", env=token),
        "concurrency-0": Case(harvest("o", "--concurrency", "0"), usage, "must be 1..1000", env=token),
        "concurrency-negative": Case(harvest("o", "--concurrency", "-1"), usage, "must be 1..1000", env=token),
        "concurrency-huge": Case(harvest("o", "--concurrency", "100000"), usage, "must be 1..1000", env=token),
        "kinds-unknown": Case(harvest("o", "--kinds", "status,gps"), usage, "unknown log kind", env=token),
        "kinds-empty": Case(harvest("o", "--kinds", ","), usage, "no log kinds", env=token),
        "page-size-101": Case(
            harvest("o", "--page-size", "101"), usage, "must be 1..100, got 101", env=token, not_says="choose"
        ),
        "page-size-text": Case(harvest("o", "--page-size", "lots"), usage, "not an integer", env=token),
        "progress-interval-0": Case(harvest("o", "--progress-interval", "0"), usage, "at least 0.1", env=token),
        "progress-interval-negative": Case(
            harvest("o", "--progress-interval=-1"), usage, "at least 0.1", env=token
        ),
        "progress-interval-nan": Case(harvest("o", "--progress-interval", "nan"), usage, "finite", env=token),
        "overlap-inf": Case(harvest("o", "--overlap", "inf"), usage, "finite", env=token),
        "unknown-option": Case(harvest("o", "--colour"), usage, "unrecognized arguments", env=token),
        "missing-out": Case(["harvest", *base], usage, "--out", env=token),
        "empty-out": Case(harvest("o", "--out", ""), usage, "--out is empty", env=token),
        "empty-state": Case(harvest("o", "--state", " "), usage, "--state is empty", env=token),
        "credentials-file-is-a-directory": Case(
            harvest("o", "--credentials", str(tmp)), usage, ["credentials file", "is a directory"], env=token
        ),
        "shard-with-credentials-file": Case(
            harvest("o", "--credentials", str(tmp / "latin1-credentials.jsonl"), "--shard", "0/2"),
            usage,
            ["--shard does not split a --credentials file", "its own file of users"],
        ),
        "no-command": Case([], usage, "give a command"),
        "unknown-command": Case(["harvst"], usage, "invalid choice"),
        "demo-negative-logs": Case(["demo", "--logs", "-1"], usage, "must be 0..", env=token),
        "vehicle-not-found": Case(
            harvest("o-nf", "--quiet", "--vehicle", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"),
            1,
            "1 vehicle(s) failed",
            env=token,
        ),
        "vehicle-invalid": Case(harvest("o", "--vehicle", "nope"), usage, "'nope' is not a vehicle ID", env=token),
        "vehicles-file-missing": Case(
            harvest("o", "--vehicles-file", str(tmp / "missing.txt")), usage, "cannot read --vehicles-file", env=token
        ),
        "vehicles-file-bad-line": Case(
            harvest("o-ids", "--vehicles-file", str(tmp / "bad-ids")), usage, "line 3", env=token
        ),
        "vehicles-file-not-utf8": Case(
            harvest("o-ids2", "--vehicles-file", str(tmp / "latin1-ids")), usage, ["line 3", "not UTF-8 text"], env=token
        ),
        "vehicles-file-without-line-ends": Case(
            harvest("o-zero", "--vehicles-file", "/dev/zero"), usage, ["line 1", "longer than 4,096 characters"], env=token
        ),
        "credentials-file-without-line-ends": Case(
            harvest("o-zero2", "--credentials", "/dev/zero"), usage, ["line 1", "longer than 65,536 characters"]
        ),
        "credentials-file-not-utf8": Case(
            harvest("o-cred", "--credentials", str(tmp / "latin1-credentials.jsonl")),
            usage,
            ["latin1-credentials.jsonl: line 1", "not UTF-8 text"],
        ),
        "vehicle-with-two-tokens": Case(
            harvest("o", "--vehicle", "vhcl01HRFF3SEVSCRAV9B3CHVDFN0H"),
            usage,
            "single token",
            env={"EVENERGY_TOKEN": f"{srv.tokens[0]},{srv.tokens[1]}"},
        ),
        # -- the base URL
        "base-url-no-scheme": Case(
            ["harvest", "--out", str(tmp / "o"), "--base-url", "127.0.0.1:8080/v2"], usage, "http(s) URL", env=token
        ),
        "base-url-ftp": Case(["harvest", "--out", str(tmp / "o"), "--base-url", "ftp://x/v2"], usage, "http(s)", env=token),
        "base-url-plain-http-remote": Case(
            ["harvest", "--out", str(tmp / "o"), "--base-url", "http://api.example.com/v2"], usage, "https", env=token
        ),
        "base-url-env-no-v2": Case(
            ["harvest", "--out", str(tmp / "o"), "-q"],
            usage,
            f"did you mean {srv.base_url}?",
            env={**token, "EVENERGY_BASE_URL": srv.base_url.removesuffix("/v2")},
        ),
        "base-url-other-path": Case(
            ["harvest", "--out", str(tmp / "o"), "-q", "--base-url", srv.base_url.removesuffix("/v2") + "/api"],
            usage,
            ["404", "did you mean", "/api/v2?"],
            env=token,
        ),
        # -- credentials the API rejects
        "token-rejected": Case(
            harvest("o"), 4, "credentials rejected", env={"EVENERGY_TOKEN": "not-a-valid-token"}, not_says="INCOMPLETE"
        ),
        "one-of-two-tokens-rejected": Case(  # the other token's vehicles are harvested: exit 4 at the end
            harvest("o"),
            4,
            ["credentials rejected for token(s) bad: check EVENERGY_TOKEN", "the rest of the run is saved"],
            env={"EVENERGY_TOKEN": f"{srv.tokens[0]},bad=nope"},
        ),
        "client-secret-rejected": Case(
            harvest("o"),
            4,
            ["credentials rejected", "invalid_client"],
            env={"EVENERGY_CLIENT_ID": srv.client_id, "EVENERGY_CLIENT_SECRET": "wrong"},
        ),
        "client-id-rejected": Case(
            harvest("o"),
            4,
            "credentials rejected",
            env={"EVENERGY_CLIENT_ID": "nobody", "EVENERGY_CLIENT_SECRET": srv.client_secret},
        ),
        # -- the API unreachable
        "nothing-listening": Case(
            ["harvest", "--out", str(tmp / "o"), "--base-url", f"http://127.0.0.1:{port}/v2"],
            5,
            f"unreachable at 127.0.0.1:{port}",
            env=token,
        ),
        "tls-untrusted": Case(
            ["harvest", "--out", str(tmp / "o"), "--base-url", tls_url], 5, ["unreachable", "certificate"], env=token
        ),
        "https-to-http-server": Case(
            ["harvest", "--out", str(tmp / "o"), "--base-url", srv.base_url.replace("http://", "https://")],
            5,
            ["unreachable", "TLS handshake"],
            env=token,
        ),
        # -- local output and state
        "out-under-proc": Case(harvest("o", "--out", "/proc/nope/out"), 6, ["local file problem", "/proc/nope"], env=token),
        "out-is-a-file": Case(harvest("o", "--out", str(tmp / "a-file")), 6, "must be a directory", env=token),
        "state-is-a-directory": Case(harvest("o2", "--state", str(tmp)), 6, "is not usable", env=token),
        "state-is-text": Case(
            harvest("o3", "--state", str(tmp / "text-state")), 6, ["text-state is not usable", "not a database"], env=token
        ),
        "state-corrupt": Case(harvest("o4", "--state", str(corrupt)), 6, ["corrupt.sqlite is not usable"], env=token),
        "state-under-a-file": Case(
            harvest("o5", "--state", str(tmp / "a-file" / "state.sqlite")), 6, "", env=token
        ),
        "foreign-identity-file": Case(harvest("foreign-id"), 6, ["output problem", "identity file"], env=token),
        "state-is-an-output-file": Case(
            harvest("o6", "--state", str(tmp / "o6" / "status_logs.jsonl")), usage, "one of the output's own files", env=token
        ),
        "disk-full": Case(
            ["harvest", "--out", str(full), "--quiet", *base, "--kinds", "status"], 6, "No space left", env=token
        ),
    }


@pytest.fixture(scope="module")
def outcomes(server: Server, tls_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Case, Result]]:
    """Every case in one go: a driver imports the CLI once and forks a child process per case
    (see ``cli_fork.py``); a few run as ``python -m evenergy_async`` too (the real entry point)."""
    table = cases(server, tls_url, tmp_path_factory.mktemp("cli-cases"))
    payload = {name: {"argv": case.argv, "env": clean_env(case.env)} for name, case in table.items()}
    with ThreadPoolExecutor(max_workers=len(ENTRY_POINT_CASES)) as pool:
        direct = {name: pool.submit(run_cli, table[name].argv, table[name].env) for name in ENTRY_POINT_CASES}
        proc = subprocess.run(
            [PY, str(Path(__file__).with_name("cli_fork.py"))],
            input=json.dumps(payload),
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        forked = {name: Result(**r) for name, r in json.loads(proc.stdout).items()}
        for name, future in direct.items():
            forked[f"{name} (python -m)"] = future.result()
    return {name: (table[name.removesuffix(" (python -m)")], result) for name, result in forked.items()}


# these also run through the real entry point, `python -m evenergy_async`
ENTRY_POINT_CASES = ["no-credentials", "page-size-101", "token-rejected", "nothing-listening", "state-is-text"]

CASE_NAMES = [
    "no-credentials", "empty-token", "token-commas-only", "token-with-space", "token-with-newline", "token-bad-label",
    "token-twice", "label-twice", "client-id-only", "since-garbage", "since-bad-month", "since-empty",
    "since-overflow", "since-future", "until-before-since", "shard-3/2", "shard-0/0", "shard-garbage",
    "shard-negative", "concurrency-0", "concurrency-negative", "concurrency-huge", "kinds-unknown", "kinds-empty",
    "page-size-101", "page-size-text", "progress-interval-0", "progress-interval-negative", "progress-interval-nan",
    "overlap-inf", "unknown-option", "missing-out", "empty-out", "empty-state", "credentials-file-is-a-directory",
    "shard-with-credentials-file",
    "no-command", "unknown-command", "demo-negative-logs", "vehicle-not-found",
    "vehicle-invalid", "vehicles-file-missing", "vehicles-file-bad-line", "vehicles-file-not-utf8",
    "credentials-file-not-utf8", "vehicles-file-without-line-ends", "credentials-file-without-line-ends",
    "vehicle-with-two-tokens",
    "base-url-no-scheme", "base-url-ftp", "base-url-plain-http-remote", "base-url-env-no-v2", "base-url-other-path",
    "token-rejected", "one-of-two-tokens-rejected", "client-secret-rejected", "client-id-rejected",
    "nothing-listening", "tls-untrusted", "https-to-http-server", "out-under-proc", "out-is-a-file",
    "state-is-a-directory", "state-is-text", "state-corrupt", "state-under-a-file", "disk-full",
    "foreign-identity-file", "state-is-an-output-file",
]


CASE_NAMES += [f"{name} (python -m)" for name in ENTRY_POINT_CASES]


def test_every_case_is_listed(outcomes: dict[str, tuple[Case, Result]]) -> None:
    assert sorted(outcomes) == sorted(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gives_one_line_and_its_exit_code(name: str, outcomes: dict[str, tuple[Case, Result]]) -> None:
    case, result = outcomes[name]
    assert "Traceback" not in result.err + result.out
    assert result.code == case.code, result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err  # one line: what went wrong, what to do
    for needle in [case.says] if isinstance(case.says, str) else case.says:
        assert needle in lines[0]
    if case.not_says:
        assert case.not_says not in result.err + result.out
    assert lines[0].startswith("evenergy-async")
    for secret in (case.env.get("EVENERGY_TOKEN", "") or "").split(","):
        if len(secret) > 8:
            assert secret.split("=")[-1] not in result.err + result.out


def test_vehicle_ids_on_stdin_that_are_not_utf8(server: Server, tmp_path: Path) -> None:
    """Under a UTF-8 locale Python reads stdin strictly: bytes that are not UTF-8 still give a
    usage error naming their line, not an internal error."""
    proc = subprocess.run(
        [PY, "-m", "evenergy_async", "harvest", "--out", str(tmp_path), "--quiet", "--base-url", server.base_url,
         "--vehicles-file", "-"],
        input=b"vhcl01HRFF3SEVSCRAV9B3CHVDFN0H\nvhcl01HRFF3SEVSCRAV9B3CHVDFN0\xc9\n",
        env=clean_env({"EVENERGY_TOKEN": server.tokens[0], "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}),
        capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().splitlines() == ["evenergy-async: error: --vehicles-file - line 2: not UTF-8 text"]


def test_help_lists_the_exit_codes() -> None:
    result = run_cli(["harvest", "--help"], {})
    assert result.code == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "70", "130"):
        assert re.search(rf"^\s+{code}\s+\S", result.out, re.MULTILINE), code
    assert "credentials rejected" in result.out and "internal error, please report" in result.out
    top = run_cli(["--help"], {})
    assert "exit codes:" in top.out and "API unreachable" in top.out


def test_version() -> None:
    from evenergy_async import __version__

    result = run_cli(["--version"], {})
    assert result.code == 0 and result.out.strip() == f"evenergy-async {__version__}"


def _wrapped(code: str, *argv: str, env: dict[str, str] | None = None) -> Result:
    """The CLI's main() with a command made to fail in a way no input can provoke (a bug)."""
    script = (
        "import sys, evenergy_async._cli as cli\n"
        f"{code}\n"
        f"raise SystemExit(cli.main({list(argv)!r}))\n"
    )
    proc = subprocess.run([PY, "-c", script], env=clean_env(env), capture_output=True, text=True, timeout=60)
    return Result(proc.returncode, proc.stdout, proc.stderr, 0.0)


BUG = "async def boom(args):\n    {}['missing']\ncli.cmd_demo = boom"


def test_an_internal_error_is_one_line_and_code_70() -> None:
    result = _wrapped(BUG, "demo", "--quiet")
    assert result.code == 70
    assert "Traceback" not in result.err and len(result.err.splitlines()) == 1
    assert "internal error: KeyError" in result.err and "please report" in result.err and "--debug" in result.err


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(how: str) -> None:
    argv = ["demo", "--quiet", "--debug"] if how == "flag" else ["demo", "--quiet"]
    result = _wrapped(BUG, *argv, env={"EVENERGY_DEBUG": "1"} if how == "env" else None)
    assert result.code == 70
    assert "Traceback" in result.err and "KeyError" in result.err


def test_unexpected_exception_group_is_classified_by_its_leaves() -> None:
    code = (
        "async def boom(args):\n"
        "    raise ExceptionGroup('x', [ExceptionGroup('y', [OSError(28, 'No space left on device')])])\n"
        "cli.cmd_demo = boom"
    )
    result = _wrapped(code, "demo", "--quiet")
    assert result.code == 6 and "No space left on device" in result.err and "Traceback" not in result.err


def test_broken_pipe_on_stdout_exits_quietly(server: Server, tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [PY, "-m", "evenergy_async", "harvest", "--out", str(tmp_path), "--base-url", server.base_url, "--json"],
        env=clean_env({"EVENERGY_TOKEN": server.tokens[0]}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head -c 0`: the reader is gone before the report is printed
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _until_progress(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    seen = ""
    while " records " not in seen:
        line = proc.stderr.readline()
        assert line, seen
        seen += line
    return seen


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_interrupt_commits_the_state_and_the_rerun_is_exactly_once(
    tmp_path: Path, sig: signal.Signals, code: int, word: str
) -> None:
    # the demo verifies its output against the simulator's data: after an interrupted run,
    # the second run completes it with every record exactly once (the run lasts a few seconds:
    # the signal comes while it harvests)
    argv = [PY, "-m", "evenergy_async", "demo", "--vehicles", "30", "--logs", "600", "--latency", "0.02",
            "--out", str(tmp_path), "--progress-interval", "0.1", "--kinds", "status,location"]
    # Ctrl-C as a terminal sends it: a test runner started in the background by a
    # non-interactive shell ignores SIGINT, and its children would inherit that (a program
    # started that way is meant not to see Ctrl-C)
    proc = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    _until_progress(proc)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("evenergy-async:")]
    assert len(said) == 1 and word in said[0] and "run the same command again" in said[0]
    assert (tmp_path / "harvest-state.sqlite").exists()
    if sig != signal.SIGINT:
        return  # the same path as Ctrl-C: one resume check is enough
    again = subprocess.run([*argv[:-4], "--quiet", "--kinds", "status,location"], env=clean_env(),
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "verified: ok" in again.stdout


def test_api_gone_mid_run_stops_with_code_5(tmp_path: Path) -> None:
    """The server dies during the harvest: the run stops after --unreachable-after seconds of
    silence (not partition after partition), says where, and exits with 5."""
    proc, srv = start_simulator("--latency", "0.02", "--logs", "400", "--vehicles", "30")
    try:
        cli_proc = subprocess.Popen(
            [PY, "-m", "evenergy_async", "harvest", "--out", str(tmp_path), "--base-url", srv.base_url,
             "--unreachable-after", "1", "--progress-interval", "0.1", "--kinds", "status,location"],
            env=clean_env({"EVENERGY_TOKEN": srv.tokens[0]}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _until_progress(cli_proc)
    finally:
        proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    _, err = cli_proc.communicate(timeout=120)
    assert cli_proc.returncode == 5, err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("evenergy-async:")]
    address = srv.base_url.split("//")[1].split("/")[0]
    assert len(said) == 1 and "unreachable" in said[0] and address in said[0]
    assert (tmp_path / "harvest-state.sqlite").exists()


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_what_users_vary_between_runs_keeps_every_record_once_or_stops_with_code_6(
    server: Server, tmp_path: Path
) -> None:
    """Through the CLI, against the simulator process: --since lowered (a backfill, not "complete
    with 0 records"), an output given a state that did not write it (refused, not written again),
    and an output file deleted (code 6 naming it, not an internal error)."""
    env = {"EVENERGY_TOKEN": ",".join(server.tokens)}
    out, state = tmp_path / "a", tmp_path / "a" / "harvest-state.sqlite"

    def harvest(*more: str) -> Result:
        return run_cli(["harvest", "--out", str(out), "--quiet", "--base-url", server.base_url,
                        "--kinds", "status", *more], env)  # fmt: skip

    first = harvest("--since", "2026-11-10")
    assert first.code == 0, first.err
    late = len(_lines(out / "status_logs.jsonl"))
    lowered = harvest("--since", "2026-11-01")
    assert lowered.code == 0, lowered.err
    rows = [json.loads(line) for line in _lines(out / "status_logs.jsonl")]
    keys = {(r["vehicle_id"], r["url"]) for r in rows}
    fresh_out = tmp_path / "b"
    fresh = run_cli(["harvest", "--out", str(fresh_out), "--quiet", "--base-url", server.base_url,
                     "--kinds", "status", "--since", "2026-11-01"], env)  # fmt: skip
    assert fresh.code == 0, fresh.err
    want = {(r["vehicle_id"], r["url"]) for r in map(json.loads, _lines(fresh_out / "status_logs.jsonl"))}
    assert 0 < late < len(rows) and len(rows) == len(keys) and keys == want

    # the same output with a state that knows nothing of it: refused, nothing written
    other = harvest("--state", str(tmp_path / "other.sqlite"))
    assert other.code == 6, other.err
    said = [line for line in other.err.splitlines() if line.startswith("evenergy-async:")]
    assert len(said) == 1 and "has no record of" in said[0] and "a new --out" in said[0], other.err
    assert str(out) in said[0] and "other.sqlite" in said[0]
    assert len(_lines(out / "status_logs.jsonl")) == len(rows)
    # the default state file deleted: the same
    state.rename(tmp_path / "moved.sqlite")
    for suffix in ("-wal", "-shm"):
        (out / ("harvest-state.sqlite" + suffix)).unlink(missing_ok=True)
    gone = harvest()
    assert gone.code == 6 and "has no record of" in gone.err, gone.err
    (tmp_path / "moved.sqlite").rename(state)

    # the output moved (or mounted elsewhere) together with its state: still recognised
    moved = tmp_path / "elsewhere"
    out.rename(moved)
    again = run_cli(["harvest", "--out", str(moved), "--quiet", "--base-url", server.base_url,
                     "--kinds", "status"], env)  # fmt: skip
    assert again.code == 0, again.err
    assert len(_lines(moved / "status_logs.jsonl")) == len(rows)
    moved.rename(out)

    # an output file deleted: one line naming it, code 6
    (out / "status_logs.jsonl").unlink()
    missing = harvest()
    assert missing.code == 6, missing.err
    said = [line for line in missing.err.splitlines() if line.startswith("evenergy-async:")]
    assert len(said) == 1 and "status_logs.jsonl is missing" in said[0] and "Traceback" not in missing.err
    assert "restore the file" in said[0] and "internal error" not in said[0]
