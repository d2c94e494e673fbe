"""Deployments: one routable target each (a provider, a model id, where and with which key).

:class:`Deployment` is what users write (in code, later in a config file). The router
resolves it once, against the catalog and the environment, into a frozen :class:`Target`
that backends and policies read.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from llama_router.catalog import CatalogEntry, ModelCatalog, Price
from llama_router.exceptions import ConfigurationError, MissingCredentialsError, UnknownModelError

__all__ = ["PROVIDERS", "Deployment", "ProviderName", "Target", "resolve_deployment"]

ProviderName = Literal[
    "ollama", "llamacpp", "embedded", "groq", "together", "replicate", "openai_compatible"
]

#: Every provider name a deployment may use.
PROVIDERS: tuple[ProviderName, ...] = (
    "ollama",
    "llamacpp",
    "embedded",
    "groq",
    "together",
    "replicate",
    "openai_compatible",
)

_KEY_ENV: Mapping[str, str] = MappingProxyType(
    {
        "groq": "GROQ_API_KEY",
        "together": "TOGETHER_API_KEY",
        "replicate": "REPLICATE_API_TOKEN",
    }
)
_DEFAULT_BASE: Mapping[str, str] = MappingProxyType(
    {
        "ollama": "http://127.0.0.1:11434",
        "llamacpp": "http://127.0.0.1:8080",
    }
)
_LOCAL_PROVIDERS = frozenset({"ollama", "llamacpp", "embedded"})


class Deployment(BaseModel):
    """One provider serving one canonical model.

    Example::

        Deployment(provider="groq", model="llama-3.1-8b")            # key from GROQ_API_KEY
        Deployment(provider="ollama", model="llama-3.1-8b", keep_alive="10m")
        Deployment(provider="llamacpp", model="llama-3.1-8b", base_url="http://127.0.0.1:8080")
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName
    model: str = Field(min_length=1)
    """Canonical model name, e.g. ``llama-3.1-8b``."""
    model_id: str | None = None
    """The provider's model id; defaults to the catalog's active id for ``model``."""
    name: str | None = None
    """A unique name for this deployment; defaults to ``provider/model_id``."""
    base_url: str | None = None
    api_key: SecretStr | None = None
    """The key; when omitted it is read from the provider's standard environment variable."""
    context_window: int | None = Field(default=None, gt=0)
    input_price_per_mtok: float | None = Field(default=None, ge=0)
    output_price_per_mtok: float | None = Field(default=None, ge=0)
    tags: frozenset[str] = frozenset()
    allow_insecure_http: bool = False
    """Allow a plain ``http://`` base URL to a non-loopback host for a deployment that sends a
    key (refused by default: the key would cross the network in clear text)."""
    max_concurrency: int | None = Field(default=None, gt=0)
    """Most requests in flight at once on this deployment (client-side)."""
    rpm: int | None = Field(default=None, gt=0)
    """Most requests per rolling minute (client-side, honoured before sending)."""
    tpm: int | None = Field(default=None, gt=0)
    """Most tokens (prompt estimate + output cap) per rolling minute."""
    timeout: float = Field(default=60.0, gt=0)
    """Seconds to wait for the reply (for streams: between chunks)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    keep_alive: str | float | None = None
    """Ollama only: how long the model stays loaded after the call (``"5m"``, ``0``)."""
    num_ctx: int | None = Field(default=None, gt=0)
    """Ollama and embedded: the context window to run the model with."""
    model_path: str | None = None
    """Embedded only: the GGUF file to load in-process."""
    n_threads: int | None = Field(default=None, gt=0)
    """Embedded only: CPU threads for generation (default: llama.cpp's choice)."""
    replicate_wait: int = Field(default=60, ge=1, le=60)
    """Replicate only: seconds to hold the create call open (``Prefer: wait=N``)."""
    poll_interval: float = Field(default=0.5, ge=0)
    """Replicate only: seconds between polls of a prediction that is still running."""
    cold_boot_timeout: float | None = Field(default=None, ge=0)
    """Replicate only: give up (and cancel) a prediction still ``starting`` after this many
    seconds, raising ColdStartError so the router can fail over."""

    @model_validator(mode="after")
    def _provider_specific(self) -> Deployment:
        if self.provider != "ollama" and self.keep_alive is not None:
            raise ValueError("keep_alive applies only to provider 'ollama'")
        if self.provider not in ("ollama", "embedded") and self.num_ctx is not None:
            raise ValueError("num_ctx applies only to providers 'ollama' and 'embedded'")
        if self.provider == "embedded" and not self.model_path:
            raise ValueError("provider 'embedded' needs model_path (a GGUF file)")
        if self.provider != "embedded" and (self.model_path or self.n_threads):
            raise ValueError("model_path and n_threads apply only to provider 'embedded'")
        if self.provider == "openai_compatible" and not self.base_url:
            raise ValueError("provider 'openai_compatible' needs base_url (e.g. http://host/v1)")
        if (self.input_price_per_mtok is None) != (self.output_price_per_mtok is None):
            raise ValueError("set both input_price_per_mtok and output_price_per_mtok, or neither")
        return self

    def __repr__(self) -> str:
        key = "" if self.api_key is None else ", api_key=SecretStr('**********')"
        return f"Deployment(provider={self.provider!r}, model={self.model!r}{key}, ...)"


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved deployment: everything a backend and a policy need, frozen."""

    name: str
    provider: ProviderName
    model: str
    model_id: str
    base_url: str | None
    api_key: SecretStr | None
    context_window: int | None
    price: Price | None
    tags: frozenset[str]
    timeout: float
    connect_timeout: float
    max_concurrency: int | None
    rpm: int | None
    tpm: int | None
    keep_alive: str | float | None
    num_ctx: int | None
    model_path: str | None
    n_threads: int | None
    replicate_wait: int
    poll_interval: float
    cold_boot_timeout: float | None
    catalog_entry: CatalogEntry | None

    @property
    def is_local(self) -> bool:
        return "local" in self.tags

    def __repr__(self) -> str:  # never print the key
        return f"Target(name={self.name!r}, provider={self.provider!r}, model_id={self.model_id!r})"


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def resolve_deployment(
    deployment: Deployment, catalog: ModelCatalog, env: Mapping[str, str] | None = None
) -> Target:
    """Resolve a deployment against the catalog and the environment.

    Raises:
        UnknownModelError: the model name is unknown, or the provider has no id for it and
            none was given.
        ConfigurationError: the chosen id is marked retired in the catalog.
        MissingCredentialsError: a cloud provider has no key.
    """
    environ = os.environ if env is None else env
    provider = deployment.provider
    local_kind = provider in ("llamacpp", "openai_compatible", "embedded")
    try:
        model = catalog.canonical(deployment.model)
    except UnknownModelError:
        if not local_kind:
            raise
        model = deployment.model  # self-hosted engines may serve any model under any name

    entry = catalog.lookup(provider, model, deployment.model_id)
    if entry is not None and entry.status == "retired":
        raise ConfigurationError(
            f"{provider} model id {entry.model_id!r} is retired ({entry.notes}). "
            f"Remove model_id to use the current id for {model!r}, or pick another provider."
        )
    model_id = deployment.model_id or (entry.model_id if entry else None)
    if model_id is None:
        if local_kind:
            model_id = model
        else:
            retired = catalog.retired_ids(provider, model)
            why = f" (its ids {', '.join(retired)} are retired)" if retired else ""
            raise UnknownModelError(
                f"{provider} has no catalog id for {model!r}{why}. Pass model_id=... to use "
                "an id the catalog does not know, or choose another provider."
            )

    api_key = deployment.api_key
    env_var = _KEY_ENV.get(provider)
    if api_key is None and env_var is not None:
        value = environ.get(env_var)
        if not value:
            raise MissingCredentialsError(
                f"{provider} needs an API key: set the {env_var} environment variable or pass "
                f"Deployment(provider={provider!r}, api_key=...)."
            )
        api_key = SecretStr(value)
    if api_key is None and provider == "ollama" and environ.get("OLLAMA_API_KEY"):
        api_key = SecretStr(environ["OLLAMA_API_KEY"])  # optional: Ollama's cloud

    base_url = deployment.base_url
    if base_url is None and provider == "ollama":
        base_url = environ.get("OLLAMA_HOST") or _DEFAULT_BASE["ollama"]
    elif base_url is None:
        base_url = _DEFAULT_BASE.get(provider)

    price = entry.price if entry else None
    if deployment.input_price_per_mtok is not None and deployment.output_price_per_mtok is not None:
        price = Price(
            input_per_mtok=deployment.input_price_per_mtok,
            output_per_mtok=deployment.output_price_per_mtok,
            as_of=date.today(),
            source="deployment configuration",
        )
    elif price is None and provider in _LOCAL_PROVIDERS:
        price = Price(
            input_per_mtok=0, output_per_mtok=0, as_of=date.today(), source="local engine"
        )

    if (
        base_url is not None
        and base_url.lower().startswith("http://")
        and api_key is not None
        and not _is_loopback(base_url)
        and not deployment.allow_insecure_http
    ):
        raise ConfigurationError(
            f"{provider} base_url {_origin(base_url)} is plain http://: the API key would be "
            "sent in clear text. Use https://, or set allow_insecure_http=True if the network "
            "is trusted."
        )

    is_local = provider in _LOCAL_PROVIDERS or (
        provider == "openai_compatible" and base_url is not None and _is_loopback(base_url)
    )
    tags = frozenset({*deployment.tags, "local" if is_local else "cloud"})
    return Target(
        name=deployment.name or f"{provider}/{model_id}",
        provider=provider,
        model=model,
        model_id=model_id,
        base_url=base_url,
        api_key=api_key,
        context_window=deployment.context_window
        or deployment.num_ctx  # Ollama and embedded run with this window, whatever the model's
        or (entry.context_window if entry else None),
        price=price,
        tags=tags,
        timeout=deployment.timeout,
        connect_timeout=deployment.connect_timeout,
        max_concurrency=deployment.max_concurrency,
        rpm=deployment.rpm,
        tpm=deployment.tpm,
        keep_alive=deployment.keep_alive,
        num_ctx=deployment.num_ctx,
        model_path=deployment.model_path,
        n_threads=deployment.n_threads,
        replicate_wait=deployment.replicate_wait,
        poll_interval=deployment.poll_interval,
        cold_boot_timeout=deployment.cold_boot_timeout,
        catalog_entry=entry,
    )
