"""Router-level tests of the outcome rules, in virtual time: the two rules that were wrong
(a first-token stall retried on the stalled deployment; a cooling deployment silently
skipped), continuation re-ranking, and every rule a mutation run found unpinned (the auth
cooldown, a cold start retried, a 429 counted against health, cost not summed over the
attempts, the hedge-race tie, the half-open probe given back)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from llama_router import (
    AllDeploymentsFailedError,
    AuthenticationError,
    ColdStartError,
    FirstTokenTimeoutError,
    ProviderTimeoutError,
    Router,
    StreamDone,
    StreamInterruptedError,
    TextDelta,
)
from llama_router.routing import (
    Candidate,
    Filter,
    HealthConfig,
    RoutingContext,
    lowest_latency,
    ordered,
)
from llama_router.routing.options import Hedging, RetryPolicy, Timeouts
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


async def collect(r: Router) -> Any:
    async with r.stream(MODEL, HI) as stream:
        async for event in stream:
            assert isinstance(event, (TextDelta, StreamDone))
    return stream.response


# -- a first-token stall fails over at once --------------------------------------------------


async def test_a_first_token_stall_fails_over_at_once_whatever_the_retry_policy() -> None:
    stalls = ScriptedBackend("stalls", Step(ttft=600.0))
    fine = ScriptedBackend("fine", Step(ttft=0.1))
    r = router(
        stalls,
        fine,
        timeouts=Timeouts(total=120.0, first_token=0.5),
        retry=RetryPolicy(max_retries=3),
    )
    t0 = now()
    response = await collect(r)
    assert response.deployment == "fine"
    assert stalls.calls == 1  # not tried again
    assert fine.records[0].started - t0 == pytest.approx(0.5)
    assert [(a.deployment, a.error) for a in response.route] == [
        ("stalls", "FirstTokenTimeoutError"),
        ("fine", None),
    ]


async def test_a_first_token_stall_is_retried_here_when_the_user_opts_in() -> None:
    stalls = ScriptedBackend("stalls", [Step(ttft=600.0), Step(ttft=0.1)])
    fine = ScriptedBackend("fine")
    r = router(
        stalls,
        fine,
        timeouts=Timeouts(first_token=0.5),
        retry=RetryPolicy(max_retries=1, retry_first_token_timeouts=True),
    )
    response = await collect(r)
    assert response.deployment == "stalls"
    assert (stalls.calls, fine.calls) == (2, 0)


async def test_a_stall_on_the_only_deployment_raises_the_typed_timeout() -> None:
    r = router(ScriptedBackend("stalls", Step(ttft=600.0)), timeouts=Timeouts(first_token=1.0))
    with pytest.raises(AllDeploymentsFailedError, match="every deployment") as info:
        await collect(r)
    assert [type(e) for e in info.value.errors] == [FirstTokenTimeoutError]


# -- a cooling deployment is waited for, or named ---------------------------------------------


async def test_a_deployment_cooling_down_until_before_the_deadline_is_waited_for() -> None:
    # A said "come back in 3 s" (longer than max_retry_after), B always fails: the request
    # waits for A rather than giving up after B.
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(3.0)), Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0, error=unavailable))
    r = router(a, b, retry=RetryPolicy(max_retry_after=1), timeouts=Timeouts(total=30))
    t0 = now()
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "a"
    assert now() - t0 == pytest.approx(3.0, abs=0.2)
    assert [(x.deployment, x.outcome) for x in reply.route] == [
        ("a", "error"),
        ("b", "error"),
        ("b", "error"),  # the default single retry of a 503
        ("a", "ok"),
    ]


async def test_the_next_request_also_waits_for_the_cooling_deployment() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(3.0)), Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0, error=unavailable))
    r = router(a, b, retry=RetryPolicy(max_retries=0, max_retry_after=1))
    first = await r.chat(MODEL, HI)  # a: 429, b: 503, then back to a
    assert first.deployment == "a"
    a.steps = [Step(ttft=0, error=rate_limited(3.0)), Step(ttft=0)]
    a.records.clear()
    second = await r.chat(MODEL, HI)
    assert second.deployment == "a"
    assert a.calls == 2


async def test_a_deployment_cooling_past_the_deadline_is_named_in_the_error() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=rate_limited(60.0)))
    b = ScriptedBackend("b", Step(ttft=0, error=unavailable))
    r = router(a, b, retry=RetryPolicy(max_retries=0), timeouts=Timeouts(total=30))
    with pytest.raises(AllDeploymentsFailedError) as first:
        await r.chat(MODEL, HI)
    assert [x.deployment for x in first.value.route] == ["a", "b"]
    t0 = now()
    with pytest.raises(AllDeploymentsFailedError, match=r"not tried: a: cooling down") as info:
        await r.chat(MODEL, HI)  # a is still cooling: only b is tried, and a is named
    assert now() - t0 < 0.1
    assert [x.deployment for x in info.value.route] == ["b"]
    assert "past the request's deadline" in str(info.value)


async def test_max_cooldown_wait_zero_fails_fast_and_names_the_deployment() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=rate_limited(3.0)), Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0, error=unavailable))
    r = router(a, b, retry=RetryPolicy(max_retries=0, max_retry_after=1, max_cooldown_wait=0))
    t0 = now()
    with pytest.raises(AllDeploymentsFailedError, match="max_cooldown_wait"):
        await r.chat(MODEL, HI)
    assert now() - t0 < 0.1


async def test_a_deployment_is_returned_to_at_most_once_per_request() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=rate_limited(2.0)))
    r = router(a, retry=RetryPolicy(max_retries=0), timeouts=Timeouts(total=60))
    t0 = now()
    with pytest.raises(AllDeploymentsFailedError):
        await r.chat(MODEL, HI)
    assert a.calls == 2
    assert now() - t0 == pytest.approx(2.0, abs=0.1)


async def test_a_deployment_that_failed_otherwise_is_not_returned_to() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=unavailable), Step(ttft=0)])
    r = router(a, retry=RetryPolicy(max_retries=0))
    with pytest.raises(AllDeploymentsFailedError):
        await r.chat(MODEL, HI)
    assert a.calls == 1


# -- continuation re-ranks with current health -----------------------------------------------


async def test_continuation_reranks_with_the_health_learned_during_the_stream() -> None:
    # lowest_latency ranks a, b, c at the start; while a streams, b turns slow and c fast,
    # so the continuation goes to c (the ranking made at the start would say b).
    a = ScriptedBackend(
        "a", Step(ttft=0, tokens=("x",) * 6, token_delay=1.0, error=unavailable, fail_after=5)
    )
    b = ScriptedBackend("b", Step(ttft=0.1))
    c = ScriptedBackend("c", Step(ttft=0.1))
    r = router(a, b, c, policy=lowest_latency(explore=0.0), continuation=True)
    await samples(r, a=0.05, b=0.2, c=2.0)
    ranked = [row.deployment for row in (await r.explain(MODEL, HI)).rows]
    assert ranked == ["a", "b", "c"]

    async def meanwhile() -> None:
        await asyncio.sleep(2.5)  # a is streaming
        await samples(r, b=5.0, c=0.01)

    side = asyncio.create_task(meanwhile())
    response = await collect(r)
    await side
    assert [x.deployment for x in response.continuations] == ["c"]
    assert b.calls == 0


async def samples(r: Router, **ttft: float) -> None:
    """Latency statistics for deployments, as if each had answered 20 times so fast."""
    for _ in range(20):
        for name, seconds in ttft.items():
            await r.store.record_success(
                name, now(), ttft=seconds, output_tokens=10, generation_s=0.1, rate_limits=None
            )


# -- rules a mutation run found unpinned -------------------------------------------------------


async def test_an_auth_error_keeps_the_deployment_out_for_ten_circuit_open_times() -> None:
    def auth(name: str) -> AuthenticationError:
        return AuthenticationError("401", provider="scripted", deployment=name, status_code=401)

    a = ScriptedBackend("a", [Step(ttft=0, error=auth), Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, health=HealthConfig(open_for=3.0))
    assert (await r.chat(MODEL, HI)).deployment == "b"
    await asyncio.sleep(29.0)
    assert (await r.chat(MODEL, HI)).deployment == "b"  # still out at 29 s
    assert a.calls == 1
    await asyncio.sleep(1.1)
    assert (await r.chat(MODEL, HI)).deployment == "a"  # back after 30 s


async def test_a_cold_start_fails_over_at_once_without_a_retry() -> None:
    def cold(name: str) -> ColdStartError:
        return ColdStartError("booting", provider="scripted", deployment=name, status_code=503)

    a = ScriptedBackend("a", [Step(ttft=0, error=cold), Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, retry=RetryPolicy(max_retries=3))
    t0 = now()
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "b"
    assert a.calls == 1
    assert now() - t0 < 0.1  # no backoff
    assert (await r.store.snapshot(["a"], now()))["a"].loaded is False


async def test_429s_never_open_the_circuit() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=rate_limited(0.5)))
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(
        a,
        b,
        retry=RetryPolicy(max_retries=0, max_cooldown_wait=0),
        health=HealthConfig(failure_threshold=2, min_calls=2, failure_rate=0.5),
    )
    for _ in range(6):
        await r.chat(MODEL, HI)
        await asyncio.sleep(1.0)  # past each cooldown
    health = (await r.store.snapshot(["a"], now()))["a"]
    assert health.circuit == "closed"
    assert a.calls == 6  # tried every time: the 429s cooled it down, never opened it


async def test_a_response_costs_every_attempt_including_the_failed_one() -> None:
    a = ScriptedBackend(
        "a",
        Step(ttft=0, tokens=("x",) * 4, error=unavailable, fail_after=3),
        price=(1_000_000.0, 1_000_000.0),  # $1 per token
    )
    b = ScriptedBackend("b", Step(ttft=0, prompt_tokens=0), price=(1_000_000.0, 1_000_000.0))
    r = router(a, b, continuation=True)
    response = await collect(r)
    failed, ok = response.route
    assert failed.cost_usd == pytest.approx(3.0)  # three tokens received before the failure
    assert ok.cost_usd == pytest.approx(4.0)
    assert response.cost_usd == pytest.approx(7.0)


async def test_a_hedge_tie_goes_to_the_primary_and_the_other_stream_is_closed() -> None:
    # The hedge starts at 1 s and both produce their first token at exactly 2 s.
    a = ScriptedBackend("a", Step(ttft=2.0))
    b = ScriptedBackend("b", Step(ttft=1.0))
    r = router(a, b, hedging=Hedging(delay=1.0, max_share=1.0))
    response = await collect(r)
    assert response.deployment == "a"
    assert b.calls == 1
    assert b.records[0].cancelled  # the losing stream was closed, not left open
    assert b.in_flight == 0


async def test_a_stream_abandoned_during_a_half_open_probe_gives_the_probe_back() -> None:
    a = ScriptedBackend("a", [Step(ttft=0, error=unavailable)] * 5 + [Step(ttft=0)])
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, retry=RetryPolicy(max_retries=0), health=HealthConfig(open_for=30.0))
    for _ in range(5):
        await r.chat(MODEL, HI)
    await asyncio.sleep(31)
    async with r.stream(MODEL, HI) as stream:  # the half-open probe goes to a
        async for event in stream:
            assert isinstance(event, TextDelta)
            break  # the caller leaves mid-stream
    probe = (await r.store.snapshot(["a"], now()))["a"]
    assert probe.probe_in_flight is False
    assert (await r.chat(MODEL, HI)).deployment == "a"


# -- what each attempt records -------------------------------------------------------------------


async def test_the_route_records_each_attempt_with_its_status_timing_and_retry_after() -> None:
    a = ScriptedBackend("a", Step(ttft=0.5, error=rate_limited(60.0)))
    b = ScriptedBackend("b", Step(ttft=0.25, error=unavailable))
    c = ScriptedBackend("c", Step(ttft=0.125, tokens=("ok",), token_delay=0.0))
    r = router(a, b, c, retry=RetryPolicy(max_retries=0))
    t0 = now()
    reply = await r.chat(MODEL, HI)
    first, second, third = reply.route
    assert (first.deployment, first.outcome, first.error) == ("a", "error", "RateLimitedError")
    assert (first.status_code, first.retry_after) == (429, 60.0)
    assert (second.status_code, second.retry_after) == (503, None)
    assert (third.outcome, third.error, third.status_code) == ("ok", None, None)
    assert first.started_at == pytest.approx(t0)
    assert second.started_at == pytest.approx(t0 + 0.5)
    assert third.started_at == pytest.approx(t0 + 0.75)
    assert [x.elapsed_s for x in reply.route] == pytest.approx([0.5, 0.25, 0.125])
    assert not any(x.hedged for x in reply.route)
    assert reply.latency_s == pytest.approx(0.875)


async def test_a_chat_measures_ttft_as_latency_less_the_reported_generation() -> None:
    a = ScriptedBackend("a", Step(ttft=0.5, tokens=("a", "b", "c", "d"), token_delay=0.25))
    r = router(a)
    reply = await r.chat(MODEL, HI)
    assert reply.time_to_first_token_s == reply.latency_s == pytest.approx(1.5)
    health = (await r.store.snapshot(["a"], now()))["a"]
    assert health.ttft_ewma == pytest.approx(0.5)  # 1.5 s less the 1.0 s of generation
    assert health.tps_ewma == pytest.approx(4.0)  # 4 tokens in the reported 1.0 s


async def test_a_hedged_answer_and_its_cancelled_rival_are_marked_in_the_route() -> None:
    slow = ScriptedBackend("slow", Step(ttft=10.0))
    fast = ScriptedBackend("fast", Step(ttft=0.5))
    r = router(slow, fast, hedging=Hedging(delay=1.0, max_share=1.0))
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "fast"
    outcomes = {(x.deployment, x.outcome, x.hedged) for x in reply.route}
    assert outcomes == {("fast", "ok", True), ("slow", "cancelled", False)}
    assert await r.store.hedged_share() == 1.0


async def test_a_failed_hedge_is_marked_hedged_in_the_route() -> None:
    slow = ScriptedBackend("slow", Step(ttft=3.0))
    bad = ScriptedBackend("bad", Step(ttft=0.5, error=unavailable))
    r = router(slow, bad, hedging=Hedging(delay=1.0, max_share=1.0), retry=RetryPolicy(0))
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "slow"
    failed = [x for x in reply.route if x.deployment == "bad"]
    assert [(x.outcome, x.hedged) for x in failed] == [("error", True)]
    assert [x.hedged for x in reply.route if x.deployment == "slow"] == [False]


async def test_an_unhedged_request_records_no_cancelled_attempt() -> None:
    a = ScriptedBackend("a", Step(ttft=100.0))
    r = router(a, timeouts=Timeouts(total=5.0))
    with pytest.raises(AllDeploymentsFailedError) as info:
        await r.chat(MODEL, HI)
    assert [x.outcome for x in info.value.route] == ["error"]


async def test_the_tpm_slot_counts_the_prompt_estimate_plus_max_tokens() -> None:
    # Each request reserves its prompt estimate + max_tokens: two of 400 fit in 1,000 TPM.
    a = ScriptedBackend("a", Step(ttft=0.1), tpm=1000)
    r = router(a, timeouts=Timeouts(total=300.0))
    t0 = now()
    await asyncio.gather(*(r.chat(MODEL, HI, max_tokens=400) for _ in range(3)))
    starts = sorted(rec.started - t0 for rec in a.records)
    assert starts[:2] == pytest.approx([0.0, 0.0], abs=1e-6)
    assert starts[2] >= 60.0


async def test_after_a_context_overflow_only_larger_windows_are_waited_for() -> None:
    from llama_router import ContextLengthExceededError

    def overflow(name: str) -> ContextLengthExceededError:
        return ContextLengthExceededError(
            "too long", provider="scripted", deployment=name, status_code=400
        )

    small = ScriptedBackend("small", Step(ttft=0, error=overflow), context_window=8_000)
    tiny = ScriptedBackend("tiny", Step(ttft=0), context_window=4_000)
    big = ScriptedBackend("big", Step(ttft=0), context_window=128_000)
    r = router(small, tiny, big, retry=RetryPolicy(max_retries=0))
    await r.store.record_failure("big", now(), "x", counts_against_health=False, cooldown=2.0)
    await r.store.record_failure("tiny", now(), "x", counts_against_health=False, cooldown=1.0)
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "big"  # tiny came back first but its window is smaller
    assert tiny.calls == 0


async def test_explain_reflects_new_health_and_settings_not_a_stale_snapshot() -> None:
    a = ScriptedBackend("a", Step(ttft=0), price=(1.0, 2.0))
    r = router(a)
    first = (await r.explain(MODEL, HI, max_tokens=100)).rows[0]
    again = (await r.explain(MODEL, HI, max_tokens=100)).rows[0]
    longer = (await r.explain(MODEL, HI, max_tokens=1000)).rows[0]
    assert again.est_cost_usd == first.est_cost_usd
    assert longer.est_cost_usd is not None
    assert first.est_cost_usd is not None
    assert longer.est_cost_usd > first.est_cost_usd
    await r.store.record_failure("a", now(), "x", counts_against_health=False, cooldown=30.0)
    assert (await r.explain(MODEL, HI, max_tokens=100)).rows[0].status != first.status


# -- more of the walk ------------------------------------------------------------------------------


async def test_when_every_deployment_is_at_its_limit_the_soonest_slot_is_taken() -> None:
    a = ScriptedBackend("a", Step(ttft=0), rpm=1)
    b = ScriptedBackend("b", Step(ttft=0), rpm=1)
    r = router(a, b, timeouts=Timeouts(total=300.0))
    t0 = now()
    assert (await r.chat(MODEL, HI)).deployment == "a"  # a's slot frees at 60 s
    await asyncio.sleep(30.0)
    assert (await r.chat(MODEL, HI)).deployment == "b"  # b's frees at 90 s
    await asyncio.sleep(10.0)
    reply = await r.chat(MODEL, HI)  # both full: a's slot is the sooner
    assert reply.deployment == "a"
    assert a.records[-1].started - t0 == pytest.approx(60.0, abs=0.001)


async def test_the_final_error_says_what_failed_and_what_was_left_out() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=rate_limited(60.0)))
    b = ScriptedBackend("b", Step(ttft=0, error=unavailable))
    r = router(a, b, retry=RetryPolicy(max_retries=0), timeouts=Timeouts(total=30))
    with pytest.raises(AllDeploymentsFailedError):
        await r.chat(MODEL, HI)
    await asyncio.sleep(10.0)
    with pytest.raises(AllDeploymentsFailedError) as info:
        await r.chat(MODEL, HI)
    first_line = str(info.value).splitlines()[0]
    assert first_line == (
        "every deployment of 'llama-3.1-8b' failed (not tried: a: cooling down for 50.0 s "
        "more, past the request's deadline)"
    )
    assert [x.deployment for x in info.value.route] == ["b"]
    assert [type(e).__name__ for e in info.value.errors] == ["ProviderUnavailableError"]


async def test_a_hedge_partner_that_failed_is_not_tried_again() -> None:
    slow = ScriptedBackend("slow", Step(ttft=3.0, error=unavailable))
    bad = ScriptedBackend("bad", Step(ttft=0.5, error=unavailable))
    spare = ScriptedBackend("spare", Step(ttft=0))
    r = router(slow, bad, spare, hedging=Hedging(delay=1.0, max_share=1.0), retry=RetryPolicy(0))
    reply = await r.chat(MODEL, HI)
    assert reply.deployment == "spare"
    assert (slow.calls, bad.calls, spare.calls) == (1, 1, 1)


class NoStreamsOn(Filter):
    """A user's filter that reads the snapshot's ``stream`` flag."""

    def __init__(self, name: str) -> None:
        self.name = name

    def reject(self, ctx: RoutingContext, candidate: Candidate) -> str | None:
        return "no streams here" if ctx.stream and candidate.name == self.name else None


async def test_policies_see_whether_the_request_is_a_stream() -> None:
    a = ScriptedBackend("a", Step(ttft=0))
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, policy=ordered().with_filters(NoStreamsOn("a")))
    assert (await r.chat(MODEL, HI)).deployment == "a"
    assert (await collect(r)).deployment == "b"


# -- what a stream reports ------------------------------------------------------------------------


async def test_a_stream_reports_its_timings_and_its_route() -> None:
    a = ScriptedBackend("a", Step(ttft=0.5, tokens=("a", "b", "c"), token_delay=0.25))
    r = router(a)
    t0 = now()
    response = await collect(r)
    assert response.time_to_first_token_s == pytest.approx(0.5)
    assert response.latency_s == pytest.approx(1.0)
    (only,) = response.route
    assert (only.outcome, only.started_at, only.elapsed_s) == ("ok", pytest.approx(t0), 1.0)
    health = (await r.store.snapshot(["a"], now()))["a"]
    assert health.ttft_ewma == pytest.approx(0.5)
    assert health.tps_ewma == pytest.approx(4.0)  # 3 tokens in the reported 0.75 s


async def test_a_stream_failure_after_text_names_the_deployment_and_status() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=unavailable, fail_after=2))
    with pytest.raises(StreamInterruptedError) as info:
        await collect(router(a))
    error = info.value
    assert (error.provider, error.deployment, error.status_code) == ("scripted", "a", 503)
    assert str(error).startswith("[a] (HTTP 503) the stream failed after text was delivered: ")
    assert error.partial_text == "Hello,"


async def test_a_first_token_timeout_names_the_deployment() -> None:
    r = router(ScriptedBackend("a", Step(ttft=60.0)), timeouts=Timeouts(first_token=2.0))
    with pytest.raises(AllDeploymentsFailedError) as info:
        await collect(r)
    (error,) = info.value.errors
    assert isinstance(error, FirstTokenTimeoutError)
    assert (error.provider, error.deployment) == ("scripted", "a")
    assert "no first token within 2 s" in str(error)


async def test_an_idle_stall_names_the_deployment() -> None:
    a = ScriptedBackend("a", Step(ttft=0, tokens=("a", "b"), token_delay=100.0))
    with pytest.raises(StreamInterruptedError) as info:
        await collect(router(a, timeouts=Timeouts(idle=5.0)))
    cause = info.value.__cause__
    assert isinstance(cause, ProviderTimeoutError)
    assert (cause.provider, cause.deployment) == ("scripted", "a")
    assert "the stream stalled for 5 s" in str(cause)


async def test_no_retries_means_one_try_per_deployment() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=unavailable))
    b = ScriptedBackend("b", Step(ttft=0))
    reply = await router(a, b, retry=RetryPolicy(max_retries=0)).chat(MODEL, HI)
    assert (a.calls, reply.deployment) == (1, "b")


async def test_the_last_error_of_a_deployment_is_its_class_name() -> None:
    a = ScriptedBackend("a", Step(ttft=0, error=unavailable))
    b = ScriptedBackend("b", Step(ttft=0))
    r = router(a, b, retry=RetryPolicy(max_retries=0))
    await r.chat(MODEL, HI)
    assert (await r.store.snapshot(["a"], now()))["a"].last_error == "ProviderUnavailableError"
