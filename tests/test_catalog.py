from __future__ import annotations

from datetime import date

import pytest

from llama_router import CANONICAL_MODELS, CatalogEntry, ModelCatalog, Price, UnknownModelError
from llama_router.responses import Usage
from llama_router.routing.outcomes import attempt_cost


@pytest.fixture
def catalog() -> ModelCatalog:
    return ModelCatalog.default()


def test_every_canonical_model_has_at_least_one_active_entry(catalog: ModelCatalog) -> None:
    for model in CANONICAL_MODELS:
        active = [e for e in catalog.entries if e.model == model and e.status != "retired"]
        assert active, f"no active provider for {model}"


def test_every_price_has_a_date_and_source_and_local_engines_are_free(
    catalog: ModelCatalog,
) -> None:
    for entry in catalog.entries:
        if entry.price is not None:
            assert entry.price.source
            assert entry.price.as_of <= date(2026, 12, 31)
        if entry.provider == "ollama":
            assert entry.price is not None
            assert entry.price.cost(1_000_000, 1_000_000) == 0.0


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("llama-3.1-8b", "llama-3.1-8b"),
        ("Llama-3.1-8B-Instruct", "llama-3.1-8b"),
        ("llama3.1-8b", "llama-3.1-8b"),
        ("LLAMA_3_70B", "llama-3-70b"),
    ],
)
def test_canonical_names_are_normalised(catalog: ModelCatalog, name: str, canonical: str) -> None:
    assert catalog.canonical(name) == canonical


def test_unknown_model_suggests_close_names(catalog: ModelCatalog) -> None:
    with pytest.raises(UnknownModelError) as info:
        catalog.canonical("llama-3.1-7b")
    assert "llama-3.1-8b" in str(info.value)
    assert "with_entries" in str(info.value)


def test_lookup_skips_retired_ids(catalog: ModelCatalog) -> None:
    # Groq's llama3-8b-8192 is retired; there is no active Groq id for llama-3-8b.
    assert catalog.lookup("groq", "llama-3-8b") is None
    assert catalog.retired_ids("groq", "llama-3-8b") == ("llama3-8b-8192",)
    entry = catalog.lookup("groq", "llama-3.1-8b")
    assert entry is not None
    assert entry.model_id == "llama-3.1-8b-instant"
    assert entry.context_window == 131_072


def test_with_entries_overrides_a_price_without_touching_the_original(
    catalog: ModelCatalog,
) -> None:
    cheaper = Price(
        input_per_mtok=0.01, output_per_mtok=0.02, as_of=date(2026, 11, 1), source="negotiated"
    )
    base = catalog.lookup("groq", "llama-3.1-8b")
    assert base is not None
    updated = catalog.with_entries(base.model_copy(update={"price": cheaper}))
    new = updated.lookup("groq", "llama-3.1-8b")
    assert new is not None
    assert new.price == cheaper
    assert catalog.lookup("groq", "llama-3.1-8b") == base  # the default is unchanged
    assert len(updated.entries) == len(catalog.entries)


def test_with_entries_adds_a_new_model(catalog: ModelCatalog) -> None:
    extra = CatalogEntry(
        provider="together",
        model="llama-3.2-11b-vision",
        model_id="meta-llama/Llama-3.2-11B-Vision-Instruct-Turbo",
    )
    updated = catalog.with_entries(extra)
    assert updated.canonical("llama-3.2-11b-vision") == "llama-3.2-11b-vision"
    with pytest.raises(UnknownModelError):
        catalog.canonical("llama-3.2-11b-vision")


def test_price_cost() -> None:
    price = Price(input_per_mtok=0.05, output_per_mtok=0.08, as_of=date(2026, 8, 8), source="x")
    assert price.cost(1_000_000, 0) == pytest.approx(0.05)
    assert price.cost(18, 3) == pytest.approx((18 * 0.05 + 3 * 0.08) / 1e6)


def test_docs_catalog_lists_every_entry(catalog: ModelCatalog) -> None:
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "catalog.md").read_text()
    for entry in catalog.entries:
        assert f"`{entry.model_id}`" in text, f"docs/catalog.md lacks {entry.model_id}"


# -- cached-token pricing ---------------------------------------------------------------------

_CACHED_PRICE_CASES = [
    # (cached price, prompt, completion, cached, expected USD)
    pytest.param(None, 1000, 100, 0, (1000 * 2.0 + 100 * 8.0) / 1e6, id="no-cache"),
    pytest.param(None, 1000, 100, 900, (1000 * 2.0 + 100 * 8.0) / 1e6, id="unknown-cached-price"),
    pytest.param(1.0, 1000, 100, 900, (100 * 2.0 + 900 * 1.0 + 100 * 8.0) / 1e6, id="cached-price"),
    pytest.param(0.0, 1000, 0, 1000, 0.0, id="free-cache-all-cached"),
    pytest.param(1.0, 100, 0, 500, 100 * 1.0 / 1e6, id="cached-capped-at-prompt"),
    pytest.param(1.0, 100, 10, -5, (100 * 2.0 + 10 * 8.0) / 1e6, id="negative-cached-ignored"),
]


@pytest.mark.parametrize(
    ("cached_price", "prompt", "completion", "cached", "usd"), _CACHED_PRICE_CASES
)
def test_price_cost_bills_cached_tokens_at_the_cached_price_when_known(
    cached_price: float | None, prompt: int, completion: int, cached: int, usd: float
) -> None:
    price = Price(
        input_per_mtok=2.0,
        output_per_mtok=8.0,
        cached_input_per_mtok=cached_price,
        as_of=date(2026, 11, 1),
        source="test",
    )
    assert price.cost(prompt, completion, cached) == pytest.approx(usd)


def test_price_cost_without_cached_tokens_is_unchanged() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, as_of=date(2026, 11, 1), source="t")
    assert price.cached_input_per_mtok is None
    assert price.cost(1000, 100) == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)


def test_usage_add_keeps_details_and_unknown() -> None:
    a = Usage(prompt_tokens=10, completion_tokens=5, cached_prompt_tokens=4, reasoning_tokens=2)
    b = Usage(prompt_tokens=1, completion_tokens=1, known=False)
    total = a + b
    assert (total.prompt_tokens, total.completion_tokens) == (11, 6)
    assert (total.cached_prompt_tokens, total.reasoning_tokens) == (4, 2)
    assert total.known is False
    assert (a + a).known is True
    assert Usage() + Usage() == Usage()


def test_unknown_usage_has_no_cost() -> None:
    price = Price(input_per_mtok=2.0, output_per_mtok=8.0, as_of=date(2026, 11, 1), source="t")
    assert attempt_cost(price, Usage(known=False)) is None
    assert attempt_cost(price, Usage()) == 0.0
