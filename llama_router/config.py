"""Config files: deployments, policy, timeouts, retries, hedging, limits and budget in TOML
(or YAML, with PyYAML installed), validated by pydantic.

.. code-block:: toml

    [router]
    policy = "local_first"          # ordered, lowest_latency, lowest_cost, best_availability,
    slow_ttft = 2.0                 # local_first, cloud_first, cheapest_under
    continuation = true

    [router.timeouts]
    total = 60
    first_token = 10

    [router.budget]
    usd = 5.0

    [[deployments]]
    provider = "ollama"
    model = "llama-3.1-8b"

    [[deployments]]
    provider = "groq"
    model = "llama-3.1-8b"
    rpm = 30

Every error names the bad key (``deployments[1].provider``) and the allowed values.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from llama_router.deployments import Deployment
from llama_router.exceptions import ConfigurationError
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import (
    Policy,
    best_availability,
    cheapest_under,
    cloud_first,
    local_first,
    lowest_cost,
    lowest_latency,
    ordered,
)

__all__ = ["ConfigFileError", "RouterConfig", "load_config", "parse_config"]

PolicyName = Literal[
    "ordered",
    "lowest_latency",
    "lowest_cost",
    "best_availability",
    "local_first",
    "cloud_first",
    "cheapest_under",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ConfigFileError(ConfigurationError):
    """A config file could not be read or is invalid; the message names each bad key."""


class TimeoutsConfig(BaseModel):
    model_config = _STRICT
    total: float = Field(default=120.0, gt=0)
    first_token: float = Field(default=30.0, gt=0)
    idle: float = Field(default=30.0, gt=0)


class RetryConfig(BaseModel):
    model_config = _STRICT
    max_retries: int = Field(default=1, ge=0)
    backoff_base: float = Field(default=0.25, gt=0)
    backoff_max: float = Field(default=4.0, gt=0)
    max_retry_after: float = Field(default=5.0, ge=0)


class HedgingConfig(BaseModel):
    model_config = _STRICT
    delay: float | None = Field(default=None, gt=0)
    default_delay: float = Field(default=1.0, gt=0)
    max_share: float = Field(default=0.1, ge=0, le=1)


class BudgetConfig(BaseModel):
    model_config = _STRICT
    usd: float = Field(ge=0)
    period: float = Field(default=86_400.0, gt=0)


class RouterSection(BaseModel):
    model_config = _STRICT
    policy: PolicyName = "ordered"
    slow_ttft: float | None = Field(default=None, gt=0)
    """``local_first`` only: a local engine slower than this (p95 TTFT) goes after the cloud."""
    p95_ttft: float | None = Field(default=None, gt=0)
    """``cheapest_under`` only (required there)."""
    explore: float | None = Field(default=None, ge=0, le=1)
    """``lowest_latency`` / ``best_availability`` only."""
    continuation: bool = False
    probe_interval: float | None = Field(default=None, gt=0)
    transport: Literal["httpx", "aiohttp"] = "httpx"
    timeouts: TimeoutsConfig = TimeoutsConfig()
    retry: RetryConfig = RetryConfig()
    hedging: HedgingConfig | None = None
    budget: BudgetConfig | None = None

    @model_validator(mode="after")
    def _policy_options(self) -> RouterSection:
        if self.policy == "cheapest_under" and self.p95_ttft is None:
            raise ValueError('policy "cheapest_under" needs p95_ttft (seconds)')
        if self.slow_ttft is not None and self.policy != "local_first":
            raise ValueError('slow_ttft applies only to policy "local_first"')
        if self.p95_ttft is not None and self.policy != "cheapest_under":
            raise ValueError('p95_ttft applies only to policy "cheapest_under"')
        if self.explore is not None and self.policy not in ("lowest_latency", "best_availability"):
            raise ValueError('explore applies only to "lowest_latency" and "best_availability"')
        return self

    def build_policy(self) -> Policy:
        name = self.policy
        explore = 0.1 if self.explore is None else self.explore
        if name == "lowest_latency":
            return lowest_latency(explore)
        if name == "best_availability":
            return best_availability(explore)
        if name == "lowest_cost":
            return lowest_cost()
        if name == "local_first":
            return local_first(self.slow_ttft)
        if name == "cloud_first":
            return cloud_first()
        if name == "cheapest_under":
            assert self.p95_ttft is not None
            return cheapest_under(self.p95_ttft)
        return ordered()


class RouterConfig(BaseModel):
    """A whole config file."""

    model_config = _STRICT
    router: RouterSection = RouterSection()
    deployments: tuple[Deployment, ...] = Field(min_length=1)

    def router_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~llama_router.Router` (all but the deployments)."""
        r = self.router
        return {
            "policy": r.build_policy(),
            "timeouts": Timeouts(**r.timeouts.model_dump()),
            "retry": RetryPolicy(**r.retry.model_dump()),
            "hedging": None if r.hedging is None else Hedging(**r.hedging.model_dump()),
            "budget": None if r.budget is None else Budget(**r.budget.model_dump()),
            "continuation": r.continuation,
            "probe_interval": r.probe_interval,
            "transport": r.transport,
        }


def _allowed_keys(model: type[BaseModel], loc: tuple[str | int, ...]) -> list[str] | None:
    """The field names allowed at ``loc`` (the parent of an unknown key)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        annotation = fields[part].annotation
        current = _model_in(annotation)
        if current is None:
            return None
    fields = getattr(current, "model_fields", None)
    return sorted(fields) if fields else None


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _where(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _describe(exc: ValidationError, source: str) -> str:
    problems = []
    errors = exc.errors()
    bad = {tuple(e["loc"])[:1] for e in errors if len(e["loc"]) > 1}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and loc[:1] in bad:
            continue  # the items themselves were invalid; those errors say why
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(RouterConfig, loc[:-1])
            hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
            problems.append(f"{_where(loc)}: unknown key{hint}")
        elif err["type"] == "missing":
            problems.append(f"{_where(loc)}: required key is missing")
        else:
            message = err["msg"].removeprefix("Value error, ")
            got = err.get("input")
            shown = f" (got {got!r})" if isinstance(got, (str, int, float, bool)) else ""
            problems.append(f"{_where(loc)}: {message}{shown}")
    count = len(problems)
    head = f"{source}: {count} problem{'s' if count != 1 else ''} in the config"
    return "\n".join([head, *(f"  - {p}" for p in problems)])


def parse_config(data: Mapping[str, Any], source: str = "config") -> RouterConfig:
    """Validate already-parsed config data."""
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigFileError(_describe(exc, source)) from None


def _read(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"{path}: cannot read the config file ({exc.strerror})") from None
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise ConfigFileError(
                f"{path}: YAML config files need PyYAML: pip install pyyaml (or use TOML)"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigFileError(f"{path}: not valid YAML: {exc}") from None
    elif suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigFileError(f"{path}: not valid TOML: {exc}") from None
    else:
        raise ConfigFileError(f"{path}: unknown config format {suffix!r}; use .toml or .yaml")
    if not isinstance(data, Mapping):
        raise ConfigFileError(
            f"{path}: the config must be a table of keys, not {type(data).__name__}"
        )
    return data


def load_config(path: str | Path) -> RouterConfig:
    """Read and validate a TOML (``.toml``) or YAML (``.yaml``/``.yml``) config file.

    Raises:
        ConfigFileError: unreadable file, bad syntax, or invalid keys/values (each named).
    """
    path = Path(path)
    return parse_config(_read(path), str(path))
