"""Active health probes (opt-in): a background task that checks local deployments with
their backends' health calls and feeds the results to the state store.

A failed probe counts against the deployment's health like a failed request (so a dead
local server's circuit opens before a user request hits it); a successful one records
whether the model is loaded (a cold load ahead is "slow" for local-first routing) and, where
the server reports them, its parallel slots and how many are busy (load-aware routing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from llama_router.backends.base import Backend
from llama_router.state.store import StateStore

__all__ = ["HealthProber", "discover_windows"]


async def discover_windows(backends: Sequence[Backend], store: StateStore) -> None:
    """Ask each backend's health check once for the window its server runs with (llama.cpp
    ``/props``, Ollama ``/api/ps``) and remember it. Nothing else is recorded: a failed check
    here says nothing about health."""
    reports = await asyncio.gather(*(b.health() for b in backends), return_exceptions=True)
    for backend, report in zip(backends, reports, strict=True):
        if not isinstance(report, BaseException) and report.context_window is not None:
            await store.learn_context_window(backend.target.name, report.context_window)


class HealthProber:
    """Runs ``backend.health()`` for each backend every ``interval`` seconds."""

    def __init__(
        self,
        backends: Sequence[Backend],
        store: StateStore,
        *,
        interval: float,
        clock: Callable[[], float],
    ) -> None:
        if interval <= 0:
            raise ValueError("probe interval must be > 0 seconds")
        self.backends = tuple(backends)
        self.store = store
        self.interval = interval
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def probe_once(self) -> None:
        """Check every backend once, concurrently, and record the outcomes."""
        reports = await asyncio.gather(*(b.health() for b in self.backends), return_exceptions=True)
        now = self._clock()
        for backend, report in zip(self.backends, reports, strict=True):
            name = backend.target.name
            if isinstance(report, BaseException) or not report.ok:
                why = "probe failed" if isinstance(report, BaseException) else report.detail
                if not isinstance(report, BaseException) and report.loaded is False:
                    await self.store.set_loaded(name, False)
                await self.store.record_failure(
                    name, now, f"health probe: {why}", counts_against_health=True, cooldown=None
                )
            else:
                await self.store.set_loaded(name, report.loaded)
                if report.context_window is not None:
                    await self.store.learn_context_window(name, report.context_window)
                if report.slots_total is not None or report.slots_busy is not None:
                    await self.store.observe_slots(name, report.slots_total, report.slots_busy)

    def start(self) -> None:
        """Start probing in the background (needs a running event loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self.probe_once()
            await asyncio.sleep(self.interval)

    async def aclose(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
