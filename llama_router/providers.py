"""Providers describe themselves: one frozen :class:`ProviderSpec` each, and one registry.

A spec says where a provider is (default base URL, a host variable), which key it needs
(the environment variable), whether it is a local engine or the cloud, what its API can do,
which extra installs its SDK and which settings only it understands (its option model).
:func:`resolve_deployment` reads the spec; it has no per-provider branches.

Adding a provider is one backend module, one spec and its tests::

    register_provider(
        ProviderSpec(name="echo", locality="local", any_model=True),
        EchoBackend,  # a Backend subclass, or "package.module:ClassName" to import lazily
    )

Built-in providers are registered the same way (below), by module path, so that
``import llama_router`` imports no SDK.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from llama_router.capabilities import Capabilities
from llama_router.exceptions import ConfigurationError

if TYPE_CHECKING:
    from llama_router.backends.base import Backend

__all__ = [
    "BUILTIN_PROVIDERS",
    "Capabilities",
    "EmbeddedOptions",
    "Locality",
    "OllamaOptions",
    "ProviderOptions",
    "ProviderSpec",
    "ReplicateOptions",
    "backend_class",
    "provider_names",
    "provider_spec",
    "providers_with_option",
    "register_provider",
    "unregister_provider",
]


class ProviderOptions(BaseModel):
    """Settings only one provider understands; this base has none.

    A provider's subclass declares its own fields (frozen, unknown keys refused). They are
    given as ``Deployment(options=...)`` or, equally, as flat ``Deployment`` keywords."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def context_window(self) -> int | None:
        """The window the provider runs the model with, when an option fixes it."""
        return None


class OllamaOptions(ProviderOptions):
    """Ollama's own settings."""

    keep_alive: str | float | None = None
    """How long the model stays loaded after the call (``"5m"``, ``0``)."""
    num_ctx: int | None = Field(default=None, gt=0)
    """The context window to run the model with."""

    @property
    def context_window(self) -> int | None:
        return self.num_ctx


EMBEDDED_DEFAULT_CONTEXT = 2048
"""The embedded engine's window when ``num_ctx`` is not set."""


class EmbeddedOptions(ProviderOptions):
    """The in-process engine's settings."""

    model_path: str = Field(min_length=1)
    """The GGUF file to load in-process."""
    num_ctx: int | None = Field(default=None, gt=0)
    """The context window to run the model with (default 2048)."""
    n_threads: int | None = Field(default=None, gt=0)
    """CPU threads for generation (default: llama.cpp's choice)."""
    n_parallel: int | None = Field(default=None, gt=0)
    """Requests generated at once (llama.cpp slots, each with the whole window; default 2)."""

    @property
    def context_window(self) -> int | None:
        return self.num_ctx or EMBEDDED_DEFAULT_CONTEXT


class ReplicateOptions(ProviderOptions):
    """Replicate's predictions settings."""

    replicate_wait: int = Field(default=60, ge=1, le=60)
    """Seconds to hold the create call open (``Prefer: wait=N``)."""
    poll_interval: float = Field(default=0.5, ge=0)
    """Seconds between polls of a prediction that is still running."""
    cold_boot_timeout: float | None = Field(default=None, ge=0)
    """Give up (and cancel) a prediction still ``starting`` after this many seconds, raising
    ColdStartError so the router can fail over."""


Locality = Literal["local", "cloud", "loopback"]
"""``local``: a free local engine; ``cloud``: a paid remote API; ``loopback``: local only
when its base URL is a loopback address (a generic server)."""


_EVERY_CAPABILITY = Capabilities()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """What a provider is, as data."""

    name: str
    """The ``Deployment(provider=...)`` value."""
    locality: Locality = "cloud"
    key_env: str | None = None
    """The environment variable the API key is read from when none is given."""
    key_required: bool = False
    """Refuse a deployment without a key (:class:`MissingCredentialsError`)."""
    base_url: str | None = None
    """Default base URL."""
    base_url_env: str | None = None
    """An environment variable that overrides the default base URL (``OLLAMA_HOST``)."""
    needs_base_url: bool = False
    """No default address: every deployment must give ``base_url``."""
    any_model: bool = False
    """Self-hosted: serves any model under any name (the model id defaults to the name)."""
    extra: str | None = None
    """The ``pip install "llama-router[extra]"`` that installs its SDK."""
    options: type[ProviderOptions] = ProviderOptions
    """Its option model (provider-only settings)."""
    capabilities: Capabilities = _EVERY_CAPABILITY


@dataclass(frozen=True, slots=True)
class _Entry:
    spec: ProviderSpec
    backend: str | type[Backend]


_B = "llama_router.backends."

BUILTIN_PROVIDERS: tuple[tuple[ProviderSpec, str], ...] = (
    (
        ProviderSpec(
            name="ollama",
            locality="local",
            key_env="OLLAMA_API_KEY",  # optional: Ollama's cloud
            base_url="http://127.0.0.1:11434",
            base_url_env="OLLAMA_HOST",
            extra="ollama",
            options=OllamaOptions,
        ),
        _B + "ollama:OllamaBackend",
    ),
    (
        ProviderSpec(
            name="llamacpp",
            locality="local",
            base_url="http://127.0.0.1:8080",
            base_url_env="LLAMACPP_HOST",
            any_model=True,
        ),
        _B + "llamacpp:LlamaCppBackend",
    ),
    (
        ProviderSpec(
            name="embedded",
            locality="local",
            any_model=True,
            extra="local",
            options=EmbeddedOptions,
        ),
        _B + "embedded:EmbeddedBackend",
    ),
    (
        ProviderSpec(name="groq", key_env="GROQ_API_KEY", key_required=True, extra="groq"),
        _B + "groq:GroqBackend",
    ),
    (
        ProviderSpec(
            name="together", key_env="TOGETHER_API_KEY", key_required=True, extra="together"
        ),
        _B + "together:TogetherBackend",
    ),
    (
        ProviderSpec(
            name="replicate",
            key_env="REPLICATE_API_TOKEN",
            key_required=True,
            extra="replicate",
            options=ReplicateOptions,
            # Meta's Llama 3 models there have no JSON mode and no tool calling; seed is
            # unconfirmed on them, so it is refused rather than silently ignored.
            capabilities=Capabilities(tools=False, json_mode=False, json_schema=False, seed=False),
        ),
        _B + "replicate:ReplicateBackend",
    ),
    (
        ProviderSpec(
            name="openai_compatible", locality="loopback", needs_base_url=True, any_model=True
        ),
        _B + "openai_compatible:OpenAICompatibleBackend",
    ),
)
"""The built-in providers and their backend classes (imported on first use)."""

_REGISTRY: dict[str, _Entry] = {spec.name: _Entry(spec, path) for spec, path in BUILTIN_PROVIDERS}
_BUILTIN_NAMES = frozenset(_REGISTRY)
_NAME = re.compile(r"[a-z][a-z0-9_\-]*\Z")
_SHARED_FIELDS = frozenset(
    {
        "provider", "model", "model_id", "name", "base_url", "api_key", "context_window",
        "input_price_per_mtok", "output_price_per_mtok", "tags", "allow_insecure_http",
        "max_concurrency", "rpm", "tpm", "timeout", "connect_timeout", "options",
    }
)  # fmt: skip


def register_provider(
    spec: ProviderSpec, backend: type[Backend] | str, *, replace: bool = False
) -> None:
    """Make ``Deployment(provider=spec.name, ...)`` create ``backend``.

    Args:
        spec: the provider's description.
        backend: a :class:`~llama_router.backends.Backend` subclass, or
            ``"package.module:ClassName"`` to import it when the first deployment is created.
        replace: allow replacing a provider registered earlier (never a built-in one).

    Raises:
        ConfigurationError: a bad name, a name already taken, an option that shadows a
            shared ``Deployment`` field, or a backend that is not a Backend subclass.
    """
    name = spec.name
    if not _NAME.match(name):
        raise ConfigurationError(
            f"provider name {name!r} must be lower case letters, digits, '_' or '-', "
            "starting with a letter"
        )
    if name in _BUILTIN_NAMES or (name in _REGISTRY and not replace):
        raise ConfigurationError(
            f"provider {name!r} is already registered; pick another name"
            + ("" if name in _BUILTIN_NAMES else " or pass replace=True")
        )
    clash = sorted(_SHARED_FIELDS & set(spec.options.model_fields))
    if clash:
        raise ConfigurationError(
            f"{spec.options.__name__} redefines the shared Deployment field(s) "
            f"{', '.join(clash)}; rename those options"
        )
    if not isinstance(backend, str):
        from llama_router.backends.base import Backend

        if not (isinstance(backend, type) and issubclass(backend, Backend)):
            raise ConfigurationError(
                f"backend for provider {name!r} must be a Backend subclass or a "
                f"'module:Class' path, got {backend!r}"
            )
    _REGISTRY[name] = _Entry(spec, backend)


def unregister_provider(name: str) -> None:
    """Forget a provider added with :func:`register_provider` (built-ins stay)."""
    if name in _BUILTIN_NAMES:
        raise ConfigurationError(f"provider {name!r} is built in and cannot be unregistered")
    _REGISTRY.pop(name, None)


def provider_names() -> tuple[str, ...]:
    """Every registered provider name, built-ins first."""
    return tuple(_REGISTRY)


def provider_spec(name: str) -> ProviderSpec:
    """The spec of a registered provider.

    Raises:
        ConfigurationError: no provider of that name is registered.
    """
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigurationError(unknown_provider_message(name))
    return entry.spec


def unknown_provider_message(name: object) -> str:
    known = ", ".join(repr(n) for n in _REGISTRY)
    return (
        f"unknown provider {name!r}; use one of {known}, or add one with "
        "llama_router.register_provider()"
    )


def providers_with_option(option: str) -> tuple[str, ...]:
    """The providers whose option model has a field named ``option``."""
    return tuple(n for n, e in _REGISTRY.items() if option in e.spec.options.model_fields)


def backend_class(name: str) -> type[Backend]:
    """The backend class of a registered provider (imported now if given as a path)."""
    provider_spec(name)  # raises for an unknown name
    backend = _REGISTRY[name].backend
    if isinstance(backend, str):
        module_name, _, class_name = backend.partition(":")
        loaded: type[Backend] = getattr(importlib.import_module(module_name), class_name)
        return loaded
    return backend
