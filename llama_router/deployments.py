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
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic._internal._model_construction import ModelMetaclass

from llama_router.catalog import CatalogEntry, ModelCatalog, Price
from llama_router.exceptions import ConfigurationError, MissingCredentialsError, UnknownModelError
from llama_router.providers import (
    BUILTIN_PROVIDERS,
    ProviderOptions,
    ProviderSpec,
    provider_names,
    provider_spec,
    providers_with_option,
    unknown_provider_message,
)
from llama_router.validation import describe_validation_error

__all__ = ["PROVIDERS", "Deployment", "ProviderName", "Target", "resolve_deployment"]

ProviderName = Literal[
    "ollama", "llamacpp", "embedded", "groq", "together", "replicate", "openai_compatible"
]
"""The built-in provider names (``Deployment.provider`` also takes registered ones)."""

#: The built-in provider names.
PROVIDERS: tuple[ProviderName, ...] = tuple(spec.name for spec, _ in BUILTIN_PROVIDERS)  # type: ignore[misc]

_NO_OPTIONS = ProviderOptions()
_O = TypeVar("_O", bound=ProviderOptions)


class _ConfigurationErrors(ModelMetaclass):
    """``Deployment(...)`` raises :class:`ConfigurationError`, never pydantic's error.

    Only the constructor call is wrapped: inside a config file's validation the errors stay
    pydantic's, so they carry the key's path (``deployments[1].num_ctx``)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except ValidationError as exc:
            raise ConfigurationError(
                describe_validation_error(exc, cls.__name__, cls, where="in its fields")  # type: ignore[arg-type]
            ) from None


class Deployment(BaseModel, metaclass=_ConfigurationErrors):
    """One provider serving one canonical model.

    Example::

        Deployment(provider="groq", model="llama-3.1-8b")            # key from GROQ_API_KEY
        Deployment(provider="ollama", model="llama-3.1-8b", keep_alive="10m")
        Deployment(provider="llamacpp", model="llama-3.1-8b", base_url="http://127.0.0.1:8080")

    Settings only one provider understands (``keep_alive``, ``model_path``, ...) go in
    ``options``, validated by that provider's option model; they may equally be given as
    flat keywords, as above. Invalid input raises :class:`ConfigurationError`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    """A built-in provider (:data:`PROVIDERS`) or one added with ``register_provider``."""
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
    options: SerializeAsAny[ProviderOptions] = _NO_OPTIONS
    """Provider-only settings, e.g. ``OllamaOptions(keep_alive="10m")`` (or a mapping)."""

    if TYPE_CHECKING:  # any keywords: provider-only ones are checked by the provider's model

        def __init__(self, **data: Any) -> None: ...

    @classmethod
    def allowed_keys(cls) -> list[str]:
        """Every keyword a deployment takes: the shared fields and each provider's options."""
        names = set(cls.model_fields)
        for provider in provider_names():
            names.update(provider_spec(provider).options.model_fields)
        return sorted(names)

    @field_validator("provider")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value not in provider_names():
            raise ValueError(unknown_provider_message(value))
        return value

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: Any) -> Any:
        """Move flat provider-only keywords into ``options`` and validate them there."""
        if not isinstance(data, Mapping) or data.get("provider") not in provider_names():
            return data  # the provider's own error says what is wrong
        spec = provider_spec(data["provider"])
        data = dict(data)
        given = data.get("options")
        if given is None:
            values: dict[str, Any] = {}
        elif isinstance(given, spec.options):
            values = given.model_dump(exclude_unset=True)
        elif isinstance(given, Mapping):
            values = dict(given)
        else:
            raise ValueError(
                f"options of provider {spec.name!r} must be {spec.options.__name__} or a "
                f"mapping, got {type(given).__name__}"
            )
        for key in [k for k in data if k not in cls.model_fields]:
            if key in spec.options.model_fields:
                if key in values:
                    raise ValueError(f"{key} is given twice: as a keyword and in options")
                values[key] = data.pop(key)
                continue
            owners = providers_with_option(key)
            if owners:
                plural = "s" if len(owners) > 1 else ""
                raise ValueError(
                    f"{key} applies only to provider{plural} "
                    + " and ".join(repr(o) for o in owners)
                )
        data["options"] = spec.options.model_validate(values)
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Deployment:
        if provider_spec(self.provider).needs_base_url and not self.base_url:
            raise ValueError(f"provider {self.provider!r} needs base_url (e.g. http://host/v1)")
        if (self.input_price_per_mtok is None) != (self.output_price_per_mtok is None):
            raise ValueError("set both input_price_per_mtok and output_price_per_mtok, or neither")
        return self

    def __repr__(self) -> str:
        key = "" if self.api_key is None else ", api_key=SecretStr('**********')"
        return f"Deployment(provider={self.provider!r}, model={self.model!r}{key}, ...)"


@dataclass(frozen=True, slots=True)
class Target:
    """A resolved deployment: everything a backend and a policy need, frozen.

    The router builds it from a :class:`Deployment`; a custom backend's tests may build one
    directly, giving only what matters (``Target("echo", "echo", "llama-3.1-8b")``)."""

    name: str
    provider: str
    model: str
    """The canonical model name."""
    model_id: str = ""
    """The provider's model id; empty means the same as ``model``."""
    base_url: str | None = None
    api_key: SecretStr | None = None
    context_window: int | None = None
    price: Price | None = None
    tags: frozenset[str] = frozenset()
    timeout: float = 60.0
    connect_timeout: float = 5.0
    max_concurrency: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    options: ProviderOptions = _NO_OPTIONS
    catalog_entry: CatalogEntry | None = None

    def __post_init__(self) -> None:
        if not self.model_id:
            object.__setattr__(self, "model_id", self.model)

    @property
    def is_local(self) -> bool:
        return "local" in self.tags

    def options_as(self, kind: type[_O]) -> _O:
        """The provider options as ``kind`` (its defaults when none were given)."""
        if isinstance(self.options, kind):
            return self.options
        try:
            return kind()
        except ValidationError:
            raise ConfigurationError(
                f"deployment {self.name!r} ({self.provider}) needs {kind.__name__} options: "
                f"fields {', '.join(kind.model_fields)}"
            ) from None

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """The provider options under their old flat names (``target.keep_alive``)."""
            if name.startswith("_") or name == "options":
                raise AttributeError(name)
            try:
                return getattr(self.options, name)
            except AttributeError:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}"
                ) from None

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
    spec = provider_spec(provider)
    model, model_id, entry = _model_and_id(deployment, spec, catalog)
    api_key = _api_key(deployment, spec, environ)
    base_url = (
        deployment.base_url
        or _host_url(environ.get(spec.base_url_env) if spec.base_url_env else None)
        or spec.base_url
    )
    _refuse_clear_text_keys(deployment, base_url, api_key)
    is_local = spec.locality == "local" or (
        spec.locality == "loopback" and base_url is not None and _is_loopback(base_url)
    )
    options = deployment.options
    return Target(
        name=deployment.name or f"{provider}/{model_id}",
        provider=provider,
        model=model,
        model_id=model_id,
        base_url=base_url,
        api_key=api_key,
        context_window=deployment.context_window
        or options.context_window  # Ollama and embedded run with num_ctx, whatever the model's
        # A local server runs with the window it was launched with, not the model's maximum:
        # unknown until set here or learned (llama.cpp /props, Ollama /api/ps, n_ctx errors).
        or (entry.context_window if entry and not is_local else None),
        price=_price(deployment, spec, entry),
        tags=frozenset({*deployment.tags, "local" if is_local else "cloud"}),
        timeout=deployment.timeout,
        connect_timeout=deployment.connect_timeout,
        max_concurrency=deployment.max_concurrency,
        rpm=deployment.rpm,
        tpm=deployment.tpm,
        options=options,
        catalog_entry=entry,
    )


def _model_and_id(
    deployment: Deployment, spec: ProviderSpec, catalog: ModelCatalog
) -> tuple[str, str, CatalogEntry | None]:
    """The canonical model name, the provider's id for it, and its catalog entry."""
    provider = deployment.provider
    try:
        model = catalog.canonical(deployment.model)
    except UnknownModelError:
        if not spec.any_model:
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
        if not spec.any_model:
            retired = catalog.retired_ids(provider, model)
            why = f" (its ids {', '.join(retired)} are retired)" if retired else ""
            raise UnknownModelError(
                f"{provider} has no catalog id for {model!r}{why}. Pass model_id=... to use "
                "an id the catalog does not know, or choose another provider."
            )
        model_id = model
    return model, model_id, entry


def _api_key(
    deployment: Deployment, spec: ProviderSpec, environ: Mapping[str, str]
) -> SecretStr | None:
    """The deployment's key, else the provider's key variable; a cloud provider needs one."""
    if deployment.api_key is not None or spec.key_env is None:
        return deployment.api_key
    value = environ.get(spec.key_env)
    if value:
        return SecretStr(value)
    if spec.key_required:
        raise MissingCredentialsError(
            f"{spec.name} needs an API key: set the {spec.key_env} environment variable or "
            f"pass Deployment(provider={spec.name!r}, api_key=...)."
        )
    return None


def _price(deployment: Deployment, spec: ProviderSpec, entry: CatalogEntry | None) -> Price | None:
    """The deployment's own prices, else the catalog's; a local engine is free."""
    if deployment.input_price_per_mtok is not None and deployment.output_price_per_mtok is not None:
        return Price(
            input_per_mtok=deployment.input_price_per_mtok,
            output_per_mtok=deployment.output_price_per_mtok,
            as_of=date.today(),
            source="deployment configuration",
        )
    if entry is not None and entry.price is not None:
        return entry.price
    if spec.locality == "local":
        return Price(input_per_mtok=0, output_per_mtok=0, as_of=date.today(), source="local engine")
    return None


def _refuse_clear_text_keys(
    deployment: Deployment, base_url: str | None, api_key: SecretStr | None
) -> None:
    """A key never goes over plain HTTP to another host unless the user says so."""
    if (
        base_url is not None
        and base_url.lower().startswith("http://")
        and api_key is not None
        and not _is_loopback(base_url)
        and not deployment.allow_insecure_http
    ):
        raise ConfigurationError(
            f"{deployment.provider} base_url {_origin(base_url)} is plain http://: the API key "
            "would be sent in clear text. Use https://, or set allow_insecure_http=True if the "
            "network is trusted."
        )


def _host_url(value: str | None) -> str | None:
    """A host variable's value as a URL: ``OLLAMA_HOST`` / ``LLAMACPP_HOST`` are often set
    as ``host:port``, which means plain HTTP."""
    if not value or not value.strip():
        return None
    value = value.strip()
    return value if "://" in value else f"http://{value}"
