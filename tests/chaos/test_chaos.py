"""The chaos suite: thousands of requests, streaming and not, at concurrency 50, through a
router over four emulated providers (the real wire formats, through the official SDKs) with
faults injected at random from a fixed seed.

Asserted: every request ends in a complete answer or a typed error listing its attempts; no
streamed text is lost or duplicated (checked against what the emulator really sent); the
end-to-end deadline holds; a long Retry-After keeps the deployment out; completion tokens and
cost summed over every attempt equal the emulator's own count; no keys in any log or error;
no leaked tasks, sockets or memory afterwards. It prints its figures.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any

import pytest

from llama_router import (
    ChatResponse,
    Deployment,
    LlamaRouterError,
    Router,
    TextDelta,
    lowest_latency,
)
from llama_router.routing import HealthConfig
from llama_router.routing.options import RetryPolicy, Timeouts
from llama_router.testing.emulator import Behaviour, Fault, ProviderEmulator
from tests.conftest import FAKE_KEYS

REQUESTS = int(os.environ.get("CHAOS_REQUESTS", "2000"))
CONCURRENCY = 50
SEED = 2026
FAULT_RATE = 0.2
TOTAL = 6.0
TOLERANCE = 0.25  # seconds of deadline overshoot allowed (one event-loop turn under load)
LONG_RETRY_AFTER = 0.6  # above RetryPolicy.max_retry_after: the deployment must cool down
PROVIDERS = ("groq", "together", "llamacpp", "ollama")
TOKENS = ("Chaos", " tokens", " keep", " flowing", ".")
# Objects made per request; none may survive it.
PER_REQUEST = {
    "ChatResponse",
    "Attempt",
    "BackendResult",
    "ChatRequest",
    "_Run",
    "Ticket",
    "ChatStream",
    "RoutingContext",
    "Candidate",
}
PRICES = {
    "groq": (0.05, 0.08),
    "together": (0.18, 0.18),
    "llamacpp": (0.0, 0.0),
    "ollama": (0.0, 0.0),
}


def chooser(provider: str) -> Any:
    rng = random.Random(f"{SEED}-{provider}")

    def choose(_: int) -> Fault | None:
        if rng.random() >= FAULT_RATE:
            return None
        return rng.choice(
            [
                Fault.http(503),
                Fault.http(429, retry_after=0.02),
                Fault.http(429, retry_after=LONG_RETRY_AFTER),
                Fault.reset(after_tokens=rng.randint(0, 3)),
                Fault.stall(2.5, after_tokens=rng.choice([0, 2])),
                Fault.malformed(after_tokens=rng.choice([0, 2])),
                Fault.truncate(after_tokens=2),
                Fault.error_event(after_tokens=1),
            ]
        )

    return choose


@dataclass
class Outcome:
    index: int
    stream: bool
    elapsed: float
    start: float = 0.0
    response: ChatResponse | None = None
    error: LlamaRouterError | None = None
    streamed: str = ""


def rss() -> int:
    """Resident memory of this process, bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def per_request_objects() -> int:
    """Live objects of the kinds the router makes per request (other tests may hold some).
    The router keeps its last Candidate per deployment to reuse in the next snapshot, so up
    to one Candidate per deployment is not a leak."""
    kinds = [type(o).__name__ for o in gc.get_objects()]
    candidates = kinds.count("Candidate")
    others = sum(1 for kind in kinds if kind in PER_REQUEST and kind != "Candidate")
    return others + max(0, candidates - len(PROVIDERS))


def router_tasks() -> int:
    """Running asyncio tasks, not counting the emulator's connection handlers."""
    return sum(
        1
        for t in asyncio.all_tasks()
        if "ProviderEmulator" not in getattr(t.get_coro(), "__qualname__", "")
    )


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def run_one(router: Router, i: int) -> Outcome:
    stream = i % 2 == 0
    messages = [{"role": "user", "content": f"request {i}"}]
    loop = asyncio.get_running_loop()
    start = loop.time()
    outcome = Outcome(i, stream, 0.0, start)
    try:
        if stream:
            async with router.stream("llama-3.1-8b", messages) as s:
                async for event in s:
                    if isinstance(event, TextDelta):
                        outcome.streamed += event.text
            outcome.response = s.response
        else:
            outcome.response = await router.chat("llama-3.1-8b", messages)
    except LlamaRouterError as exc:
        outcome.error = exc
    outcome.elapsed = loop.time() - start
    return outcome


def build_router(emu: ProviderEmulator) -> Router:
    return Router(
        [
            Deployment(provider=p, model="llama-3.1-8b", name=p, base_url=emu.url(p))  # type: ignore[arg-type]
            for p in PROVIDERS
        ],
        policy=lowest_latency(rng=random.Random(SEED)),
        continuation=True,
        timeouts=Timeouts(total=TOTAL, first_token=1.0, idle=1.0),
        retry=RetryPolicy(max_retries=1, backoff_base=0.01, backoff_max=0.05, max_retry_after=0.05),
        health=HealthConfig(open_for=0.5, max_open_for=2.0),
        env=FAKE_KEYS,
        rng=random.Random(SEED),
    )


async def run_batch(router: Router, indices: range) -> list[Outcome]:
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def bounded(i: int) -> Outcome:
        async with semaphore:
            return await run_one(router, i)

    return await asyncio.gather(*(bounded(i) for i in indices))


def route_of(outcome: Outcome) -> tuple[Any, ...]:
    if outcome.response is not None:
        return outcome.response.route
    return tuple(getattr(outcome.error, "route", ()))


async def test_chaos(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.INFO)
    for name in ("llama_router", "groq", "together", "ollama", "replicate"):
        caplog.set_level(logging.DEBUG, logger=name)  # httpcore's DEBUG traces are too costly
    started = time.perf_counter()
    async with ProviderEmulator() as emu:
        for provider in PROVIDERS:
            emu.behave(provider, Behaviour(tokens=TOKENS))
            emu.choose_faults(provider, chooser(provider))  # type: ignore[arg-type]
        gc.collect()
        fds_before, tasks_before, memory_before = open_fds(), router_tasks(), rss()
        objects_before = per_request_objects()
        async with build_router(emu) as router:
            await run_batch(router, range(-100, 0))  # warm up pools and caches
            outcomes = await run_batch(router, range(REQUESTS))
        await asyncio.sleep(3.0)  # stalled emulator connections (2.5 s) end and close
        gc.collect()
        fds_after, tasks_after = open_fds(), router_tasks()
        log = [e for e in emu.log if not _is_warmup(e)]
        figures = _check(outcomes, log, emu)
        outcomes_text = [str(o.error) for o in outcomes if o.error is not None]
        del outcomes
        gc.collect()
        memory_after = rss()
        retained = per_request_objects() - objects_before

    # no leaked tasks or sockets; memory does not grow with the number of requests
    assert tasks_after <= tasks_before
    assert fds_after <= fds_before  # the router closed: every connection it opened is gone
    # nothing the router made for a request outlives it (the emulator's log of every request,
    # bodies included, is most of the RSS growth, so RSS is reported, not asserted)
    assert retained <= 0, f"{retained} request objects retained after the run"
    growth = memory_after - memory_before

    # keys never appear in logs or errors, under any fault
    captured = caplog.text + "\n".join(outcomes_text)
    for key in FAKE_KEYS.values():
        assert key not in captured

    elapsed = time.perf_counter() - started
    with capsys.disabled():
        print(
            f"\n\nchaos suite: {REQUESTS} requests at concurrency {CONCURRENCY}, seed {SEED}, "
            f"{elapsed:.1f} s"
        )
        for name, value in figures.items():
            print(f"  {name:<34} {value}")
        print(f"  {'open fds before / after':<34} {fds_before} / {fds_after}")
        print(f"  {'asyncio tasks before / after':<34} {tasks_before} / {tasks_after}")
        print(f"  {'request objects retained':<34} {retained}")
        print(
            f"  {'RSS growth over the run':<34} {growth / 1024:.0f} KiB (emulator log included)\n"
        )


def _is_warmup(entry: Any) -> bool:
    messages = (entry.body or {}).get("messages") or [{}]
    return str(messages[0].get("content", "")).startswith("request -")


def _request_id(entry: Any) -> str:
    messages = (entry.body or {}).get("messages") or [{}]
    return str(messages[0].get("content", ""))


def _delivered(outcome: Outcome) -> str:
    """What the route says reached the caller: each attempt delivered the first
    ``usage.completion_tokens`` tokens of the emulator's answer. A non-streamed call's
    answer is its successful attempt's alone: a failed attempt may have received tokens
    (llama.cpp's chat is read from a stream that can break mid-answer) that never reached
    the caller."""
    route = route_of(outcome)
    if not outcome.stream:
        route = [a for a in route if a.outcome == "ok"]
    return "".join("".join(TOKENS[: a.usage.completion_tokens]) for a in route)


def _paired(outcome: Outcome, entries: list[Any]) -> bool:
    """Check each attempt against the emulator's own record of it, when every attempt reached
    the emulator (one HTTP request each, in order). An attempt abandoned on a timeout may
    have been sent more than the router read (a real provider would bill it; the router
    cannot know), so it must have read a prefix of it."""
    attempts = route_of(outcome)
    ordered = sorted(entries, key=lambda e: e.at)
    if len(ordered) != len(attempts):
        return False  # an attempt failed before its request reached the emulator
    for entry, attempt in zip(ordered, attempts, strict=True):
        got = attempt.usage.completion_tokens
        if attempt.error in ("ProviderTimeoutError", "FirstTokenTimeoutError"):
            assert got <= entry.sent_tokens, (outcome.index, attempt, entry.sent_tokens)
        else:
            assert got == entry.sent_tokens, (outcome.index, attempt, entry.sent_tokens)
    return True


def _check(outcomes: list[Outcome], log: list[Any], emu: ProviderEmulator) -> dict[str, Any]:
    by_request: dict[str, list[Any]] = collections.defaultdict(list)
    for entry in log:
        by_request[_request_id(entry)].append(entry)

    errors: collections.Counter[str] = collections.Counter()
    overshoot = 0.0
    retries = failovers = continuations = successes = 0
    router_tokens = 0
    router_cost = 0.0
    for outcome in outcomes:
        overshoot = max(overshoot, outcome.elapsed - TOTAL)
        assert outcome.elapsed <= TOTAL + TOLERANCE, f"deadline overshot: {outcome.elapsed:.3f}"
        route = route_of(outcome)
        entries = by_request[f"request {outcome.index}"]
        if outcome.response is not None:
            successes += 1
            response = outcome.response
            # no text lost or duplicated: the answer is exactly what the providers sent
            truth = _delivered(outcome)
            assert response.text == truth, (
                outcome.index,
                response.text,
                [
                    (
                        e.provider,
                        e.fault,
                        e.completed,
                        round(e.at - outcome.start, 3),
                        e.first_write_at and round(e.first_write_at - outcome.start, 3),
                    )
                    for e in entries
                ],
                [(a.deployment, a.outcome, a.error, round(a.elapsed_s, 3)) for a in response.route],
            )
            if outcome.stream:
                assert outcome.streamed == response.text
            continuations += len(response.continuations)
            router_cost += response.cost_usd or 0.0
        else:
            assert isinstance(outcome.error, LlamaRouterError)
            errors[type(outcome.error).__name__] += 1
            assert route or getattr(outcome.error, "reasons", None), "an error with no attempts"
            router_cost += sum(a.cost_usd or 0.0 for a in route)
        router_tokens += sum(a.usage.completion_tokens for a in route)
        for previous, attempt in itertools.pairwise(route):
            if attempt.deployment == previous.deployment:
                retries += 1
            else:
                failovers += 1

    # usage and cost summed over attempts equal the emulator's own count
    emulator_tokens = sum(e.sent_tokens for e in log)
    emulator_cost = 0.0
    for e in log:
        price_in, price_out = PRICES[e.provider]
        prompt = e.usage[0] if e.completed and e.usage else 0
        emulator_cost += (prompt * price_in + e.sent_tokens * price_out) / 1e6
    paired = sum(_paired(o, by_request[f"request {o.index}"]) for o in outcomes)
    assert paired >= 0.95 * len(outcomes)
    assert router_tokens <= emulator_tokens
    abandoned_tokens = emulator_tokens - router_tokens
    assert router_cost <= emulator_cost + 1e-12  # abandoned attempts may be billed more

    # a Retry-After longer than the retry budget keeps its deployment out for that long:
    # no attempt on it starts between the router learning of the 429 and the end of the wait
    attempts = [a for o in outcomes for a in route_of(o) if a.started_at is not None]
    long_429 = [a for a in attempts if a.retry_after == LONG_RETRY_AFTER]
    for refused in long_429:
        learned = refused.started_at + refused.elapsed_s
        too_soon = [
            a
            for a in attempts
            if a.deployment == refused.deployment
            and learned + 0.01 < a.started_at < learned + LONG_RETRY_AFTER - 0.01
        ]
        assert not too_soon, (refused.deployment, [a.started_at - learned for a in too_soon])

    faults = collections.Counter(
        (e.fault.kind if e.fault.kind != "status" else f"http {e.fault.status}")
        for e in log
        if e.fault is not None
    )
    return {
        "requests sent to providers": len(log),
        "faults injected": dict(sorted(faults.items())),
        "successes": successes,
        "typed errors": dict(errors),
        "retries (same deployment)": retries,
        "failovers": failovers,
        "continuations": continuations,
        "requests checked attempt by attempt": paired,
        "completion tokens, router / emulator": f"{router_tokens} / {emulator_tokens} "
        f"({abandoned_tokens} sent to attempts abandoned on a timeout)",
        "cost USD, router / emulator": f"{router_cost:.6f} / {emulator_cost:.6f}",
        "largest deadline overshoot": f"{max(overshoot, 0.0) * 1000:.1f} ms",
        "429s with a long Retry-After honoured": len(long_429),
    }
