"""Edges of the pure policy code that a mutation run showed unpinned: the names users see in
explain() and logs, settings kept by with_filters, boundaries of the filters and rankers, and
the arithmetic of Weighted and WeightedRandom."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from llama_router.messages import ChatRequest, Message
from llama_router.routing import (
    AllOf,
    AnyOf,
    ByCost,
    ByLatency,
    ByPriority,
    ExcludeTags,
    FitsContext,
    HasTags,
    Healthy,
    LocalFirst,
    Policy,
    Prefer,
    Weighted,
    WeightedRandom,
    best_availability,
    cloud_first,
    estimate_prompt_tokens,
    local_first,
    lowest_cost,
    lowest_latency,
    ordered,
)
from tests.routing.helpers import T0, make_candidate, make_context, order


def test_every_built_in_policy_is_named_for_explain_and_logs() -> None:
    policies = [ordered(), lowest_latency(), lowest_cost(), best_availability()]
    policies += [local_first(), cloud_first()]
    assert [p.name for p in policies] == [
        "ordered",
        "lowest_latency",
        "lowest_cost",
        "best_availability",
        "local_first",
        "cloud_first",
    ]


def test_an_unnamed_policy_is_named_after_its_ranker() -> None:
    ranker = ByLatency().then(ByPriority())
    assert Policy(ranker).name == repr(ranker)


def test_with_filters_keeps_every_other_setting() -> None:
    rng = random.Random(7)
    base = Policy(ByLatency(), explore=0.3, min_samples=5, rng=rng, name="mine")
    more = base.with_filters(HasTags("eu"))
    assert (more.explore, more.min_samples, more.rng, more.name) == (0.3, 5, rng, "mine")
    assert more.filters[-1].__class__ is HasTags
    assert more.filters[:-1] == base.filters


def test_policy_defaults_and_the_seeded_rng_of_each_factory() -> None:
    assert Policy(ByPriority()).min_samples == 3
    rng = random.Random(3)
    assert best_availability(rng=rng).rng is rng
    assert lowest_latency(rng=rng).rng is rng
    with pytest.raises(ValueError, match=r"^explore is a probability between 0 and 1$"):
        Policy(ByPriority(), explore=1.5)


def test_healthy_keeps_a_deployment_back_at_exactly_now() -> None:
    back = make_candidate("back", available_at=T0)
    later = make_candidate("later", available_at=T0 + 0.5)
    ctx = make_context([back, later])
    assert Healthy().reject(ctx, back) is None
    assert Healthy().reject(ctx, later) is not None


def test_local_first_calls_a_local_engine_slow_only_past_the_threshold() -> None:
    ranker = LocalFirst(slow_ttft=0.5)
    at_threshold = make_candidate("at", tags=("local",), p95=0.5)
    unmeasured = make_candidate("new", tags=("local",))
    slow = make_candidate("slow", tags=("local",), p95=0.51)
    cloud = make_candidate("cloud", index=3)
    ctx = make_context([at_threshold, unmeasured, slow, cloud])
    assert order(ranker, ctx) == ["at", "new", "cloud", "slow"]


def test_composite_filters_pass_the_context_to_their_parts() -> None:
    small = make_candidate("small", window=100)
    ctx = make_context([small], prompt_tokens=90, output_tokens=20)
    assert AllOf(FitsContext(), Healthy()).reject(ctx, small) is not None
    assert AnyOf(FitsContext(), HasTags("nowhere")).reject(ctx, small) is not None


def test_prefer_passes_the_context_to_its_constraint_and_ranker() -> None:
    small = make_candidate("small", window=100, price=(1.0, 1.0))
    big = make_candidate("big", index=1, window=10_000, price=(2.0, 2.0))
    ctx = make_context([small, big], prompt_tokens=90, output_tokens=20)
    assert order(Prefer(FitsContext(), ByCost()), ctx) == ["big", "small"]


def test_exclude_tags_names_every_excluded_tag() -> None:
    both = make_candidate("both", tags=("eu", "gpu"))
    ctx = make_context([both])
    assert ExcludeTags("gpu", "eu").reject(ctx, both) == "has excluded tag(s) eu, gpu"


def test_weighted_counts_an_unknown_value_as_the_worst_and_keeps_the_other_parts() -> None:
    fast = make_candidate("fast", ttft=0.1, tps=100.0, price=(0.1, 0.1))
    mid = make_candidate("mid", index=1, ttft=0.5, tps=100.0, price=(5.0, 5.0))
    unpriced = make_candidate("unpriced", index=2, ttft=1.0, tps=100.0)
    ctx = make_context([fast, mid, unpriced])
    # cost first: the unpriced one scores 1 for cost, then its latency still counts
    assert order(Weighted((ByCost(), 1.0), (ByLatency(), 1.0)), ctx) == [
        "fast",
        "mid",
        "unpriced",
    ]
    assert order(Weighted((ByLatency(), 1.0), (ByCost(), 1.0)), ctx) == [
        "fast",
        "mid",
        "unpriced",
    ]


class Draws(random.Random):
    """A random generator that returns the given values in turn."""

    def __init__(self, values: list[float]) -> None:
        super().__init__(0)
        self._values: Iterator[float] = iter(values)

    def random(self) -> float:
        return next(self._values)


def test_weighted_random_keys_are_minus_u_to_the_one_over_weight() -> None:
    # heavy: u = 0.25, weight 2 -> key -(0.25 ** 0.5) = -0.5; light: u = 0.4, weight 1 -> -0.4
    ranker = WeightedRandom({"heavy": 2.0, "light": 1.0}, rng=Draws([0.25, 0.4]))
    heavy = make_candidate("heavy")
    light = make_candidate("light", index=1)
    ctx = make_context([heavy, light])
    assert ranker.key(ctx, heavy) == (-0.5,)
    assert ranker.key(ctx, light) == (-0.4,)


def test_the_prompt_estimate_is_four_characters_a_token_plus_four_a_message() -> None:
    request = ChatRequest(
        model="m",
        messages=(Message(role="user", content="abc"), Message(role="user", content="de")),
    )
    assert estimate_prompt_tokens(request) == 5 // 4 + 8
