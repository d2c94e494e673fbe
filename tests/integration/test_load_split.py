"""Load-aware routing against two real llama.cpp servers on 127.0.0.1 (the tiny model): a
burst of 100 concurrent requests splits no worse than 40/60, and a server's health reports
its slots, busy ones included."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from llama_router import Deployment, Router
from llama_router.routing import Policy, least_busy, lowest_latency
from llama_router.routing.options import Timeouts
from llama_router.testing.servers import LlamaCppServer

from .conftest import HAVE_LOCAL

pytestmark = pytest.mark.skipif(not HAVE_LOCAL, reason="needs the 'local' extra")

MODEL = "llama-3.1-8b"
HI = [{"role": "user", "content": "Say hi."}]
SLOTS = 2


@pytest.fixture
async def two_servers(tiny_model: Path) -> AsyncIterator[tuple[LlamaCppServer, LlamaCppServer]]:
    kw = {"n_ctx": 256 * SLOTS, "n_parallel": SLOTS, "n_threads": 1}
    async with LlamaCppServer(tiny_model, **kw) as a, LlamaCppServer(tiny_model, **kw) as b:
        yield a, b


def _deployments(a: LlamaCppServer, b: LlamaCppServer) -> list[Deployment]:
    return [
        Deployment(provider="llamacpp", model=MODEL, name=name, base_url=s.base_url)
        for name, s in (("a", a), ("b", b))
    ]


async def _burst(router: Router, n: int) -> Counter[str]:
    replies = await asyncio.gather(*(router.chat(MODEL, HI, max_tokens=8) for _ in range(n)))
    return Counter(r.deployment for r in replies)


POLICIES: dict[str, Callable[[], Policy]] = {
    "lowest_latency": lambda: lowest_latency(rng=random.Random(7)),
    "least_busy": least_busy,
}


@pytest.mark.parametrize("name", list(POLICIES))
async def test_a_burst_splits_over_two_real_servers(
    two_servers: tuple[LlamaCppServer, LlamaCppServer], name: str
) -> None:
    async with Router(
        _deployments(*two_servers),
        env={},
        policy=POLICIES[name](),
        rng=random.Random(1),
        timeouts=Timeouts(total=300.0),
    ) as router:
        await _burst(router, 4)  # warm-up: both measured
        for _ in range(2):
            split = await _burst(router, 100)
            assert sum(split.values()) == 100
            assert 40 <= split["a"] <= 60, split
        snaps = await router.store.snapshot(["a", "b"], 0.0)
        assert snaps["a"].in_flight == snaps["b"].in_flight == 0


async def test_health_reports_the_servers_slots_and_the_busy_ones(
    two_servers: tuple[LlamaCppServer, LlamaCppServer],
) -> None:
    async with Router(_deployments(*two_servers), env={}) as router:
        idle = (await router.health())["a"]
        assert (idle.slots_total, idle.slots_busy) == (SLOTS, 0)
        long = asyncio.ensure_future(router.chat(MODEL, HI, max_tokens=200, temperature=1.0))
        busy = None
        while busy is None and not long.done():  # until the server says it is processing
            report = (await router.health())["a"]  # the default policy sent it to a
            busy = report if report.slots_busy else None
            await asyncio.sleep(0.01)
        await long
        if busy is not None:  # a fast answer may finish before a probe sees it busy
            assert busy.slots_total == SLOTS
            assert busy.slots_busy >= 1
