"""A throwaway PostgreSQL server for the tests and benchmarks: initdb into a temporary
directory, listen on a unix socket there only, stop and delete it afterwards.

The server binaries come from the OS packages (Debian's ``postgresql``: ``initdb``,
``pg_ctl`` in ``/usr/lib/postgresql/<version>/bin``, or on ``PATH``, or in
``$EVENERGY_PG_BINDIR``). PostgreSQL refuses to run as root: when the tests run as root
(CI), the server runs as the unprivileged ``nobody`` user. ``EVENERGY_TEST_DATABASE_URL``
points the tests at an existing server instead (a superuser DSN; nothing is started).

The harvester connects as the role ``harvester`` with a random password (SCRAM), so the
tests see a real password go through a DSN and can check that it never shows.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from urllib.parse import quote

__all__ = ["PgServer", "find_bindir", "start_server"]

ENV_EXISTING = "EVENERGY_TEST_DATABASE_URL"
ENV_BINDIR = "EVENERGY_PG_BINDIR"
RUN_AS = "nobody"
DATABASE = "evenergy_test"


class PgUnavailable(RuntimeError):
    pass


def find_bindir() -> str:
    """The directory holding ``initdb``, ``pg_ctl`` and ``psql`` (newest version first)."""
    candidates: list[str] = []
    if os.environ.get(ENV_BINDIR):
        candidates.append(os.environ[ENV_BINDIR])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    for directory in candidates:
        if all(os.access(os.path.join(directory, exe), os.X_OK) for exe in ("initdb", "pg_ctl", "postgres", "psql")):
            return directory
    raise PgUnavailable(
        "no PostgreSQL server binaries found (initdb, pg_ctl, postgres, psql): install the OS package "
        "(Debian/Ubuntu: apt-get install postgresql), set EVENERGY_PG_BINDIR, or point "
        f"{ENV_EXISTING} at a server (superuser DSN)"
    )


@dataclass
class PgServer:
    """A running server and the DSNs to reach it."""

    admin_dsn: str  # superuser (trust on the socket)
    dsn: str  # the role ``harvester`` with its password, database ``evenergy``
    password: str
    directory: str | None = None  # None: an existing server we did not start
    bindir: str | None = None
    user: str | None = None
    _stopped: bool = field(default=False, repr=False)

    def psql(self, sql: str, *, database: str = DATABASE) -> str:
        """Run ``sql`` as the superuser in ``database`` (default: the tests' database)."""
        from urllib.parse import urlsplit, urlunsplit

        exe = os.path.join(self.bindir, "psql") if self.bindir else "psql"
        parts = urlsplit(self.admin_dsn)
        dsn = urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))
        out = subprocess.run(
            [exe, dsn, "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}")
        return out.stdout

    def stop(self) -> None:
        if self._stopped or self.directory is None or self.bindir is None:
            return
        self._stopped = True
        _run_as(
            self.user,
            [os.path.join(self.bindir, "pg_ctl"), "-D", os.path.join(self.directory, "data"), "-m", "immediate", "-w", "stop"],
        )
        shutil.rmtree(self.directory, ignore_errors=True)


def _run_as(user: str | None, argv: list[str]) -> subprocess.CompletedProcess[str]:
    kwargs: dict[str, object] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        argv, capture_output=True, text=True, timeout=120, cwd="/", **kwargs
    )


def start_server(*, durable: bool = False) -> PgServer:
    """initdb + start a server in a new temporary directory (or use ``$EVENERGY_TEST_DATABASE_URL``).

    ``durable=False`` turns fsync off (the tests kill clients, never the server); the
    benchmarks pass ``durable=True`` to measure a default-configured server.
    """
    password = secrets.token_urlsafe(12)
    existing = os.environ.get(ENV_EXISTING)
    if existing:
        server = PgServer(admin_dsn=existing, dsn="", password=password)
        _create_role(server, lambda db: _replace_db(existing, db, user="harvester", password=password))
        return server
    bindir = find_bindir()
    user = RUN_AS if os.geteuid() == 0 else None
    directory = tempfile.mkdtemp(prefix="evenergy-pg-")
    data = os.path.join(directory, "data")
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(directory, entry.pw_uid, entry.pw_gid)
    try:
        init = _run_as(
            user,
            [os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "-E", "UTF8", "--locale=C", "-A", "trust"],
        )
        if init.returncode != 0:
            raise PgUnavailable(f"initdb failed: {init.stdout[-2000:]} {init.stderr[-2000:]}")
        with open(os.path.join(data, "pg_hba.conf"), "w") as fh:
            fh.write("local all harvester scram-sha-256\nlocal all all trust\n")
        options = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories={directory}",
            "-c max_connections=60",
            "-c shared_buffers=128MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        start = _run_as(
            user,
            [
                os.path.join(bindir, "pg_ctl"),
                "-D",
                data,
                "-l",
                os.path.join(directory, "server.log"),
                "-o",
                " ".join(options),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        if start.returncode != 0:
            log = ""
            try:
                with open(os.path.join(directory, "server.log")) as fh:
                    log = fh.read()[-2000:]
            except OSError:
                pass
            raise PgUnavailable(f"pg_ctl start failed: {start.stdout} {start.stderr} {log}")
        admin = f"postgresql://postgres@/postgres?host={quote(directory, safe='/')}"
        server = PgServer(admin_dsn=admin, dsn="", password=password, directory=directory, bindir=bindir, user=user)
        _create_role(
            server,
            lambda db: f"postgresql://harvester:{quote(password, safe='')}@/{db}?host={quote(directory, safe='/')}",
        )
        return server
    except BaseException:
        if os.path.isdir(data):
            _run_as(user, [os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _replace_db(dsn: str, db: str, *, user: str, password: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:{quote(password, safe='')}@{host}{port}"
    return urlunsplit((parts.scheme, netloc, f"/{db}", parts.query, ""))


def _create_role(server: PgServer, dsn_for: object) -> None:
    assert callable(dsn_for)
    db = DATABASE
    server.psql(f"DROP DATABASE IF EXISTS {db}", database="postgres")
    server.psql(
        "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'harvester') THEN "
        "CREATE ROLE harvester LOGIN; END IF; END$$",
        database="postgres",
    )
    server.psql(f"ALTER ROLE harvester PASSWORD '{server.password}'", database="postgres")
    server.psql(f"CREATE DATABASE {db} OWNER harvester", database="postgres")
    server.dsn = dsn_for(db)
