"""Every ranker as a pure function over a synthetic routing context; expected keys are
worked out by hand."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from llama_router.messages import ChatRequest, GenerationSettings, Message, Tool, ToolCall
from llama_router.routing.context import (
    DEFAULT_OUTPUT_TOKENS,
    Candidate,
    RoutingContext,
    estimate_cost,
    estimate_latency,
    estimate_prompt_tokens,
)
from llama_router.routing.filters import P95TtftBelow
from llama_router.routing.rankers import (
    ByAvailability,
    ByCost,
    ByLatency,
    ByPriority,
    CloudFirst,
    LocalFirst,
    Prefer,
    Ranker,
    Then,
    Weighted,
    WeightedRandom,
)
from llama_router.state.health import HealthSnapshot

from .helpers import make_candidate, make_context, make_price, order


def keys(ranker: Ranker, ctx: RoutingContext) -> dict[str, tuple[float, ...]]:
    return {c.name: ranker.key(ctx, c) for c in ctx.candidates}


# -- the estimates the rankers read ----------------------------------------------------------


def test_estimate_prompt_tokens_counts_characters_framing_and_tools() -> None:
    plain = ChatRequest(
        model="llama-3.1-8b",
        messages=(Message.system("You are terse."), Message.user("Say hi.")),
    )
    # (14 + 7) // 4 + 4 tokens of framing x 2 messages = 5 + 8
    assert estimate_prompt_tokens(plain) == 13
    with_tools = ChatRequest(
        model="llama-3.1-8b",
        messages=(
            Message.user("Weather?"),
            Message.assistant(tool_calls=(ToolCall(id="1", name="f", arguments='{"x": 1}'),)),
        ),
        settings=GenerationSettings(
            tools=(Tool(name="get_weather", description="Weather for a city"),)
        ),
    )
    # messages: (8 + len("f") + len('{"x": 1}')) // 4 + 4 x 2 = 17 // 4 + 8 = 12
    # tool: (11 + 18 + len('{"type": "object", "properties": {}}')) // 4 = 65 // 4 = 16
    assert estimate_prompt_tokens(with_tools) == 28


def test_estimate_latency_and_cost() -> None:
    assert estimate_latency(HealthSnapshot(), 100) is None
    assert estimate_latency(HealthSnapshot(ttft_ewma=0.3), 100) == pytest.approx(0.3)
    assert estimate_latency(HealthSnapshot(ttft_ewma=0.3, tps_ewma=50.0), 100) == pytest.approx(2.3)
    assert estimate_cost(None, 1000, 1000) is None
    # (2000 x 0.59 + 300 x 0.79) / 1e6 = (1180 + 237) / 1e6
    assert estimate_cost(make_price(0.59, 0.79), 2000, 300) == pytest.approx(1417e-6)


def test_make_context_uses_max_tokens_as_the_output_estimate() -> None:
    priced = make_candidate("a", price=(0.0, 1.0), ttft=0.5, tps=100.0)
    default = make_context([priced])
    assert default.output_tokens == DEFAULT_OUTPUT_TOKENS == 256
    assert default.candidates[0].est_cost == pytest.approx(256e-6)
    assert default.candidates[0].est_latency == pytest.approx(0.5 + 2.56)
    capped = make_context(
        [priced],
        request=ChatRequest(
            model="llama-3.1-8b",
            messages=(Message.user("Say hi."),),
            settings=GenerationSettings(max_tokens=50),
        ),
    )
    assert capped.output_tokens == 50
    assert capped.candidates[0].est_cost == pytest.approx(50e-6)
    assert capped.candidates[0].est_latency == pytest.approx(1.0)


# -- ByLatency -------------------------------------------------------------------------------


def test_by_latency_gives_unknown_latency_the_median_of_known_ones() -> None:
    ctx = make_context(
        [
            make_candidate("a", index=0, ttft=0.3),
            make_candidate("b", index=1),  # never measured
            make_candidate("c", index=2, ttft=0.9),
            make_candidate("d", index=3, ttft=0.5),
        ]
    )
    got = keys(ByLatency(), ctx)
    assert got["a"] == pytest.approx((0.3, 0.0))
    assert got["b"] == pytest.approx((0.5, 0.0))  # median(0.3, 0.9, 0.5)
    assert got["c"] == pytest.approx((0.9, 0.0))
    assert order(ByLatency(), ctx) == ["a", "b", "d", "c"]


def test_by_latency_median_of_an_even_count_and_of_none() -> None:
    even = make_context(
        [make_candidate("a", ttft=0.2), make_candidate("b", ttft=0.4), make_candidate("new")]
    )
    assert keys(ByLatency(), even)["new"] == pytest.approx((0.3, 0.0))
    nothing_known = make_context([make_candidate("x"), make_candidate("y", index=1)])
    assert keys(ByLatency(), nothing_known) == {"x": (0.0, 0.0), "y": (0.0, 0.0)}


def test_by_latency_includes_generation_time_at_the_decaying_speed() -> None:
    quick_start = make_candidate("quick_start", index=0, ttft=0.1, tps=100.0)
    fast_gen = make_candidate("fast_gen", index=1, ttft=1.0, tps=1000.0)
    long_answer = make_context([quick_start, fast_gen], output_tokens=1000)
    # 0.1 + 1000/100 = 10.1 against 1.0 + 1000/1000 = 2.0
    assert keys(ByLatency(), long_answer) == {
        "quick_start": pytest.approx((10.1, 0.0)),
        "fast_gen": pytest.approx((2.0, 0.0)),
    }
    assert order(ByLatency(), long_answer) == ["fast_gen", "quick_start"]
    # 0.1 + 10/100 = 0.2 against 1.0 + 10/1000 = 1.01
    short_answer = make_context([quick_start, fast_gen], output_tokens=10)
    assert order(ByLatency(), short_answer) == ["quick_start", "fast_gen"]


# -- ByCost ----------------------------------------------------------------------------------


def test_by_cost_orders_by_estimated_cost_and_puts_unpriced_last() -> None:
    ctx = make_context(
        [
            make_candidate("groq_8b", index=0, price=(0.05, 0.08)),
            make_candidate("groq_70b", index=1, price=(0.59, 0.79)),
            make_candidate("unpriced", index=2),
            make_candidate("local", index=3, price=(0.0, 0.0), tags=("local",)),
        ],
        prompt_tokens=1000,
        output_tokens=500,
    )
    got = keys(ByCost(), ctx)
    assert got["groq_8b"] == pytest.approx(((1000 * 0.05 + 500 * 0.08) / 1e6,))  # 9.0e-5
    assert got["groq_70b"] == pytest.approx(((1000 * 0.59 + 500 * 0.79) / 1e6,))  # 9.85e-4
    assert got["unpriced"] == (float("inf"),)
    assert got["local"] == (0.0,)
    assert order(ByCost(), ctx) == ["local", "groq_8b", "groq_70b", "unpriced"]


def test_by_cost_depends_on_the_request_size() -> None:
    # cheap input, dear output against the reverse
    cands = [
        make_candidate("dear_out", index=0, price=(0.1, 2.0)),
        make_candidate("dear_in", index=1, price=(2.0, 0.1)),
    ]
    long_prompt = make_context(cands, prompt_tokens=10_000, output_tokens=100)
    assert order(ByCost(), long_prompt) == ["dear_out", "dear_in"]
    long_output = make_context(cands, prompt_tokens=100, output_tokens=10_000)
    assert order(ByCost(), long_output) == ["dear_in", "dear_out"]


# -- ByAvailability ------------------------------------------------------------------------


def test_by_availability_highest_success_rate_first() -> None:
    ctx = make_context(
        [
            make_candidate("a", index=0, success_rate=0.9),
            make_candidate("b", index=1, success_rate=0.5),
            make_candidate("c", index=2),  # unknown: median(0.9, 0.5, 1.0) = 0.9
            make_candidate("d", index=3, success_rate=1.0),
        ]
    )
    assert keys(ByAvailability(), ctx) == {
        "a": pytest.approx((-0.9,)),
        "b": pytest.approx((-0.5,)),
        "c": pytest.approx((-0.9,)),
        "d": pytest.approx((-1.0,)),
    }
    assert order(ByAvailability(), ctx) == ["d", "a", "c", "b"]


# -- ByPriority ------------------------------------------------------------------------------


def test_by_priority_follows_the_given_order() -> None:
    ctx = make_context(
        [
            make_candidate("third", index=2),
            make_candidate("first", index=0),
            make_candidate("second", index=1),
        ]
    )
    assert keys(ByPriority(), ctx) == {"third": (2.0,), "first": (0.0,), "second": (1.0,)}
    assert order(ByPriority(), ctx) == ["first", "second", "third"]


def test_by_priority_with_explicit_priorities() -> None:
    ctx = make_context([make_candidate(n, index=i) for i, n in enumerate("abcd")])
    ranker = ByPriority({"c": 0, "a": 1})
    # named ones by priority, unnamed after in their given order
    assert order(ranker, ctx) == ["c", "a", "b", "d"]
    assert keys(ranker, ctx)["c"] == (0.0, 2.0)
    assert keys(ranker, ctx)["d"] == (float(1 << 30), 3.0)


# -- LocalFirst / CloudFirst ---------------------------------------------------------------


def _mixed() -> list[Candidate]:
    return [
        make_candidate("cloud_a", index=0, tags=("cloud",), ttft=0.4),
        make_candidate("local_warm", index=1, tags=("local",), loaded=True, p95=0.5),
        make_candidate("local_cold", index=2, tags=("local",), loaded=False),
        make_candidate("local_slow", index=3, tags=("local",), loaded=True, p95=2.0),
        make_candidate("cloud_b", index=4, tags=("cloud",), ttft=0.2),
        make_candidate("local_unmeasured", index=5, tags=("local",)),
    ]


def test_local_first_puts_cold_or_slow_local_after_the_cloud() -> None:
    ctx = make_context(_mixed())
    ranker = LocalFirst(slow_ttft=1.0)
    assert keys(ranker, ctx) == {
        "cloud_a": (1.0,),
        "local_warm": (0.0,),
        "local_cold": (2.0,),
        "local_slow": (2.0,),  # p95 2.0 s > 1.0 s
        "cloud_b": (1.0,),
        "local_unmeasured": (0.0,),  # unknown p95 is not slow, unknown load not cold
    }
    assert order(ranker, ctx) == [
        "local_warm",
        "local_unmeasured",
        "cloud_a",
        "cloud_b",
        "local_cold",
        "local_slow",
    ]


def test_local_first_without_a_slow_threshold_only_demotes_cold_engines() -> None:
    ctx = make_context(_mixed())
    assert order(LocalFirst(), ctx) == [
        "local_warm",
        "local_slow",
        "local_unmeasured",
        "cloud_a",
        "cloud_b",
        "local_cold",
    ]


def test_cloud_first_puts_every_local_engine_last() -> None:
    ctx = make_context(_mixed())
    assert order(CloudFirst(), ctx) == [
        "cloud_a",
        "cloud_b",
        "local_warm",
        "local_cold",
        "local_slow",
        "local_unmeasured",
    ]
    assert order(CloudFirst().then(ByLatency()), ctx)[:2] == ["cloud_b", "cloud_a"]


# -- Prefer / Then ---------------------------------------------------------------------------


def test_prefer_ranks_violators_after_but_keeps_them() -> None:
    # output-only prices over 1000 output tokens: cost = price / 1000 dollars
    ctx = make_context(
        [
            make_candidate("a", index=0, price=(0.0, 0.1), p95=1.5),
            make_candidate("b", index=1, price=(0.0, 0.3), p95=0.5),
            make_candidate("c", index=2, price=(0.0, 0.9), p95=0.3),
            make_candidate("d", index=3, price=(0.0, 0.2), p95=0.9),
            make_candidate("e", index=4, price=(0.0, 0.5)),  # no p95 yet: satisfies it
        ],
        prompt_tokens=0,
        output_tokens=1000,
    )
    ranker = Prefer(P95TtftBelow(0.8), ByCost())
    got = keys(ranker, ctx)
    assert got["b"] == pytest.approx((0.0, 3e-4))
    assert got["a"] == pytest.approx((1.0, 1e-4))
    assert order(ranker, ctx) == ["b", "e", "c", "a", "d"]
    assert repr(ranker) == "Prefer(P95TtftBelow(0.8), ByCost())"


def test_then_breaks_ties_with_the_next_ranker() -> None:
    ctx = make_context(
        [
            make_candidate("slow_same", index=0, price=(0.0, 0.3), ttft=0.9),
            make_candidate("fast_same", index=1, price=(0.0, 0.3), ttft=0.2),
            make_candidate("cheapest", index=2, price=(0.0, 0.1), ttft=5.0),
        ],
        prompt_tokens=0,
        output_tokens=1000,
    )
    assert order(ByCost(), ctx) == ["cheapest", "slow_same", "fast_same"]  # index tie-break
    chained = ByCost().then(ByLatency())
    assert isinstance(chained, Then)
    assert order(chained, ctx) == ["cheapest", "fast_same", "slow_same"]
    assert keys(chained, ctx)["fast_same"] == pytest.approx((3e-4, 0.2, 0.0))
    three = Then(ByCost(), ByLatency(), ByPriority())
    assert keys(three, ctx)["slow_same"] == pytest.approx((3e-4, 0.9, 0.0, 0.0))
    assert repr(three) == "ByCost() then ByLatency() then ByPriority()"


# -- Weighted ----------------------------------------------------------------------------------


def _weighted_ctx() -> RoutingContext:
    return make_context(
        [
            make_candidate("a", index=0, ttft=1.0, price=(0.0, 0.3)),
            make_candidate("b", index=1, ttft=2.0, price=(0.0, 0.2)),
            make_candidate("c", index=2, ttft=3.0, price=(0.0, 0.1)),
            make_candidate("d", index=3, ttft=1.0),  # unpriced
        ],
        prompt_tokens=0,
        output_tokens=1000,
    )


def test_weighted_mixes_normalised_parts() -> None:
    ctx = _weighted_ctx()
    # latency scaled over [1, 3]: a 0, b 0.5, c 1, d 0; cost over [1e-4, 3e-4]: a 1, b 0.5,
    # c 0, d unpriced -> the whole weight
    speed = Weighted((ByLatency(), 0.7), (ByCost(), 0.3))
    assert keys(speed, ctx) == {
        "a": pytest.approx((0.3,)),
        "b": pytest.approx((0.5,)),
        "c": pytest.approx((0.7,)),
        "d": pytest.approx((0.3,)),
    }
    assert order(speed, ctx) == ["a", "d", "b", "c"]

    thrift = Weighted((ByLatency(), 0.2), (ByCost(), 0.8))
    assert keys(thrift, ctx) == {
        "a": pytest.approx((0.8,)),
        "b": pytest.approx((0.5,)),
        "c": pytest.approx((0.2,)),
        "d": pytest.approx((0.8,)),
    }
    assert order(thrift, ctx) == ["c", "b", "a", "d"]


def test_weighted_with_equal_values_contributes_nothing() -> None:
    ctx = make_context(
        [make_candidate("a", ttft=0.5), make_candidate("b", index=1, ttft=0.5)],
    )
    assert keys(Weighted((ByLatency(), 1.0)), ctx) == {"a": (0.0,), "b": (0.0,)}


# -- WeightedRandom ----------------------------------------------------------------------------


def test_weighted_random_first_place_follows_the_weights() -> None:
    ctx = make_context([make_candidate(n, index=i) for i, n in enumerate("abcd")])
    # c is unnamed (weight 1); d has weight 0 and is always last
    ranker = WeightedRandom({"a": 1.0, "b": 3.0, "d": 0.0}, rng=random.Random(1234))
    draws = 10_000
    firsts: Counter[str] = Counter()
    for _ in range(draws):
        ranking = order(ranker, ctx)
        assert ranking[-1] == "d"
        firsts[ranking[0]] += 1
    assert firsts["a"] / draws == pytest.approx(0.2, abs=0.02)
    assert firsts["b"] / draws == pytest.approx(0.6, abs=0.02)
    assert firsts["c"] / draws == pytest.approx(0.2, abs=0.02)
    assert firsts["d"] == 0


def test_weighted_random_is_reproducible_with_a_seeded_rng() -> None:
    ctx = make_context([make_candidate(n, index=i) for i, n in enumerate("abcde")])
    one = WeightedRandom(rng=random.Random(42))
    two = WeightedRandom(rng=random.Random(42))
    runs_one = [order(one, ctx) for _ in range(20)]
    runs_two = [order(two, ctx) for _ in range(20)]
    assert runs_one == runs_two
    assert len({tuple(r) for r in runs_one}) > 1  # it does shuffle
