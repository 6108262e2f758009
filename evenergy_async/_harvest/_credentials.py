"""Many credentials for one harvest: labelled entries, read lazily.

:class:`CredentialEntry` is a credential with an optional label. The harvester takes a mapping
label -> credential, or an iterable or async iterable of credentials, ``(label, credential)``
pairs or entries, and reads it only as its workers need more tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TextIO, TypeAlias

import attrs

from .._auth import CONTROL_CHARS, BearerToken, ClientCredentials, Credential, OAuthToken, RefreshToken
from .._converter import parse_timestamp
from ._worker import WorkerThread, lock_file

__all__ = [
    "CredentialEntry",
    "Credentials",
    "CredentialsFile",
    "CredentialsFileError",
    "CredentialsInUseError",
    "CredentialsStoreError",
]


@attrs.frozen
class CredentialEntry:
    """One credential of a fleet, with an optional label (reports, progress, rotations).

    ``credential``: a token string, ``BearerToken``, ``ClientCredentials`` or ``RefreshToken``.
    Without a label the harvester names it ``token<i>`` (``i``: its position in the input).
    """

    credential: Credential | str = attrs.field(repr=False)
    label: str | None = None


CredentialItem: TypeAlias = Credential | str | tuple[str, Credential | str] | CredentialEntry
Credentials: TypeAlias = (
    Mapping[str, Credential | str] | Iterable[CredentialItem] | AsyncIterable[CredentialItem]
)
"""What ``Harvester(client, credentials=...)`` takes."""

_CREDENTIAL_TYPES = (BearerToken, ClientCredentials, RefreshToken, str)


def is_utf8(text: str) -> bool:
    """False for text read with ``errors="surrogateescape"`` from bytes that are not UTF-8."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name a token (None: it can). Labels are printed in reports, progress
    lines and logs: a control character (a newline) would forge a line there."""
    if not label.strip():
        return "label is empty"
    if CONTROL_CHARS.search(label):
        return "label holds control characters"
    return None


def check_label(label: str) -> str:
    problem = label_problem(label)
    if problem is not None:
        raise ValueError(f"credential {problem}: {label[:40]!r}")
    return label


def _labelled(item: object, index: int) -> tuple[str, Credential | str]:
    if isinstance(item, CredentialEntry):
        return (check_label(item.label) if item.label is not None else f"token{index}", item.credential)
    if isinstance(item, tuple):
        if len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], _CREDENTIAL_TYPES):
            return check_label(item[0]), item[1]
        raise TypeError(f"credential #{index}: a pair must be (label, credential)")
    if isinstance(item, _CREDENTIAL_TYPES):
        return f"token{index}", item
    raise TypeError(f"credential #{index}: not a credential ({type(item).__name__})")


def check_credentials(credentials: object) -> None:
    """Refuse what cannot be a credentials input (a string is not a list of tokens)."""
    if isinstance(credentials, (str, bytes, *_CREDENTIAL_TYPES)):
        raise TypeError("credentials must be a mapping label -> credential or an (async) iterable of credentials")
    if not isinstance(credentials, Mapping | Iterable | AsyncIterable):
        raise TypeError(f"credentials must be a mapping or an (async) iterable, not {type(credentials).__name__}")


async def labelled(credentials: Credentials) -> AsyncIterator[tuple[str, Credential | str]]:
    """``(label, credential)`` pairs of ``credentials``, read lazily."""
    if isinstance(credentials, Mapping):
        for label, credential in credentials.items():
            if not isinstance(label, str):
                raise TypeError("credential labels must be strings")
            check_label(label)
            yield _labelled((label, credential), 0)
    elif isinstance(credentials, AsyncIterable):
        index = 0
        async for item in credentials:
            yield _labelled(item, index)
            index += 1
    else:
        for index, item in enumerate(credentials):
            yield _labelled(item, index)


# -- a credentials file: JSON Lines, read lazily, rotated refresh tokens journaled ------------

_KEYS = frozenset({"access_token", "refresh_token", "expires_at", "label"})
_SAFE_KEY = re.compile(r"[a-z_]{1,32}")
_CHUNK = 512  # lines read per trip to the file's thread


class CredentialsFileError(ValueError):
    """A credentials file line is not a valid credential. Names the file and the line number,
    never a value from it (a line may hold a secret)."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        where = f"{path}: line {line}" if line is not None else path
        super().__init__(f"credentials file {where}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


class CredentialsStoreError(Exception):
    """A rotated refresh token could not be written back durably (or the file not rewritten):
    a local problem (disk full, permissions) -- the harvest stops before the new token is used."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"credentials file {path}: {reason}")
        self.path = path


class CredentialsInUseError(CredentialsStoreError):
    """Another harvest (another process) has the credentials file open."""


class CredentialsFile:
    """Credentials for a fleet harvest from a JSON Lines file, one object a line, read lazily.

    A line is ``{"access_token": "..."}`` or ``{"refresh_token": "...", "access_token": "...",
    "expires_at": "..."}`` (the last two optional; ``expires_at`` an RFC 3339 time, or seconds
    since the epoch), each with an optional ``"label"`` (default ``line<N>``, its line number).
    A refresh token needs ``client_id`` (and ``client_secret`` for a confidential app). Blank
    lines and lines starting with ``#`` are skipped (and kept when the file is rewritten).
    Anything else -- invalid JSON, an unknown key, a wrong type, a duplicate label, a token
    already on an earlier line -- raises :class:`CredentialsFileError` naming the line, never
    its content.

    Rotated refresh tokens (the provider issues a new one at each refresh and the old one
    dies) are never lost: each new pair is appended to a journal next to the file,
    ``FILE.rotations``, and fsynced before the new access token is first used. Refreshes of
    many tokens at once share one write and one fsync (group commit): no refresh waits for
    another's disk write to start, and no refresh rewrites the file. :meth:`close` (and the
    next :meth:`open`, after a crash) folds the journal into the file -- one streaming rewrite
    to a temporary file, fsync, rename, directory fsync -- then removes the journal; a
    journal's newest entry for a label wins over the file's line. A kill at any instant after
    the new pair is in the journal leaves the file plus journal holding a working token.

    One harvest at a time: an open file holds an advisory lock on ``FILE.lock`` (released by
    the kernel if the process dies), and a second open raises :class:`CredentialsInUseError`.
    Two harvests refreshing the same tokens would log each other out (each refresh kills the
    token the other holds), and their folds would overwrite each other's rotations.

    Use::

        async with CredentialsFile("fleet.jsonl", client_id=..., client_secret=...) as creds:
            async with Harvester(client, credentials=creds) as harvester:
                report = await harvester.run("out")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = os.fspath(path)
        self.file = self.path
        """The file itself, symbolic links resolved when it is opened: where the fold writes."""
        self.journal_path = self.path + ".rotations"
        self.lock_path = self.path + ".lock"
        self._lock_fd: int | None = None
        self._client_id = client_id or None
        self._client_secret = client_secret or None
        self._clock = clock
        self._wall = wall
        self._thread = WorkerThread("evenergy-credentials", "credentials file")
        self._journal: BinaryIO | None = None
        self._pending: list[tuple[bytes, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._rotations = 0
        self._iterated = False
        self.lines_read = 0

    def __repr__(self) -> str:
        return f"<CredentialsFile {self.path!r} rotations={self._rotations}>"

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> CredentialsFile:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Fold a journal a crashed run left into the file; start the journal."""
        await self._thread.start(self._open_sync)

    async def close(self) -> None:
        """Wait for pending rotations, fold the journal into the file, stop."""
        if not self._thread.running:
            return
        try:
            await self._drain()
        finally:
            await self._thread.stop(self._close_sync)

    def _open_sync(self) -> None:
        if not os.path.exists(self.path):
            raise CredentialsFileError(self.path, None, "no such file")
        if os.path.isdir(self.path):
            raise CredentialsFileError(self.path, None, "is a directory, not a JSON Lines file")
        # a symbolic link is followed: the fold rewrites the file it points to (not the link, which
        # would leave the real file with refresh tokens the rotations killed), and the lock and
        # the journal sit next to that file, whichever link a harvest was given
        self.file = os.path.realpath(self.path)
        self.journal_path = self.file + ".rotations"
        self.lock_path = self.file + ".lock"
        self._lock()
        try:
            self._compact_sync()
            try:
                self._journal = open(self.journal_path, "ab")  # noqa: SIM115 - closed in _close_sync
            except OSError as exc:
                raise CredentialsStoreError(self.path, f"cannot open the rotation journal: {exc.strerror}") from exc
        except BaseException:
            self._unlock()
            raise

    def _lock(self) -> None:
        # a file of its own: the credentials file itself is replaced by each fold (a lock on it
        # would stay with the old inode)
        try:
            self._lock_fd = lock_file(
                self.lock_path,
                0o600,
                lambda: CredentialsInUseError(
                    self.path,
                    "in use by another harvest (each refresh would kill the token the other holds): "
                    "wait for it to finish, or give each harvest its own credentials",
                ),
            )
        except CredentialsInUseError:
            raise
        except OSError as exc:
            raise CredentialsStoreError(self.path, f"cannot open its lock file: {exc.strerror}") from exc

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # releases the lock

    def _close_sync(self) -> None:
        try:
            journal, self._journal = self._journal, None
            if journal is not None:
                journal.close()
            self._compact_sync()
        finally:
            self._unlock()

    # -- reading ---------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[CredentialEntry]:
        if self._iterated:
            raise RuntimeError("a CredentialsFile is read once per open")
        self._iterated = True
        return self._entries()

    async def _entries(self) -> AsyncIterator[CredentialEntry]:
        if not self._thread.running:
            raise RuntimeError("open the CredentialsFile first (`async with CredentialsFile(...)`)")
        handle = await self._thread.run(_open_text, self.file)
        labels: dict[str, int] = {}
        tokens: dict[bytes, int] = {}  # a digest of each token -> its line
        number = 0
        try:
            while True:
                lines, overlong = await self._thread.run(_read_lines, handle, _CHUNK)
                if not lines and not overlong:
                    return
                for line in lines:
                    number += 1
                    self.lines_read = number
                    entry = self._parse(line, number, labels, tokens)
                    if entry is not None:
                        yield entry
                if overlong:
                    raise CredentialsFileError(
                        self.path, number + 1, f"longer than {MAX_LINE:,} characters: not a credential line"
                    )
        finally:
            handle.close()

    def _parse(
        self, line: str, number: int, labels: dict[str, int], tokens: dict[bytes, int]
    ) -> CredentialEntry | None:
        text = line.strip()
        if not text or text.startswith("#"):
            return None
        if not is_utf8(text):  # read with surrogateescape: bytes that were not UTF-8 fail here
            raise CredentialsFileError(self.path, number, "not UTF-8 text")
        fields = _fields(self.path, number, text)
        label = fields.get("label")
        if label is None:
            label = f"line{number}"
        elif (problem := label_problem(label)) is not None:
            raise CredentialsFileError(self.path, number, problem)
        if label in labels:
            raise CredentialsFileError(self.path, number, f"label {label!r} is already used on line {labels[label]}")
        labels[label] = number
        access = fields.get("access_token")
        refresh = fields.get("refresh_token")
        expires = fields.get("expires_at")
        for token in (refresh, access):
            # one refresh token cannot serve two lines (the first refresh kills it for the
            # other), and one access token twice would harvest one user twice over
            first = tokens.setdefault(_digest(token), number) if token else number
            if first != number:
                raise CredentialsFileError(self.path, number, f"repeats a token of line {first}: give each token once")
        if refresh is None:
            if access is None:
                raise CredentialsFileError(self.path, number, "needs an access_token or a refresh_token")
            if expires is not None:
                raise CredentialsFileError(self.path, number, "expires_at goes with a refresh_token")
            return CredentialEntry(BearerToken(access), label)
        if self._client_id is None:
            raise CredentialsFileError(
                self.path, number, "a refresh_token needs the app's client id (EVENERGY_CLIENT_ID)"
            )
        expires_at = None
        if expires is not None:
            expires_at = self._clock() + (_wall_time(self.path, number, expires) - self._wall()).total_seconds()
        credential = RefreshToken(
            refresh,
            self._client_id,
            self._client_secret,
            access_token=access,
            expires_at=expires_at,
            on_refresh=functools.partial(self._rotated, label),
        )
        return CredentialEntry(credential, label)

    # -- rotations: journal with group commit -------------------------------------------

    async def _rotated(self, label: str, token: OAuthToken) -> None:
        """``RefreshToken.on_refresh``: the new pair is durable when this returns."""
        if token.refresh_token is None:
            return  # the provider did not rotate: the old refresh token stays valid
        expires = None
        if token.expires_in is not None:
            expires = (self._wall() + timedelta(seconds=token.expires_in)).isoformat()
        line = json.dumps(
            {
                "label": label,
                "refresh_token": token.refresh_token,
                "access_token": token.access_token,
                "expires_at": expires,
            },
            separators=(",", ":"),
        )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(((line + "\n").encode("utf-8"), future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="evenergy-credentials-journal")
        await asyncio.shield(future)

    async def _flush(self) -> None:
        """Write every pending rotation in one go, fsync, release their waiters; repeat."""
        try:
            while self._pending:
                group, self._pending = self._pending, []
                try:
                    await self._thread.run(self._append_sync, b"".join(data for data, _ in group))
                except BaseException as exc:
                    error = (
                        exc
                        if isinstance(exc, CredentialsStoreError)
                        else CredentialsStoreError(self.path, f"cannot journal a rotated refresh token: {exc}")
                    )
                    for _, future in group:
                        if not future.done():
                            future.set_exception(error)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                self._rotations += len(group)
                for _, future in group:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flushing = None

    async def _drain(self) -> None:
        while self._flushing is not None:
            await asyncio.wait([self._flushing])

    def _append_sync(self, data: bytes) -> None:
        journal = self._journal
        if journal is None:
            raise CredentialsStoreError(self.path, "the credentials file is closed")
        try:
            journal.write(data)
            journal.flush()
            os.fsync(journal.fileno())
        except OSError as exc:
            raise CredentialsStoreError(self.path, f"cannot journal a rotated refresh token: {exc.strerror}") from exc
        self._after_journal_sync()

    def _after_journal_sync(self) -> None:
        """Hook: a group of rotations is durable in the journal (tests kill the process here)."""

    # -- compaction: fold the journal into the file -------------------------------------

    def _compact_sync(self) -> None:
        rotations = _read_journal(self.journal_path)
        if rotations is None:
            return  # no journal
        if rotations:
            try:
                self._rewrite_sync(rotations)
            except OSError as exc:
                raise CredentialsStoreError(self.path, f"cannot rewrite the file: {exc.strerror}") from exc
        try:
            os.unlink(self.journal_path)
            _fsync_dir(self.file)
        except OSError as exc:
            raise CredentialsStoreError(self.path, f"cannot remove the rotation journal: {exc.strerror}") from exc

    def _rewrite_sync(self, rotations: dict[str, dict[str, Any]]) -> None:
        directory = os.path.dirname(self.file)
        mode = stat.S_IMODE(os.stat(self.file).st_mode)
        fd, temp = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=directory)
        try:
            os.fchmod(fd, mode)
            with (
                os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as out,
                _open_text(self.file) as src,  # lines kept byte for byte (a byte order mark is dropped)
            ):
                # held until the rename: a line appended meanwhile (append_credentials) would be
                # written to the file this copy replaces, and lost
                fcntl.flock(src.fileno(), fcntl.LOCK_EX)
                for number, line in enumerate(src, 1):
                    out.write(_rotated_line(line, number, rotations))
                out.flush()
                os.fsync(out.fileno())
                self._before_rename()
                os.replace(temp, self.file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _fsync_dir(self.file)
        self._after_rename()

    def _before_rename(self) -> None:
        """Hook: the rewritten file is fsynced under its temporary name."""

    def _after_rename(self) -> None:
        """Hook: the rewritten file is in place; the journal is not removed yet."""


def _open_text(path: str) -> TextIO:
    # bytes that are not UTF-8 become surrogates, refused by ``_parse`` with their line number;
    # a byte order mark (Notepad, PowerShell 5) is not part of the first line
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline=None)


MAX_LINE = 65536
"""Longest credentials line read (a credential is a few hundred characters): a file with no
line end (``/dev/zero``, a binary) is refused at that length instead of read into memory."""


def _read_lines(handle: TextIO, n: int) -> tuple[list[str], bool]:
    """Up to ``n`` lines, and whether the next one is longer than :data:`MAX_LINE` (not read).

    Read under a shared lock on the file: :func:`append_credentials` writes whole lines under an
    exclusive one, so a line being added is never read half-written."""
    out: list[str] = []
    fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
    try:
        while len(out) < n:
            line = handle.readline(MAX_LINE + 1)
            if not line:
                break
            if len(line) > MAX_LINE:
                return out, True
            out.append(line)
        return out, False
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def append_credentials(path: str | os.PathLike[str], lines: Iterable[str]) -> int:
    """Add lines to a credentials file that a harvest may be reading or rewriting (folding its
    rotations in), and return how many were added; each is checked first as the harvest
    checks it (JSON, keys, types; comments and blank lines pass), so a bad one raises
    :class:`CredentialsFileError` naming its place in ``lines`` and nothing is written.

    The lines go in one write and one fsync under an exclusive lock on the file, which the
    harvest's fold holds from its first read to its rename: an append lands before the fold
    (and is folded in) or after it, in the new file -- never in the copy the fold discards.
    The shell equivalent: ``flock fleet.jsonl -c 'cat new.jsonl >> fleet.jsonl'``.
    """
    where = os.fspath(path)
    if isinstance(lines, str | bytes):
        raise TypeError("lines must be a list (an iterable) of lines, not one string: append_credentials(path, [line])")
    texts: list[str] = []
    for number, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise TypeError(f"line {number} must be a string, not {type(line).__name__}")
        text = line.removesuffix("\n")
        if "\n" in text or "\r" in text:
            raise CredentialsFileError(where, number, "holds a line break: give one credential a line")
        if text.strip() and not text.strip().startswith("#"):
            _fields(where, number, text.strip())
        texts.append(text + "\n")
    data = "".join(texts).encode("utf-8", "surrogateescape")
    while True:
        try:
            fd = os.open(where, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise CredentialsFileError(where, None, "no such file") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held, current = os.fstat(fd), os.stat(where)
            if (held.st_dev, held.st_ino) != (current.st_dev, current.st_ino):
                continue  # a fold replaced the file while this waited: append to the new one
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data  # the last line had no line end
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            return sum(1 for t in texts if t.strip() and not t.lstrip().startswith("#"))
        finally:
            os.close(fd)  # releases the lock


def _digest(token: str) -> bytes:
    """What the duplicate check keeps of a token: 16 bytes, not the secret."""
    return hashlib.blake2b(token.encode(), digest_size=16).digest()


def _fields(path: str, number: int, text: str) -> dict[str, str]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        column = getattr(exc, "colno", None)
        raise CredentialsFileError(
            path, number, "not valid JSON" + (f" (column {column})" if column else "")
        ) from None
    if not isinstance(data, dict):
        raise CredentialsFileError(path, number, f"not a JSON object but {_json_type(data)}")
    unknown = [key for key in data if key not in _KEYS]
    if unknown:
        shown = [repr(k) for k in unknown if _SAFE_KEY.fullmatch(k)]
        hidden = len(unknown) - len(shown)
        if shown:
            what = ", ".join(shown) + (f" and {hidden} not shown" if hidden else "")
        else:
            what = f"{hidden} not shown (a key that is not a plain name may be a secret)"
        raise CredentialsFileError(
            path, number, f"unknown key(s): {what} (allowed: {', '.join(sorted(_KEYS))})"
        )
    out: dict[str, str] = {}
    for key, value in data.items():
        if value is None and key != "label":
            continue
        if key == "expires_at" and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = repr(float(value))
            continue
        if not isinstance(value, str):
            raise CredentialsFileError(path, number, f"{key} must be a string, not {_json_type(value)}")
        if not value.strip():
            raise CredentialsFileError(path, number, f"{key} is empty")
        out[key] = value.strip()
    return out


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string"


def _wall_time(path: str, number: int, value: str) -> datetime:
    try:
        if re.fullmatch(r"-?\d+(\.\d+)?", value):
            return datetime.fromtimestamp(float(value), UTC)
        return parse_timestamp(value)  # naive means UTC
    except (ValueError, OverflowError, OSError):
        raise CredentialsFileError(path, number, "expires_at is not an RFC 3339 time or epoch seconds") from None


def _read_journal(path: str) -> dict[str, dict[str, Any]] | None:
    """Label -> its newest rotation (None: no journal). A torn last line (a kill mid-append,
    before its fsync returned: that token was never used) is ignored."""
    try:
        handle = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return None
    rotations: dict[str, dict[str, Any]] = {}
    with handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("label"), str) and entry.get("refresh_token"):
                rotations[entry["label"]] = entry
    return rotations


def _rotated_line(line: str, number: int, rotations: dict[str, dict[str, Any]]) -> str:
    text = line.strip()
    if not text or text.startswith("#"):
        return line if line.endswith("\n") else line + "\n"
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return line if line.endswith("\n") else line + "\n"
    label = data.get("label")
    rotation = rotations.get(label if isinstance(label, str) else f"line{number}")
    if rotation is None:
        return line if line.endswith("\n") else line + "\n"
    data["refresh_token"] = rotation["refresh_token"]
    for key in ("access_token", "expires_at"):
        if rotation.get(key) is not None:
            data[key] = rotation[key]
        else:
            data.pop(key, None)
    return json.dumps(data, separators=(", ", ": ")) + "\n"


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
