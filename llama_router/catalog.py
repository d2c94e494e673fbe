"""The Llama 3 model catalog: canonical names mapped per provider to model ids, context
windows, quantisation and prices (each price with its date and source).

Figures come from ``docs/providers.md`` (the project's wire reference). Where that reference
marks a figure *unconfirmed*, the entry says so in ``notes`` and its price has
``confirmed=False``. Local engines (Ollama, llama.cpp) cost nothing.

The catalog is immutable: :meth:`ModelCatalog.with_entries` returns a new catalog with
entries added or replaced, so users override prices or add ids from code.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from llama_router.exceptions import UnknownModelError

__all__ = ["CANONICAL_MODELS", "CatalogEntry", "ModelCatalog", "Price"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")

#: Canonical model names. Each names the instruct (chat) model; ``-instruct`` is accepted
#: as a suffix and ignored.
CANONICAL_MODELS: tuple[str, ...] = (
    "llama-3-8b",
    "llama-3-70b",
    "llama-3.1-8b",
    "llama-3.1-70b",
    "llama-3.1-405b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-3.3-70b",
)


class Price(BaseModel):
    """USD per million input and output tokens, with where and when the figure was read."""

    model_config = _FROZEN

    input_per_mtok: float = Field(ge=0)
    output_per_mtok: float = Field(ge=0)
    as_of: date
    source: str
    confirmed: bool = True
    cached_input_per_mtok: float | None = Field(default=None, ge=0)
    """USD per million prompt tokens served from the provider's prompt cache; ``None`` when
    no published figure was found (cached tokens are then billed at ``input_per_mtok``)."""

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """USD for the given token counts; ``cached_tokens`` are the part of
        ``prompt_tokens`` read from the cache, billed at the cached price when known."""
        cached = min(max(cached_tokens, 0), prompt_tokens)
        cached_rate = self.input_per_mtok
        if self.cached_input_per_mtok is not None:
            cached_rate = self.cached_input_per_mtok
        return (
            (prompt_tokens - cached) * self.input_per_mtok
            + cached * cached_rate
            + completion_tokens * self.output_per_mtok
        ) / 1e6


class CatalogEntry(BaseModel):
    """One provider's offering of one canonical model."""

    model_config = _FROZEN

    provider: str
    model: str
    """Canonical name (see :data:`CANONICAL_MODELS`)."""
    model_id: str
    """The provider's own id for it."""
    context_window: int | None = None
    max_output_tokens: int | None = None
    quantization: str | None = None
    price: Price | None = None
    status: Literal["active", "deprecated", "retired"] = "active"
    """``retired`` ids are never used; ``deprecated`` ones work but are reported as such."""
    notes: str = ""


_FREE = Price(input_per_mtok=0, output_per_mtok=0, as_of=date(2026, 11, 1), source="local engine")


def _price(inp: float, out: float, as_of: date, source: str, *, confirmed: bool = True) -> Price:
    return Price(
        input_per_mtok=inp, output_per_mtok=out, as_of=as_of, source=source, confirmed=confirmed
    )


_GROQ_MODELS = "console.groq.com/docs/models"
_GROQ_DATE = date(2026, 8, 8)
_TOGETHER_SRC = "third-party catalogues (Helicone, Bifrost), unconfirmed; read GET /v1/models"
_TOGETHER_DATE = date(2025, 6, 1)
_REPLICATE_2024 = "2024 list prices, unconfirmed"


def _groq() -> list[CatalogEntry]:
    def e(model: str, model_id: str, **kw: object) -> CatalogEntry:
        return CatalogEntry(provider="groq", model=model, model_id=model_id, **kw)  # type: ignore[arg-type]

    p8 = _price(0.05, 0.08, _GROQ_DATE, _GROQ_MODELS)
    p70 = _price(0.59, 0.79, _GROQ_DATE, _GROQ_MODELS)
    retired = "decommissioned (date unconfirmed)"
    return [
        e(
            "llama-3.1-8b",
            "llama-3.1-8b-instant",
            context_window=131_072,
            max_output_tokens=131_072,
            price=p8,
        ),
        e(
            "llama-3.3-70b",
            "llama-3.3-70b-versatile",
            context_window=131_072,
            max_output_tokens=32_768,
            price=p70,
            status="deprecated",
            notes="listed on the models page (2026-08-08); third-party notes report shutdown on "
            "2026-08-16 (unconfirmed)",
        ),
        e("llama-3-8b", "llama3-8b-8192", context_window=8192, status="retired", notes=retired),
        e("llama-3-70b", "llama3-70b-8192", context_window=8192, status="retired", notes=retired),
        e("llama-3.1-70b", "llama-3.1-70b-versatile", status="retired", notes=retired),
        e("llama-3.2-1b", "llama-3.2-1b-preview", status="retired", notes=retired),
        e("llama-3.2-3b", "llama-3.2-3b-preview", status="retired", notes=retired),
    ]


def _together() -> list[CatalogEntry]:
    def e(model: str, model_id: str, inp: float, ctx: int | None, **kw: object) -> CatalogEntry:
        return CatalogEntry(
            provider="together",
            model=model,
            model_id=f"meta-llama/{model_id}",
            context_window=ctx,
            price=_price(inp, inp, _TOGETHER_DATE, _TOGETHER_SRC, confirmed=False),
            **kw,  # type: ignore[arg-type]
        )

    unconfirmed_ctx = "context window unconfirmed"
    return [
        e("llama-3-8b", "Meta-Llama-3-8B-Instruct-Turbo", 0.18, 8192, quantization="FP8"),
        e("llama-3-70b", "Meta-Llama-3-70B-Instruct-Turbo", 0.88, 8192, quantization="FP8"),
        e("llama-3-8b", "Meta-Llama-3-8B-Instruct-Lite", 0.10, 8192, quantization="INT4"),
        e("llama-3-70b", "Meta-Llama-3-70B-Instruct-Lite", 0.54, 8192, quantization="INT4"),
        e("llama-3.1-8b", "Meta-Llama-3.1-8B-Instruct-Turbo", 0.18, 131_072, notes=unconfirmed_ctx),
        e(
            "llama-3.1-70b",
            "Meta-Llama-3.1-70B-Instruct-Turbo",
            0.88,
            131_072,
            notes=unconfirmed_ctx,
        ),
        e(
            "llama-3.1-405b",
            "Meta-Llama-3.1-405B-Instruct-Turbo",
            3.50,
            None,
            notes="context window and price unconfirmed",
        ),
        e(
            "llama-3.2-3b",
            "Llama-3.2-3B-Instruct-Turbo",
            0.06,
            131_072,
            notes="context window and price unconfirmed",
        ),
        e("llama-3.3-70b", "Llama-3.3-70B-Instruct-Turbo", 0.88, 131_072),
        e(
            "llama-3.3-70b",
            "Llama-3.3-70B-Instruct-Turbo-Free",
            0.0,
            None,
            notes="free tier with reduced limits; unconfirmed",
        ),
        e(
            "llama-3-8b",
            "Llama-3-8b-chat-hf",
            0.0,
            8192,
            status="retired",
            notes="reported removed from serverless",
        ),
        e(
            "llama-3-70b",
            "Llama-3-70b-chat-hf",
            0.0,
            8192,
            status="retired",
            notes="reported removed from serverless",
        ),
    ]


def _replicate() -> list[CatalogEntry]:
    return [
        CatalogEntry(
            provider="replicate",
            model="llama-3-8b",
            model_id="meta/meta-llama-3-8b-instruct",
            context_window=8192,
            price=_price(0.05, 0.25, date(2024, 7, 1), _REPLICATE_2024, confirmed=False),
        ),
        CatalogEntry(
            provider="replicate",
            model="llama-3-70b",
            model_id="meta/meta-llama-3-70b-instruct",
            context_window=8192,
            price=_price(0.65, 2.75, date(2024, 7, 1), _REPLICATE_2024, confirmed=False),
        ),
        CatalogEntry(
            provider="replicate",
            model="llama-3.1-405b",
            model_id="meta/meta-llama-3.1-405b-instruct",
            price=_price(9.50, 9.50, date(2026, 8, 1), "replicate.com/docs/billing worked example"),
            notes="context window not published (unconfirmed)",
        ),
    ]


def _ollama() -> list[CatalogEntry]:
    rows = [
        ("llama-3-8b", "llama3:8b", 8192),
        ("llama-3-70b", "llama3:70b", 8192),
        ("llama-3.1-8b", "llama3.1:8b", 131_072),
        ("llama-3.1-70b", "llama3.1:70b", 131_072),
        ("llama-3.1-405b", "llama3.1:405b", 131_072),
        ("llama-3.2-1b", "llama3.2:1b", 131_072),
        ("llama-3.2-3b", "llama3.2:3b", 131_072),
        ("llama-3.3-70b", "llama3.3:70b", 131_072),
    ]
    note = "usable context is the server's num_ctx (often 4096), not the model maximum"
    return [
        CatalogEntry(
            provider="ollama", model=m, model_id=i, context_window=c, price=_FREE, notes=note
        )
        for m, i, c in rows
    ]


class ModelCatalog:
    """An immutable index of :class:`CatalogEntry` rows by provider and canonical model."""

    __slots__ = ("_by_id", "_by_model", "_entries")

    def __init__(self, entries: Iterable[CatalogEntry]) -> None:
        by_id: dict[tuple[str, str], CatalogEntry] = {}
        for entry in entries:
            by_id[(entry.provider, entry.model_id)] = entry  # later rows replace earlier ones
        by_model: dict[tuple[str, str], list[CatalogEntry]] = {}
        for entry in by_id.values():
            by_model.setdefault((entry.provider, entry.model), []).append(entry)
        self._entries: tuple[CatalogEntry, ...] = tuple(by_id.values())
        self._by_id = by_id
        self._by_model = {k: tuple(v) for k, v in by_model.items()}

    @classmethod
    def default(cls) -> ModelCatalog:
        """The built-in catalog (see ``docs/catalog.md`` for sources)."""
        return cls([*_groq(), *_together(), *_replicate(), *_ollama()])

    @property
    def entries(self) -> tuple[CatalogEntry, ...]:
        return self._entries

    def with_entries(self, *entries: CatalogEntry) -> ModelCatalog:
        """A new catalog with ``entries`` added; an entry with the same provider and model id
        replaces the existing one (use this to correct a price or context window)."""
        return ModelCatalog([*self._entries, *entries])

    def models(self) -> tuple[str, ...]:
        """Every canonical model name known to the catalog."""
        names = dict.fromkeys(CANONICAL_MODELS)
        names.update(dict.fromkeys(e.model for e in self._entries))
        return tuple(names)

    def canonical(self, name: str) -> str:
        """Normalise a model name (``Llama-3.1-8B-Instruct`` -> ``llama-3.1-8b``) or raise
        :class:`UnknownModelError` with the closest known names."""
        key = name.strip().lower().replace("_", "-")
        if key.endswith("-instruct"):
            key = key[: -len("-instruct")]
        if key.startswith("llama3"):
            key = "llama-3" + key[len("llama3") :]
        known = self.models()
        if key in known:
            return key
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"Unknown model {name!r}.{hint} Known models: {', '.join(known)}. "
            "Add your own with ModelCatalog.with_entries(...)."
        )

    def lookup(self, provider: str, model: str, model_id: str | None = None) -> CatalogEntry | None:
        """The entry for ``provider`` serving canonical ``model``: the one with ``model_id``
        when given, else the first active entry. ``None`` when the catalog has none."""
        if model_id is not None:
            return self._by_id.get((provider, model_id))
        for entry in self._by_model.get((provider, model), ()):
            if entry.status != "retired":
                return entry
        return None

    def retired_ids(self, provider: str, model: str) -> tuple[str, ...]:
        return tuple(
            e.model_id for e in self._by_model.get((provider, model), ()) if e.status == "retired"
        )
