"""The attempt loop end to end, over scripted backends in virtual time (``looptime``): every
sleep, timeout and deadline below is exact and costs no real time."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from llama_router import (
    AllDeploymentsFailedError,
    BudgetExceededError,
    DeadlineExceededError,
    NoDeploymentAvailableError,
    Router,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
)
from llama_router.routing import (
    HealthConfig,
    InMemoryStore,
    cloud_first,
    local_first,
    lowest_cost,
    lowest_latency,
)
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from tests.conftest import drain
from tests.scripted import (
    HI,
    MODEL,
    ScriptedBackend,
    Step,
    now,
    rate_limited,
    router,
    unavailable,
)

pytestmark = pytest.mark.looptime


async def collect(r: Router, **settings: Any) -> tuple[list[str], Any]:
    texts: list[str] = []
    async with r.stream(MODEL, HI, **settings) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                texts.append(event.text)
            else:
                assert isinstance(event, StreamDone)
    return texts, stream.response


# -- retries and Retry-After -------------------------------------------------------------------


async def test_transient_error_is_retried_on_the_same_deployment_with_backoff() -> None:
    a = ScriptedBackend("a", [Step(error=unavailable), Step()])
    b = ScriptedBackend("b")
    r = router(a, b, retry=RetryPolicy(max_retries=1, backoff_base=0.25))
    start = now()
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "a"
    assert (a.calls, b.calls) == (2, 0)
    assert [x.outcome for x in reply.route] == ["error", "ok"]
    # one backoff of at most 0.25 s (full jitter) between the two tries
    gap = a.records[1].started - a.records[0].started
    assert 0.1 <= gap <= 0.1 + 0.25 + 1e-9  # the first try's TTFT, then a backoff <= 0.25 s
    assert now() - start < 1.0


async def test_short_retry_after_is_waited_out_on_the_same_deployment() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(2.0)), Step()])
    b = ScriptedBackend("b")
    r = router(a, b, retry=RetryPolicy(max_retries=1, max_retry_after=5))
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "a"
    assert a.records[1].started - a.records[0].started >= 2.0
    assert b.calls == 0


async def test_retry_after_of_30s_keeps_the_deployment_out_for_30s() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(30.0)), Step()])
    b = ScriptedBackend("b")
    r = router(a, b)
    t0 = now()
    first = await r.chat(MODEL, HI)  # a: 429 (30 s is over max_retry_after) -> fails over to b
    assert first.deployment == "b"
    assert b.records[0].started - t0 < 0.01  # moved on at once, no sleeping
    await asyncio.sleep(29.0 - (now() - t0))
    assert (await r.chat(MODEL, HI)).deployment == "b"  # still cooling down at +29 s
    explanation = await r.explain(MODEL, HI)
    assert "cooling down" in next(row.reason for row in explanation.rows if row.deployment == "a")
    await asyncio.sleep(30.0 - (now() - t0))
    assert (await r.chat(MODEL, HI)).deployment == "a"  # back at +30 s
    assert a.calls == 2


async def test_retry_after_longer_than_the_deadline_moves_on_at_once() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(4.0))])
    b = ScriptedBackend("b")
    r = router(
        a, b, retry=RetryPolicy(max_retries=3, max_retry_after=10), timeouts=Timeouts(total=3.0)
    )
    t0 = now()
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "b"
    assert b.records[0].started - t0 < 0.01
    assert a.calls == 1


async def test_invalid_requests_are_never_retried_or_failed_over() -> None:
    from llama_router import InvalidRequestError

    def invalid(name: str) -> InvalidRequestError:
        return InvalidRequestError("bad", provider="scripted", deployment=name, status_code=400)

    a = ScriptedBackend("a", Step(error=invalid))
    b = ScriptedBackend("b")
    with pytest.raises(InvalidRequestError):
        await router(a, b, retry=RetryPolicy(max_retries=3)).chat(MODEL, HI)
    assert (a.calls, b.calls) == (1, 0)


# -- circuit breaker ---------------------------------------------------------------------------


async def test_circuit_opens_half_opens_with_one_probe_and_closes() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=unavailable)] * 5 + [Step()])
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(
        a,
        b,
        retry=RetryPolicy(max_retries=0),
        health=HealthConfig(failure_threshold=5, open_for=30.0),
    )
    for _ in range(5):
        assert (await r.chat(MODEL, HI)).deployment == "b"
    assert a.calls == 5
    t_open = now()
    for _ in range(3):  # open: a is not even tried
        assert (await r.chat(MODEL, HI)).deployment == "b"
    assert a.calls == 5
    await asyncio.sleep(30.0 - (now() - t_open) + 0.001)
    # half-open: concurrent requests, exactly one probes a, the others go to b
    a.steps = [Step(ttft=1.0)]
    replies = await asyncio.gather(*(r.chat(MODEL, HI) for _ in range(4)))
    assert sorted(x.deployment for x in replies) == ["a", "b", "b", "b"]
    assert a.calls == 6
    # the probe succeeded: closed again, a is first choice
    assert (await r.chat(MODEL, HI)).deployment == "a"


# -- deadlines and stream timeouts -----------------------------------------------------------


async def test_deadline_bounds_everything() -> None:
    stall = Step(ttft=1000.0)
    a = ScriptedBackend("a", stall)
    b = ScriptedBackend("b", stall)
    r = router(a, b, timeouts=Timeouts(total=10.0))
    t0 = now()
    with pytest.raises(DeadlineExceededError) as info:
        await r.chat(MODEL, HI)
    elapsed = now() - t0
    assert 10.0 <= elapsed <= 10.0 + 0.01  # stated tolerance: 10 ms
    assert [x.error for x in info.value.route] == ["ProviderTimeoutError"]
    assert a.records[0].cancelled


async def test_stream_first_token_timeout_fails_over() -> None:
    a = ScriptedBackend("a", Step(ttft=60.0))
    b = ScriptedBackend("b", Step(ttft=0.5))
    r = router(a, b, timeouts=Timeouts(total=30.0, first_token=2.0), retry=RetryPolicy(0))
    t0 = now()
    texts, response = await collect(r)
    assert response.deployment == "b"
    assert "".join(texts) == "Hello, world!"
    assert response.time_to_first_token_s == pytest.approx(2.5)
    assert b.records[0].started - t0 == pytest.approx(2.0)
    assert a.records[0].cancelled


async def test_stream_idle_timeout_interrupts_after_text() -> None:
    a = ScriptedBackend("a", Step(tokens=("a", "b", "c"), token_delay=100.0))
    b = ScriptedBackend("b")
    r = router(a, b, timeouts=Timeouts(total=300.0, idle=5.0))
    with pytest.raises(StreamInterruptedError) as info:
        await collect(r)
    assert info.value.partial_text == "a"
    assert b.calls == 0


async def test_stream_idle_timeout_measures_exactly_the_wait_for_a_chunk() -> None:
    # Chunks 4 s apart stay under a 5 s idle timeout, however long the stream runs.
    a = ScriptedBackend("a", Step(tokens=("a", "b", "c", "d"), token_delay=4.0))
    r = router(a, timeouts=Timeouts(total=300.0, idle=5.0))
    texts, _ = await collect(r)
    assert texts == ["a", "b", "c", "d"]
    # A gap of 6 s fails exactly 5 s after the last chunk (which came at the 0.1 s TTFT).
    slow = ScriptedBackend("slow", Step(tokens=("a", "b"), token_delay=6.0))
    r = router(slow, timeouts=Timeouts(total=300.0, idle=5.0))
    start = now()
    with pytest.raises(StreamInterruptedError) as info:
        await collect(r)
    assert info.value.partial_text == "a"
    assert now() - start == pytest.approx(0.1 + 5.0)


async def test_time_the_caller_spends_between_chunks_is_not_idleness() -> None:
    a = ScriptedBackend("a", Step(tokens=("a", "b", "c")))
    r = router(a, timeouts=Timeouts(total=300.0, idle=5.0))
    texts: list[str] = []
    async with r.stream(MODEL, HI) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                texts.append(event.text)
                await asyncio.sleep(20.0)  # a slow consumer, four idle timeouts long
    assert texts == ["a", "b", "c"]
    assert stream.response.text == "abc"


async def test_the_deadline_cuts_a_stream_that_never_stalls() -> None:
    a = ScriptedBackend("a", Step(tokens=tuple("abcdefghij"), token_delay=3.0))
    r = router(a, timeouts=Timeouts(total=10.0, idle=5.0))
    start = now()
    with pytest.raises(StreamInterruptedError) as info:
        await collect(r)
    assert info.value.partial_text == "abcd"
    assert now() - start == pytest.approx(10.0, abs=0.02)


async def test_without_a_budget_no_spend_history_is_kept() -> None:
    store = InMemoryStore()
    a = ScriptedBackend("a", local=False, price=(1.0, 2.0))
    r = router(a, store=store)
    response = await r.chat(MODEL, HI)
    assert response.cost_usd is not None
    assert response.cost_usd > 0
    assert await store.spent(now(), 10**9) == 0.0  # a long-running router does not grow


# -- streams: no retry after the first token, continuation ----------------------------------


async def test_no_retry_once_a_token_reached_the_caller() -> None:
    a = ScriptedBackend("a", Step(error=unavailable, fail_after=2))
    b = ScriptedBackend("b")
    r = router(a, b, retry=RetryPolicy(max_retries=3))
    events: list[StreamEvent] = []
    with pytest.raises(StreamInterruptedError) as info:
        await drain(r.stream(MODEL, HI), events)
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hello", ","]
    assert info.value.partial_text == "Hello,"
    assert (a.calls, b.calls) == (1, 0)


async def test_stream_fails_over_before_the_first_token() -> None:
    a = ScriptedBackend("a", Step(error=unavailable, fail_after=0))
    b = ScriptedBackend("b")
    texts, response = await collect(router(a, b, retry=RetryPolicy(0)))
    assert "".join(texts) == "Hello, world!"
    assert [x.deployment for x in response.route] == ["a", "b"]


async def test_continuation_loses_and_duplicates_no_text() -> None:
    a = ScriptedBackend(
        "a", Step(tokens=("The", " quick", " brown", " fox"), error=unavailable, fail_after=3)
    )
    b = ScriptedBackend("b", Step(tokens=(" fox", " jumps", ".")))
    r = router(a, b, continuation=True)
    texts, response = await collect(r)
    assert texts == ["The", " quick", " brown", " fox", " jumps", "."]
    assert response.text == "".join(texts) == "The quick brown fox jumps."
    # b was asked to continue from exactly the delivered text
    continued = b.records[0].request.messages
    assert continued[-1].role == "assistant"
    assert continued[-1].content == "The quick brown"
    assert continued[:-1] == a.records[0].request.messages
    (resume,) = response.continuations
    assert (resume.deployment, resume.offset) == ("b", len("The quick brown"))
    assert [x.outcome for x in response.route] == ["error", "ok"]


async def test_continuation_with_no_deployment_left_raises_with_partial_text() -> None:
    a = ScriptedBackend("a", Step(error=unavailable, fail_after=1))
    with pytest.raises(StreamInterruptedError) as info:
        await collect(router(a, continuation=True))
    assert info.value.partial_text == "Hello"


# -- hedging ------------------------------------------------------------------------------------


async def test_hedge_returns_the_faster_answer_and_cancels_the_slower() -> None:
    slow = ScriptedBackend("slow", Step(ttft=5.0))
    fast = ScriptedBackend("fast", Step(ttft=0.3))
    r = router(slow, fast, hedging=Hedging(delay=1.0, max_share=1.0))
    t0 = now()
    _, response = await collect(r)
    assert response.deployment == "fast"
    assert now() - t0 == pytest.approx(1.0 + 0.3 + 0.03)  # hedge delay + ttft + 3 token gaps
    assert slow.records[0].cancelled
    outcomes = {(x.deployment, x.outcome, x.hedged) for x in response.route}
    assert ("slow", "cancelled", False) in outcomes
    assert ("fast", "ok", True) in outcomes


async def test_hedge_not_started_when_the_primary_is_quick() -> None:
    a = ScriptedBackend("a", Step(ttft=0.2))
    b = ScriptedBackend("b")
    reply = await router(a, b, hedging=Hedging(delay=1.0, max_share=1.0)).chat(MODEL, HI)
    assert reply.deployment == "a"
    assert b.calls == 0


async def test_hedge_budget_caps_the_share_of_hedged_requests() -> None:
    slow = ScriptedBackend("slow", Step(ttft=5.0))
    fast = ScriptedBackend("fast", Step(ttft=0.1))
    r = router(slow, fast, hedging=Hedging(delay=1.0, max_share=0.1))
    for _ in range(50):
        await r.chat(MODEL, HI)
    assert fast.calls <= 0.1 * 50 + 1
    assert fast.calls >= 1


async def test_hedge_delay_follows_the_primary_p95_ttft() -> None:
    # a's TTFTs are 0.10, 0.11, ... 0.29 s: its p95 is 0.28 s
    a = ScriptedBackend("a", [Step(ttft=0.10 + i / 100, tokens=("x",)) for i in range(20)])
    b = ScriptedBackend("b", Step(ttft=0.5, tokens=("y",)))
    r = router(a, b, hedging=Hedging(max_share=1.0))
    for _ in range(20):
        texts, _ = await collect(r)
        assert texts == ["x"]  # b is slower than a's tail: a always wins
    a.steps = [Step(ttft=10.0, tokens=("x",))]
    t0 = now()
    texts, _ = await collect(r)
    assert texts == ["y"]
    assert now() - t0 == pytest.approx(0.28 + 0.5, abs=0.005)  # hedged at a's p95


# -- budget and limits --------------------------------------------------------------------------


async def test_budget_exhaustion_falls_back_to_local() -> None:
    cloud = ScriptedBackend(
        "cloud", Step(tokens=("x",) * 10, prompt_tokens=1000), local=False, price=(1.0, 1.0)
    )
    local = ScriptedBackend("local")
    r = router(cloud, local, policy=cloud_first(), budget=Budget(usd=0.003, period=3600))
    first = await r.chat(MODEL, HI)
    assert first.deployment == "cloud"
    assert first.cost_usd == pytest.approx(1010 / 1e6)
    answered = [(await r.chat(MODEL, HI)).deployment for _ in range(4)]
    assert answered[0] == "cloud"
    assert "local" in answered
    spent = sum((1010 / 1e6) for d in ["cloud", *answered] if d == "cloud")
    assert spent <= 0.003 + 1010 / 1e6  # never more than one request past the cap


async def test_budget_exhaustion_without_a_free_deployment_raises() -> None:
    cloud = ScriptedBackend("cloud", Step(prompt_tokens=5000), local=False, price=(1.0, 1.0))
    r = router(cloud, budget=Budget(usd=0.004, period=60))
    await r.chat(MODEL, HI)
    with pytest.raises(BudgetExceededError) as info:
        await r.chat(MODEL, HI)
    assert "budget" in str(info.value)
    await asyncio.sleep(61)  # the rolling period has passed
    assert (await r.chat(MODEL, HI)).deployment == "cloud"


async def test_concurrency_limit_is_never_exceeded() -> None:
    a = ScriptedBackend("a", Step(ttft=1.0), max_concurrency=2)
    b = ScriptedBackend("b", Step(ttft=1.0), max_concurrency=3)
    r = router(a, b)
    replies = await asyncio.gather(*(r.chat(MODEL, HI) for _ in range(12)))
    assert a.max_in_flight <= 2
    assert b.max_in_flight <= 3
    assert len(replies) == 12
    assert a.calls + b.calls == 12


async def test_rpm_limit_is_never_exceeded_and_queues_up_to_the_deadline() -> None:
    a = ScriptedBackend("a", Step(ttft=0.1), rpm=3)
    r = router(a, timeouts=Timeouts(total=120.0))
    t0 = now()
    await asyncio.gather(*(r.chat(MODEL, HI) for _ in range(5)))
    starts = sorted(rec.started - t0 for rec in a.records)
    assert starts[:3] == pytest.approx([0, 0, 0], abs=1e-6)
    assert starts[3] >= 60.0  # the 4th waits for the first minute to pass
    for i in range(len(starts)):
        in_window = [s for s in starts if starts[i] - 60 < s <= starts[i]]
        assert len(in_window) <= 3


async def test_rpm_limit_skips_to_another_deployment_when_one_is_available() -> None:
    a = ScriptedBackend("a", Step(ttft=0.1), rpm=2)
    b = ScriptedBackend("b", Step(ttft=0.1))
    r = router(a, b)
    replies = await asyncio.gather(*(r.chat(MODEL, HI) for _ in range(5)))
    assert [x.deployment for x in replies].count("a") == 2
    assert b.calls == 3


async def test_limit_wait_respects_the_deadline() -> None:
    a = ScriptedBackend("a", Step(ttft=0.1), rpm=1)
    r = router(a, timeouts=Timeouts(total=5.0))
    await r.chat(MODEL, HI)
    t0 = now()
    with pytest.raises(DeadlineExceededError):
        await r.chat(MODEL, HI)
    assert now() - t0 <= 5.0 + 0.01


# -- policies over live health ----------------------------------------------------------------


async def test_lowest_latency_converges_on_the_fastest_and_still_explores() -> None:
    backends = [
        ScriptedBackend(n, Step(ttft=t)) for n, t in (("slow", 1.0), ("medium", 0.5), ("fast", 0.2))
    ]
    r = router(*backends, policy=lowest_latency(explore=0.1, rng=random.Random(3)))
    chosen = [(await r.chat(MODEL, HI)).deployment for _ in range(200)]
    assert chosen[-100:].count("fast") >= 85
    assert all(b.calls >= 3 for b in backends)


async def test_lowest_cost_picks_the_cheapest_that_fits() -> None:
    small = ScriptedBackend("cheap-small", local=False, price=(0.05, 0.08), context_window=512)
    mid = ScriptedBackend("mid", local=False, price=(0.2, 0.2), context_window=8192)
    rich = ScriptedBackend("pricey", local=False, price=(3.0, 3.0), context_window=131072)
    r = router(rich, mid, small, policy=lowest_cost())
    assert (await r.chat(MODEL, HI, max_tokens=100)).deployment == "cheap-small"
    assert (await r.chat(MODEL, HI, max_tokens=1000)).deployment == "mid"
    assert (await r.chat(MODEL, HI, max_tokens=10000)).deployment == "pricey"


async def test_local_first_falls_back_to_cloud_when_local_is_down() -> None:
    local = ScriptedBackend("local", Step(ttft=0, error=unavailable))
    cloud = ScriptedBackend("cloud", local=False, price=(0.1, 0.1))
    r = router(cloud, local, policy=local_first(), retry=RetryPolicy(0))
    reply = await r.chat(MODEL, HI)
    assert [x.deployment for x in reply.route] == ["local", "cloud"]
    local.steps = [Step()]
    assert (await r.chat(MODEL, HI)).deployment == "local"


async def test_cloud_first_uses_local_as_last_resort() -> None:
    local = ScriptedBackend("local")
    cloud = ScriptedBackend("cloud", Step(ttft=0, error=unavailable), local=False)
    r = router(local, cloud, policy=cloud_first(), retry=RetryPolicy(0))
    reply = await r.chat(MODEL, HI)
    assert [x.deployment for x in reply.route] == ["cloud", "local"]


async def test_quota_nearly_spent_is_deprioritised_before_a_429() -> None:
    from llama_router.ratelimits import RateLimitInfo

    low = RateLimitInfo(limit_tokens=6000, remaining_tokens=100, reset_tokens=20.0)
    a = ScriptedBackend("a", [Step(rate_limits=low), Step()])
    b = ScriptedBackend("b")
    r = router(a, b)
    assert (await r.chat(MODEL, HI)).deployment == "a"
    assert (await r.chat(MODEL, HI)).deployment == "b"  # a's quota is nearly spent
    await asyncio.sleep(21)
    assert (await r.chat(MODEL, HI)).deployment == "a"  # reset passed


async def test_no_deployment_available_lists_reasons() -> None:
    a = ScriptedBackend("a", context_window=100)
    with pytest.raises(NoDeploymentAvailableError) as info:
        await router(a).chat(MODEL, HI, max_tokens=500)
    assert "context window" in info.value.reasons["a"]


async def test_all_failed_lists_every_attempt() -> None:
    a = ScriptedBackend("a", Step(error=unavailable))
    b = ScriptedBackend("b", Step(error=unavailable))
    with pytest.raises(AllDeploymentsFailedError) as info:
        await router(a, b, retry=RetryPolicy(0)).chat(MODEL, HI)
    assert [x.deployment for x in info.value.route] == ["a", "b"]


# -- active probes -------------------------------------------------------------------------------


async def test_probes_open_the_circuit_of_a_dead_local_engine_before_users_hit_it() -> None:
    local = ScriptedBackend("local", healthy=False)
    cloud = ScriptedBackend("cloud", local=False)
    store = InMemoryStore(HealthConfig(failure_threshold=3))
    async with Router([local, cloud], policy=local_first(), probe_interval=5.0, store=store) as r:
        await asyncio.sleep(11)  # probes at 0, 5, 10
        reply = await r.chat(MODEL, HI)
        assert reply.deployment == "cloud"
        assert local.calls == 0
        local.healthy = True
    assert r._prober is not None
    assert r._prober._task is None


async def test_a_cancelled_probe_does_not_leave_the_circuit_stuck_half_open() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=unavailable)] * 5 + [Step(ttft=10.0)])
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, retry=RetryPolicy(max_retries=0), health=HealthConfig(open_for=30.0))
    for _ in range(5):
        await r.chat(MODEL, HI)
    await asyncio.sleep(31)
    probe = asyncio.create_task(r.chat(MODEL, HI))  # takes the half-open probe on a
    await asyncio.sleep(1)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    a.steps = [Step(ttft=0)]
    assert (await r.chat(MODEL, HI)).deployment == "a"  # the probe slot was given back
