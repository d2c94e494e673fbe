"""Load-aware routing: requests in flight counted in the store and read from snapshots, the
load rules (queue per slot, the stretched latency estimate, the load rankers, local-first
overflow) as table tests, and bursts over scripted deployments in virtual time."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from llama_router import AllDeploymentsFailedError, Router
from llama_router.backends.base import HealthReport
from llama_router.health_probes import HealthProber
from llama_router.routing import (
    ByFreeSlot,
    ByLatency,
    ByLoad,
    HealthConfig,
    HealthRecord,
    HealthSnapshot,
    InMemoryStore,
    Limits,
    LocalFirst,
    Policy,
    Ranker,
    RoundRobin,
    RoutingContext,
    best_availability,
    cheapest_under,
    cloud_first,
    least_busy,
    local_first,
    lowest_cost,
    lowest_latency,
    ordered,
    queue_per_slot,
    round_robin,
)
from llama_router.routing.context import estimate_latency
from llama_router.routing.options import RetryPolicy, Timeouts
from tests.routing.helpers import make_candidate, make_context, order
from tests.scripted import MODEL, ScriptedBackend, Step, unavailable

HI = [{"role": "user", "content": "Say hi."}]


def keys(ranker: Ranker, ctx: RoutingContext) -> dict[str, tuple[float, ...]]:
    return {c.name: ranker.key(ctx, c) for c in ctx.candidates}


# -- the pure rules --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("in_flight", "slots_total", "slots_busy", "max_concurrency", "load"),
    [
        (0, None, None, None, 0.0),  # idle, capacity unknown
        (3, None, None, None, 3.0),  # unknown capacity counts as one slot
        (3, 4, None, None, 0.75),  # the server's slots
        (3, None, None, 2, 1.5),  # else the deployment's max_concurrency
        (3, 4, None, 2, 0.75),  # the server's own report wins
        (1, 4, 4, None, 1.0),  # other clients keep every slot busy: saturated
        (5, 4, 2, None, 1.25),  # a stale busy report below our own count
        (0, 0, None, None, 0.0),  # a server reporting 0 slots: treated as unknown
    ],
)
def test_queue_per_slot(
    in_flight: int,
    slots_total: int | None,
    slots_busy: int | None,
    max_concurrency: int | None,
    load: float,
) -> None:
    health = HealthSnapshot(in_flight=in_flight, slots_total=slots_total, slots_busy=slots_busy)
    assert queue_per_slot(health, max_concurrency) == pytest.approx(load)
    cand = make_candidate(
        "x",
        in_flight=in_flight,
        slots_total=slots_total,
        slots_busy=slots_busy,
        limits=Limits(max_concurrency=max_concurrency),
    )
    assert cand.load == pytest.approx(load)


@pytest.mark.parametrize(
    ("health", "slots", "expected"),
    [
        (HealthSnapshot(in_flight=5), None, None),  # nothing measured
        (HealthSnapshot(ttft_ewma=0.5), None, 0.5),
        (HealthSnapshot(ttft_ewma=0.5, in_flight=1), None, 1.0),  # one ahead: twice
        (HealthSnapshot(ttft_ewma=0.5, tps_ewma=100.0, in_flight=3), None, 4 * 1.5),
        (HealthSnapshot(ttft_ewma=0.5, in_flight=2, slots_total=4), None, 0.75),
        (HealthSnapshot(ttft_ewma=0.5, in_flight=2), 2, 1.0),
        (HealthSnapshot(ttft_ewma=0.5, in_flight=0, slots_total=2, slots_busy=2), None, 1.0),
    ],
)
def test_the_latency_estimate_grows_with_the_queue_per_slot(
    health: HealthSnapshot, slots: int | None, expected: float | None
) -> None:
    got = estimate_latency(health, 100, slots)
    assert got == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("a", "b", "first"),
    [
        ({"ttft": 1.0, "in_flight": 0}, {"ttft": 1.0, "in_flight": 1}, "a"),
        ({"ttft": 1.0, "in_flight": 2}, {"ttft": 1.0, "in_flight": 1}, "b"),
        # twice as fast with one ahead: 0.5 x 2 ties 1.0 x 1, the tie goes to the lighter
        ({"ttft": 0.5, "in_flight": 1}, {"ttft": 1.0, "in_flight": 0}, "b"),
        ({"ttft": 0.4, "in_flight": 1}, {"ttft": 1.0, "in_flight": 0}, "a"),
        ({"ttft": 0.5, "in_flight": 2}, {"ttft": 1.0, "in_flight": 0}, "b"),
        # nothing measured: the less loaded
        ({"in_flight": 3}, {"in_flight": 2}, "b"),
        ({"in_flight": 0}, {"in_flight": 0}, "a"),
        # the server's slots: 3 of 4 busy beats 1 of 1
        ({"ttft": 1.0, "in_flight": 3, "slots_total": 4}, {"ttft": 1.0, "in_flight": 1}, "a"),
    ],
)
def test_by_latency_weighs_the_queue(a: dict[str, Any], b: dict[str, Any], first: str) -> None:
    ctx = make_context([make_candidate("a", index=0, **a), make_candidate("b", index=1, **b)])
    assert order(ByLatency(), ctx)[0] == first
    assert lowest_latency(explore=0.0).decide(ctx).ranked[0].name == first


def test_by_load_and_by_free_slot() -> None:
    ctx = make_context(
        [
            make_candidate("full", index=0, in_flight=2, slots_total=2),
            make_candidate("half", index=1, in_flight=1, slots_total=2),
            make_candidate("busy_elsewhere", index=2, slots_total=2, slots_busy=2),
            make_candidate("unknown", index=3, in_flight=1),
            make_candidate("limited", index=4, in_flight=1, limits=Limits(max_concurrency=1)),
        ]
    )
    assert keys(ByLoad(), ctx) == {
        "full": (1.0,),
        "half": (0.5,),
        "busy_elsewhere": (1.0,),
        "unknown": (1.0,),
        "limited": (1.0,),
    }
    assert order(ByLoad(), ctx) == ["half", "full", "busy_elsewhere", "unknown", "limited"]
    # unknown capacity is never "saturated": only a known capacity fills up
    assert order(ByFreeSlot(), ctx) == ["half", "unknown", "full", "busy_elsewhere", "limited"]


def test_round_robin_turns_once_per_decision() -> None:
    ctx = [make_context([make_candidate(n, index=i) for i, n in enumerate("abc")])]
    ranker = RoundRobin()
    firsts = []
    for _ in range(6):
        c = make_context(ctx[0].candidates)  # a new context per decision
        firsts.append(order(ranker, c))
    assert [f[0] for f in firsts] == ["a", "b", "c", "a", "b", "c"]
    assert firsts[1] == ["b", "c", "a"]
    policy = round_robin()
    picks = [policy.decide(make_context(ctx[0].candidates)).ranked[0].name for _ in range(4)]
    assert picks == ["a", "b", "c", "a"]


@pytest.mark.parametrize(
    ("local", "time_left", "first"),
    [
        ({"ttft": 1.0, "in_flight": 0}, 5.0, "local"),  # free
        ({"ttft": 1.0, "in_flight": 3}, 5.0, "local"),  # queued, 4 s < 5 s left: waits
        ({"ttft": 1.0, "in_flight": 5}, 5.0, "cloud"),  # 6 s > 5 s left: overflows
        ({"ttft": 1.0, "in_flight": 5}, None, "local"),  # no deadline known
        ({"in_flight": 50}, 5.0, "local"),  # nothing measured: no overflow
        # 4 slots, 3 busy: a free slot, never overflowed however late
        ({"ttft": 4.0, "in_flight": 3, "slots_total": 4}, 5.0, "local"),
        ({"ttft": 1.0, "slots_total": 2, "slots_busy": 10}, 5.0, "cloud"),  # other clients
    ],
)
def test_local_first_overflows_to_the_cloud_when_the_queue_breaks_the_deadline(
    local: dict[str, Any], time_left: float | None, first: str
) -> None:
    ctx = make_context(
        [
            make_candidate("local", index=0, tags=("local",), **local),
            make_candidate("cloud", index=1, ttft=0.5),
        ],
        time_left=time_left,
    )
    assert order(LocalFirst(), ctx)[0] == first
    assert local_first().decide(ctx).ranked[0].name == first


def test_local_first_sends_to_the_less_busy_local_engine() -> None:
    ctx = make_context(
        [
            make_candidate("l1", index=0, tags=("local",), in_flight=2, slots_total=4),
            make_candidate("l2", index=1, tags=("local",), in_flight=1, slots_total=4),
            make_candidate("cloud", index=2),
        ]
    )
    assert [c.name for c in local_first().decide(ctx).ranked] == ["l2", "l1", "cloud"]


@pytest.mark.parametrize(
    ("make_policy", "first"),
    [
        (ordered, "b"),  # a is saturated (2 of 2 slots): b has a free one
        (lambda: lowest_latency(explore=0.0), "b"),
        (lowest_cost, "b"),
        (lambda: best_availability(explore=0.0), "b"),
        (local_first, "b"),
        (cloud_first, "b"),
        (lambda: cheapest_under(10.0), "b"),
        (least_busy, "b"),
    ],
)
def test_every_built_in_policy_avoids_a_saturated_deployment(
    make_policy: Callable[[], Policy], first: str
) -> None:
    tags = ("local",)
    ctx = make_context(
        [
            make_candidate("a", index=0, tags=tags, ttft=1.0, in_flight=2, slots_total=2),
            make_candidate("b", index=1, tags=tags, ttft=1.0, in_flight=0, slots_total=2),
        ]
    )
    assert make_policy().decide(ctx).ranked[0].name == first


# -- the state ---------------------------------------------------------------------------------


def test_health_record_counts_in_flight_without_recomputing_the_snapshot() -> None:
    record = HealthRecord(HealthConfig())
    record.record_success(0.0, ttft=0.2)
    first = record.snapshot(1.0)
    assert record.snapshot(1.0) is first  # unchanged: the same object
    record.in_flight += 1
    busy = record.snapshot(1.0)
    assert busy.in_flight == 1
    assert busy.ttft_p50 == first.ttft_p50
    assert record.snapshot(1.0) is busy
    record.observe_slots(4, 3)
    assert (record.snapshot(1.0).slots_total, record.snapshot(1.0).slots_busy) == (4, 3)
    before = record.snapshot(1.0)
    record.observe_slots(4, 3)  # the same report: nothing to recompute
    assert record.snapshot(1.0) is before


async def test_store_begin_and_end_never_go_below_zero() -> None:
    store = InMemoryStore()
    await store.begin("a")
    await store.begin("a")
    assert (await store.snapshot(["a", "b"], 0.0))["a"].in_flight == 2
    await store.end("a")
    await store.end("a")
    await store.end("a")  # an extra end is ignored
    await store.end("never_begun")
    snaps = await store.snapshot(["a", "never_begun"], 0.0)
    assert snaps["a"].in_flight == 0
    assert snaps["never_begun"].in_flight == 0
    await store.observe_slots("a", 2, 1)
    snap = (await store.snapshot(["a"], 0.0))["a"]
    assert (snap.slots_total, snap.slots_busy) == (2, 1)


# -- bursts in virtual time ---------------------------------------------------------------------


def _router(*backends: ScriptedBackend, policy: Policy, **kw: Any) -> Router:
    kw.setdefault("rng", random.Random(1))
    return Router(list(backends), policy=policy, **kw)


async def _burst(r: Router, n: int) -> Counter[str]:
    replies = await asyncio.gather(*(r.chat(MODEL, HI) for _ in range(n)))
    return Counter(reply.deployment for reply in replies)


POLICIES: dict[str, Callable[[], Policy]] = {
    "lowest_latency": lambda: lowest_latency(rng=random.Random(7)),
    "least_busy": least_busy,
    "round_robin": round_robin,
    "local_first": local_first,
}


@pytest.mark.looptime
@pytest.mark.parametrize("name", list(POLICIES))
async def test_a_burst_over_two_equal_deployments_splits_evenly(name: str) -> None:
    a = ScriptedBackend("a", Step(ttft=0.2))
    b = ScriptedBackend("b", Step(ttft=0.2))
    r = _router(a, b, policy=POLICIES[name](), timeouts=Timeouts(total=600.0))
    for _ in range(3):  # cold, then measured: every burst splits
        split = await _burst(r, 100)
        assert sum(split.values()) == 100
        assert 40 <= split["a"] <= 60, split
    snaps = await r.store.snapshot(["a", "b"], 0.0)
    assert snaps["a"].in_flight == snaps["b"].in_flight == 0  # nothing leaked


@pytest.mark.looptime
@pytest.mark.parametrize("name", ["lowest_latency", "least_busy_slots"])
async def test_a_burst_follows_capacity(name: str) -> None:
    if name == "lowest_latency":
        # one twice as fast: the latency estimate x (1 + queue) settles at about 2:1
        fast = ScriptedBackend("fast", Step(ttft=0.1, token_delay=0.005))
        slow = ScriptedBackend("slow", Step(ttft=0.2, token_delay=0.01))
        policy = lowest_latency(rng=random.Random(7))
    else:
        # one with twice the slots: requests per slot settle at 2:1
        fast = ScriptedBackend("fast", Step(ttft=0.2), max_concurrency=40)
        slow = ScriptedBackend("slow", Step(ttft=0.2), max_concurrency=20)
        policy = least_busy()
    r = _router(fast, slow, policy=policy, timeouts=Timeouts(total=600.0))
    await _burst(r, 10)  # warm up: both measured
    split = await _burst(r, 60 if name != "lowest_latency" else 100)
    share = split["fast"] / sum(split.values())
    assert 0.6 <= share <= 0.72, split


@pytest.mark.looptime
async def test_ordered_spills_to_the_next_deployment_once_every_slot_is_busy() -> None:
    a = ScriptedBackend("a", Step(ttft=0.2), max_concurrency=30)
    b = ScriptedBackend("b", Step(ttft=0.2), max_concurrency=30)
    r = _router(a, b, policy=ordered(), timeouts=Timeouts(total=600.0))
    assert await _burst(r, 50) == Counter({"a": 30, "b": 20})


@pytest.mark.looptime
async def test_in_flight_is_given_back_after_errors_and_cancellation() -> None:
    bad = ScriptedBackend("bad", Step(ttft=0.1, error=unavailable))
    slow = ScriptedBackend("slow", Step(ttft=100.0))
    r = _router(bad, slow, policy=ordered(), retry=RetryPolicy(0))
    task = asyncio.ensure_future(r.chat(MODEL, HI))
    await asyncio.sleep(1.0)  # bad failed over to slow, which is still answering
    snaps = await r.store.snapshot(["bad", "slow"], 0.0)
    assert (snaps["bad"].in_flight, snaps["slow"].in_flight) == (0, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snaps = await r.store.snapshot(["bad", "slow"], 0.0)
    assert (snaps["bad"].in_flight, snaps["slow"].in_flight) == (0, 0)
    short = _router(slow, policy=ordered(), timeouts=Timeouts(total=5.0))
    with pytest.raises(AllDeploymentsFailedError):  # the deadline passes mid-attempt
        await short.chat(MODEL, HI)
    assert (await short.store.snapshot(["slow"], 0.0))["slow"].in_flight == 0


class _Slotted(ScriptedBackend):
    """A local server that reports 4 slots, 3 of them busy."""

    async def health(self) -> HealthReport:
        return HealthReport(ok=True, detail="slots", loaded=True, slots_total=4, slots_busy=3)


async def test_health_probes_feed_the_servers_slots_to_the_snapshot() -> None:
    store = InMemoryStore()
    plain, slotted = ScriptedBackend("plain"), _Slotted("slotted")
    await HealthProber([plain, slotted], store, interval=1.0, clock=lambda: 0.0).probe_once()
    snaps = await store.snapshot(["plain", "slotted"], 0.0)
    assert (snaps["plain"].slots_total, snaps["plain"].slots_busy) == (None, None)
    assert (snaps["slotted"].slots_total, snaps["slotted"].slots_busy) == (4, 3)


@pytest.mark.looptime
async def test_a_stream_counts_in_flight_until_its_last_chunk_or_the_caller_leaving() -> None:
    a = ScriptedBackend("a", Step(ttft=0.1, tokens=("x",) * 10, token_delay=1.0))
    r = _router(a, policy=ordered())

    async def in_flight() -> int:
        return (await r.store.snapshot(["a"], 0.0))["a"].in_flight

    async with r.stream(MODEL, HI) as stream:
        seen = [await in_flight() async for _ in stream]
    assert seen[:10] == [1] * 10  # every delta arrives while the stream is counted
    assert await in_flight() == 0
    async with r.stream(MODEL, HI) as stream:
        async for _ in stream:
            assert await in_flight() == 1
            break  # the caller leaves mid-stream
    assert await in_flight() == 0
    # a burst of streams splits like a burst of chats
    b = ScriptedBackend("b", Step(ttft=0.1, tokens=("x",) * 10, token_delay=1.0))
    r2 = _router(a, b, policy=least_busy())

    async def one() -> str:
        async with r2.stream(MODEL, HI) as stream:
            async for _ in stream:
                pass
        assert stream.response is not None
        return stream.response.deployment

    split = Counter(await asyncio.gather(*(one() for _ in range(40))))
    assert split == Counter({"a": 20, "b": 20})
