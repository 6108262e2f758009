"""One dedicated thread for blocking work (files, SQLite), run in call order off the event loop;
and the advisory lock a sink or credentials file holds while it is open."""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import os
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class WorkerThread:
    """Runs blocking calls on a thread of its own, one at a time, in the order they come.

    A call whose awaiting task is cancelled still runs to its end on the thread (so a file
    write or a database transaction is never cut in half by a cancellation).
    """

    def __init__(self, name: str, what: str) -> None:
        self._name = name
        self._what = what
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._executor is not None

    async def start(self, first: Callable[[], object] | None = None) -> None:
        """Start the thread (no-op if running) and run ``first`` on it; stop again if it fails."""
        if self._executor is not None:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=self._name)
        if first is not None:
            try:
                await self.run(first)
            except BaseException:
                self._shutdown()
                raise

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError(f"the {self._what} is not open (use `async with` or `await ....open()`)")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def stop(self, last: Callable[[], object]) -> None:
        """Run ``last`` on the thread, then let the thread go (no-op if not running)."""
        if self._executor is None:
            return
        try:
            await self.run(last)
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


def lock_file(path: str, mode: int, busy: Callable[[], Exception]) -> int:
    """Open ``path`` (made with ``mode`` if absent) and take an exclusive advisory lock on it,
    without waiting; ``busy()`` is raised when another process holds it. Returns the descriptor:
    closing it releases the lock, as the kernel does when the process dies."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise busy() from None
    except BaseException:
        os.close(fd)
        raise
    return fd
