"""The idle timeout of a streamed attempt, for the cost of one clock read per chunk."""

from __future__ import annotations

import asyncio

__all__ = ["IdleWatch"]


class IdleWatch:
    """The idle timeout of one streamed attempt, for the cost of a clock read per chunk.

    A timeout context per chunk would create and cancel a timer handle for every chunk. This
    keeps one timer per stall window: each wait for a chunk only notes when it began, and
    the timer, when it fires before the window has really passed, re-arms itself for the
    rest. It cancels the reading task only while that task waits for the next chunk (time
    the caller spends between chunks is not idleness), and at the request's deadline.
    """

    __slots__ = ("_deadline", "_handle", "_idle", "_loop", "fired", "since", "task")

    def __init__(self, idle: float, left: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._loop = loop
        self._idle = idle
        self._deadline = now + left
        self.since = now
        """When the current wait for a chunk began (loop time)."""
        self.task: asyncio.Task[object] | None = None
        """The task waiting for a chunk, or None between chunks."""
        self.fired = False
        self._handle = loop.call_at(min(now + idle, self._deadline), self._check)

    def _check(self) -> None:
        now = self._loop.time()
        if self.task is not None:
            due = min(self.since + self._idle, self._deadline)
            if now >= due:
                self.fired = True
                self.task.cancel()
                return
        else:
            due = min(now + self._idle, self._deadline)
        self._handle = self._loop.call_at(due, self._check)

    def stop(self) -> None:
        self._handle.cancel()
