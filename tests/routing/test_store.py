"""InMemoryStore: client-side limits (concurrency, RPM, TPM), release waits under virtual
loop time, spend over a rolling period, and the hedged share. Times are explicit ``now``
values; the only waiting is on a looptime-virtualised event loop."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from llama_router.state import InMemoryStore, Limits, Ticket
from llama_router.state.health import HealthConfig

from .helpers import T0


async def grant(
    store: InMemoryStore, name: str, now: float, limits: Limits, tokens: int = 0
) -> Ticket:
    got = await store.try_acquire(name, now, limits, tokens)
    assert isinstance(got, Ticket), f"expected a ticket at {now}, got a wait of {got}"
    return got


# -- concurrency -------------------------------------------------------------------------------


async def test_max_concurrency_returns_inf_when_full_and_frees_on_release() -> None:
    store = InMemoryStore()
    limits = Limits(max_concurrency=2)
    first = await grant(store, "a", T0, limits)
    await grant(store, "a", T0, limits)
    assert store.in_flight("a") == 2
    assert await store.try_acquire("a", T0, limits, 0) == math.inf
    assert await store.try_acquire("a", T0 + 3600, limits, 0) == math.inf  # time does not help
    await store.release(first, None)
    assert store.in_flight("a") == 1
    await grant(store, "a", T0, limits)
    assert await store.try_acquire("a", T0, limits, 0) == math.inf


async def test_concurrency_is_per_deployment() -> None:
    store = InMemoryStore()
    limits = Limits(max_concurrency=1)
    await grant(store, "a", T0, limits)
    await grant(store, "b", T0, limits)
    assert await store.try_acquire("a", T0, limits, 0) == math.inf


async def test_releasing_a_ticket_twice_frees_one_slot() -> None:
    store = InMemoryStore()
    limits = Limits(max_concurrency=2)
    first = await grant(store, "a", T0, limits)
    await grant(store, "a", T0, limits)
    await store.release(first, None)
    await store.release(first, None)
    assert store.in_flight("a") == 1
    await grant(store, "a", T0, limits)
    assert await store.try_acquire("a", T0, limits, 0) == math.inf


async def test_no_limits_always_grants() -> None:
    store = InMemoryStore()
    assert not Limits().any
    for i in range(1000):
        await grant(store, "a", T0 + i * 0.001, Limits(), tokens=10_000)
    assert store.in_flight("a") == 1000


# -- requests per minute ---------------------------------------------------------------------


async def test_rpm_returns_seconds_until_the_oldest_request_leaves_the_window() -> None:
    store = InMemoryStore()
    limits = Limits(rpm=3)
    for offset in (0, 10, 20):
        ticket = await grant(store, "a", T0 + offset, limits)
        await store.release(ticket, None)  # released requests still count for the minute
    assert await store.try_acquire("a", T0 + 30, limits, 0) == pytest.approx(30.0)
    assert await store.try_acquire("a", T0 + 59.9, limits, 0) == pytest.approx(0.1)
    await grant(store, "a", T0 + 60, limits)  # the request at T0 left the window
    # window now holds T0+10, T0+20, T0+60: the next slot frees when T0+10 leaves
    assert await store.try_acquire("a", T0 + 60, limits, 0) == pytest.approx(10.0)


async def test_concurrency_is_checked_before_rpm() -> None:
    store = InMemoryStore()
    limits = Limits(max_concurrency=1, rpm=1)
    await grant(store, "a", T0, limits)
    assert await store.try_acquire("a", T0 + 1, limits, 0) == math.inf


# -- tokens per minute ---------------------------------------------------------------------


async def test_tpm_waits_until_enough_tokens_leave_the_window() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    await grant(store, "a", T0, limits, tokens=100)
    await grant(store, "a", T0 + 10, limits, tokens=500)
    await grant(store, "a", T0 + 20, limits, tokens=300)  # 900 used
    # 900 + 700 exceeds 1000 by 600: the 100 at T0 is not enough, the 500 at T0+10 is
    assert await store.try_acquire("a", T0 + 30, limits, 700) == pytest.approx(40.0)
    # 900 + 200 exceeds by 100: the 100 at T0 leaving is enough
    assert await store.try_acquire("a", T0 + 30, limits, 200) == pytest.approx(30.0)
    await grant(store, "a", T0 + 30, limits, tokens=100)  # exactly 1000
    assert await store.try_acquire("a", T0 + 30, limits, 1) == pytest.approx(30.0)
    # at T0+70 the first two have left: 300 + 100 used, 400 + 700 exceeds by 100
    assert await store.try_acquire("a", T0 + 70, limits, 700) == pytest.approx(10.0)
    await grant(store, "a", T0 + 70, limits, tokens=600)


async def test_tpm_grants_after_the_window_rolls() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    await grant(store, "a", T0, limits, tokens=600)
    assert await store.try_acquire("a", T0 + 59, limits, 600) == pytest.approx(1.0)
    await grant(store, "a", T0 + 60, limits, tokens=600)


async def test_an_oversized_request_passes_on_an_empty_window() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    big = await grant(store, "a", T0, limits, tokens=5000)
    assert big.tokens == 5000
    # the window is over its limit until the big one leaves
    assert await store.try_acquire("a", T0 + 1, limits, 10) == pytest.approx(59.0)
    await grant(store, "a", T0 + 60, limits, tokens=10)


async def test_an_oversized_request_waits_for_the_whole_window_to_empty() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    await grant(store, "a", T0, limits, tokens=100)
    await grant(store, "a", T0 + 5, limits, tokens=100)
    # 2000 alone exceeds the limit: it goes once the newest ticket (T0+5) has left
    assert await store.try_acquire("a", T0 + 10, limits, 2000) == pytest.approx(55.0)
    assert isinstance(await store.try_acquire("a", T0 + 65, limits, 2000), Ticket)


async def test_release_with_used_tokens_replaces_the_estimate() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    estimated = await grant(store, "a", T0, limits, tokens=600)
    assert await store.try_acquire("a", T0 + 1, limits, 800) == pytest.approx(59.0)
    await store.release(estimated, 100)  # it actually used 100
    assert estimated.tokens == 100
    await grant(store, "a", T0 + 1, limits, tokens=800)  # 100 + 800 <= 1000
    assert await store.try_acquire("a", T0 + 2, limits, 101) == pytest.approx(58.0)


async def test_release_without_used_tokens_keeps_the_estimate() -> None:
    store = InMemoryStore()
    limits = Limits(tpm=1000)
    ticket = await grant(store, "a", T0, limits, tokens=600)
    await store.release(ticket, None)
    assert ticket.tokens == 600
    assert ticket.released
    assert await store.try_acquire("a", T0 + 1, limits, 800) == pytest.approx(59.0)


# -- waiting for a release (virtual loop time) -----------------------------------------------


@pytest.mark.looptime
async def test_looptime_makes_sleeping_virtual() -> None:
    loop = asyncio.get_running_loop()
    wall, start = time.monotonic(), loop.time()
    await asyncio.sleep(100)
    assert loop.time() - start == pytest.approx(100.0)
    assert time.monotonic() - wall < 5.0


@pytest.mark.looptime
async def test_wait_for_release_wakes_on_release() -> None:
    store = InMemoryStore()
    loop = asyncio.get_running_loop()
    limits = Limits(max_concurrency=1)
    ticket = await grant(store, "a", T0, limits)
    assert await store.try_acquire("a", T0, limits, 0) == math.inf

    start = loop.time()
    waiter = asyncio.create_task(store.wait_for_release("a", 100.0))
    await asyncio.sleep(0)  # the waiter starts waiting
    assert not waiter.done()
    await store.release(ticket, None)
    await waiter
    assert loop.time() - start == pytest.approx(0.0, abs=1e-6)  # woken, not timed out
    await grant(store, "a", T0, limits)


@pytest.mark.looptime
async def test_wait_for_release_wakes_every_waiter() -> None:
    store = InMemoryStore()
    loop = asyncio.get_running_loop()
    ticket = await grant(store, "a", T0, Limits(max_concurrency=1))
    start = loop.time()
    waiters = [asyncio.create_task(store.wait_for_release("a", 50.0)) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    await store.release(ticket, None)
    await asyncio.gather(*waiters)
    assert loop.time() - start == pytest.approx(0.0, abs=1e-6)


@pytest.mark.looptime
async def test_wait_for_release_returns_after_the_timeout() -> None:
    store = InMemoryStore()
    loop = asyncio.get_running_loop()
    await grant(store, "a", T0, Limits(max_concurrency=1))
    start = loop.time()
    await store.wait_for_release("a", 5.0)  # no exception on timeout
    assert loop.time() - start == pytest.approx(5.0)


@pytest.mark.looptime
async def test_a_release_elsewhere_does_not_wake_the_waiter() -> None:
    store = InMemoryStore()
    loop = asyncio.get_running_loop()
    limits = Limits(max_concurrency=1)
    await grant(store, "a", T0, limits)
    other = await grant(store, "b", T0, limits)
    start = loop.time()
    waiter = asyncio.create_task(store.wait_for_release("a", 100.0))
    await asyncio.sleep(0)
    await store.release(other, None)
    await asyncio.sleep(10)
    assert not waiter.done()
    await waiter
    assert loop.time() - start == pytest.approx(100.0)


# -- spend ---------------------------------------------------------------------------------


async def test_spend_over_a_rolling_period() -> None:
    store = InMemoryStore()
    await store.add_spend(T0, 0.5)
    await store.add_spend(T0 + 30, 0.25)
    await store.add_spend(T0 + 30, 0.0)  # ignored
    await store.add_spend(T0 + 30, -1.0)  # ignored
    assert await store.spent(T0 + 40, 60.0) == pytest.approx(0.75)
    assert await store.spent(T0 + 59.9, 60.0) == pytest.approx(0.75)
    assert await store.spent(T0 + 60, 60.0) == pytest.approx(0.25)  # T0's spend left
    assert await store.spent(T0 + 90, 60.0) == pytest.approx(0.0)


async def test_spent_answers_each_period_independently() -> None:
    """``spent(now, period)`` is "USD spent in the last ``period`` seconds" for any period;
    asking about a short period must not lose what a longer one still covers."""
    store = InMemoryStore()
    await store.add_spend(T0, 1.0)
    await store.add_spend(T0 + 100, 0.5)
    assert await store.spent(T0 + 150, 3600.0) == pytest.approx(1.5)
    assert await store.spent(T0 + 150, 60.0) == pytest.approx(0.5)
    assert await store.spent(T0 + 150, 3600.0) == pytest.approx(1.5)


async def test_spend_memory_is_bounded_at_any_request_rate() -> None:
    # A day-long budget at 1,000 spends a second: the store keeps at most 1,000 buckets per
    # period, and the rolling sum errs only on the safe side, by at most one bucket.
    store = InMemoryStore()
    period = 86_400.0
    assert await store.spent(T0, period) == 0.0  # the budget's period is known from here on
    for i in range(200_000):
        await store.add_spend(T0 + i * 0.001, 0.001)
    assert await store.spent(T0 + 200.0, period) == pytest.approx(200.0)
    bucket = period / 1000
    for i in range(1, 3_000):  # 3,000 s later, one spend every second
        await store.add_spend(T0 + 200.0 + i, 0.001)
    now = T0 + 3200.0
    exact = 200.0 + 2_999 * 0.001
    assert exact <= await store.spent(now, period) <= exact + bucket * 0.001 + 1e-9
    assert len(store._spend) <= math.ceil(3200.0 / bucket) + 1
    # Once the period has passed, the old spend is gone, and so is its memory.
    later = now + period
    assert await store.spent(later, period) == 0.0
    assert len(store._spend) == 0


# -- hedging -------------------------------------------------------------------------------


async def test_hedged_share_over_the_recent_window() -> None:
    store = InMemoryStore(hedge_window=4)
    assert await store.hedged_share() == 0.0
    for hedged in (True, False, False, True):
        await store.note_request(T0, hedged=hedged)
    assert await store.hedged_share() == pytest.approx(0.5)
    await store.note_request(T0, hedged=True)  # evicts the first True
    assert await store.hedged_share() == pytest.approx(0.5)
    for _ in range(3):
        await store.note_request(T0, hedged=False)
    assert await store.hedged_share() == pytest.approx(0.25)
    await store.note_request(T0, hedged=False)
    assert await store.hedged_share() == 0.0


# -- health through the store ----------------------------------------------------------------


async def test_store_keeps_one_health_record_per_deployment() -> None:
    store = InMemoryStore(HealthConfig(failure_threshold=2))
    for _ in range(2):
        await store.record_failure(
            "a", T0, "ProviderError", counts_against_health=True, cooldown=None
        )
    await store.record_success(
        "b", T0, ttft=0.25, output_tokens=50, generation_s=0.5, rate_limits=None
    )
    snaps = await store.snapshot(["a", "b", "c"], T0)
    assert snaps["a"].circuit == "open"
    assert snaps["b"].ttft_ewma == pytest.approx(0.25)
    assert snaps["b"].tps_ewma == pytest.approx(100.0)
    assert snaps["c"].samples == 0
    assert await store.try_probe("a", T0 + 30)
    assert not await store.try_probe("a", T0 + 30)
    await store.release_probe("a")
    assert await store.try_probe("a", T0 + 30)
    await store.set_loaded("c", False)
    assert (await store.snapshot(["c"], T0))["c"].loaded is False
    assert store.record("a") is store.record("a")
