"""Deadline helpers: an ``asyncio.timeout`` for every supported Python, tenacity's stop at
the request's deadline, and withdrawing a cancellation we made ourselves."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from tenacity import RetryCallState
from tenacity.stop import stop_base

__all__ = ["StopAtDeadline", "timeout", "uncancel"]

if sys.version_info >= (3, 11):
    from asyncio import timeout
else:  # pragma: no cover - Python 3.10

    def timeout(delay: float | None) -> AbstractAsyncContextManager[None]:
        return _Timeout310(delay)

    class _Timeout310:
        def __init__(self, delay: float | None) -> None:
            self._delay = delay
            self._handle: asyncio.TimerHandle | None = None
            self._fired = False

        async def __aenter__(self) -> None:
            if self._delay is not None:
                task = asyncio.current_task()
                assert task is not None

                def fire() -> None:
                    self._fired = True
                    task.cancel()

                self._handle = asyncio.get_running_loop().call_later(max(self._delay, 0), fire)

        async def __aexit__(self, exc_type: object, exc: object, tb: object) -> bool:
            if self._handle is not None:
                self._handle.cancel()
            if self._fired and exc_type is asyncio.CancelledError:
                raise asyncio.TimeoutError
            return False


def uncancel(task: asyncio.Task[object] | None) -> None:
    """Withdraw a cancellation we made ourselves, so the task is not left marked cancelled."""
    if task is not None and sys.version_info >= (3, 11):
        task.uncancel()


class StopAtDeadline(stop_base):
    """Stop retrying when the next backoff would end past the request's deadline."""

    def __init__(self, clock: Callable[[], float], deadline: float) -> None:
        self.clock = clock
        self.deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.clock() + (retry_state.upcoming_sleep or 0.0) >= self.deadline
