"""A fleet harvest from a credentials file in a subprocess that SIGKILLs itself around the
refresh-token rotations (used by test_rotation_crash.py).

Environment: ``ROT_BASE_URL``, ``ROT_FILE`` (the credentials file), ``ROT_OUT``,
``EVENERGY_CLIENT_ID``/``EVENERGY_CLIENT_SECRET`` and ``ROT_KILL_AT`` = ``<point>:<n>`` with
point one of ``journaled`` (the n-th group of rotations is fsynced in the journal; the new
access tokens not used yet), ``fetch`` (the n-th API response's headers have arrived -- token
endpoint answers not counted), ``before_rename`` (the n-th rewrite of the file is fsynced
under its temporary name) or ``renamed`` (the n-th rewrite is in place, the journal not yet
removed). Empty: run to completion. One worker: then no refresh answer is ever waiting for
its journal fsync when a kill point is reached (a kill in that window -- the provider has
rotated, the new token is not durable yet -- loses that one token; no client can close it
when the provider kills the old token at once). The hooks are the credentials file's documented hook
methods, overridden here, and aiohttp's public trace API; nothing in the library is patched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import aiohttp

from evenergy_async import EvEnergyClient, RetryPolicy
from evenergy_async._harvest import CredentialsFile, Harvester, JsonlSink, LogKind, SQLiteStateStore

point, _, count = os.environ.get("ROT_KILL_AT", "").partition(":")
remaining = int(count or 0)


def tick(where: str) -> None:
    global remaining
    if point == where:
        remaining -= 1
        if remaining == 0:
            os.kill(os.getpid(), signal.SIGKILL)


class KillingCredentials(CredentialsFile):
    def _after_journal_sync(self) -> None:
        tick("journaled")

    def _before_rename(self) -> None:
        tick("before_rename")

    def _after_rename(self) -> None:
        tick("renamed")


async def on_request_end(session: Any, ctx: Any, params: Any) -> None:
    if not params.url.path.startswith("/o/"):
        tick("fetch")


async def main() -> int:
    out = os.environ["ROT_OUT"]
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_request_end)
    credentials = KillingCredentials(
        os.environ["ROT_FILE"],
        client_id=os.environ["EVENERGY_CLIENT_ID"],
        client_secret=os.environ["EVENERGY_CLIENT_SECRET"],
    )
    async with (
        credentials,
        EvEnergyClient(
            base_url=os.environ["ROT_BASE_URL"], retry=RetryPolicy(max_attempts=3), trace_configs=[trace]
        ) as client,
        SQLiteStateStore(os.path.join(out, "state.sqlite")) as state,
        JsonlSink(out) as sink,
        Harvester(
            client, credentials=credentials, kinds=(LogKind.STATUS, LogKind.COMMAND), state=state, page_size=4,
            concurrency=1, commit_batches=2,
        ) as harvester,
    ):  # fmt: skip
        report = await harvester.run(sink)
    print(report.summary())
    return 0 if report.complete else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
