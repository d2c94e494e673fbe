"""Config files: deployments, policy, timeouts, retries, hedging, limits and budget in TOML
(or YAML, with PyYAML installed), validated by pydantic.

.. code-block:: toml

    [router]
    policy = "local_first"          # any name in POLICIES
    slow_ttft = 2.0
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

The ``[router.*]`` sections are the option classes the code uses (:class:`Timeouts`,
:class:`RetryPolicy`, :class:`Hedging`, :class:`Budget`, :class:`HealthConfig`), validated
as they are: every field settable in code is settable here. Policies are named in one
table, :data:`POLICIES`. Every error names the bad key (``deployments[1].provider``) and the
allowed values.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from llama_router.deployments import Deployment
from llama_router.exceptions import ConfigurationError
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import (
    Policy,
    best_availability,
    cheapest_under,
    cloud_first,
    least_busy,
    local_first,
    lowest_cost,
    lowest_latency,
    ordered,
    round_robin,
)
from llama_router.state.health import HealthConfig
from llama_router.validation import describe_validation_error

__all__ = [
    "POLICIES",
    "ConfigFileError",
    "PolicyEntry",
    "RouterConfig",
    "load_config",
    "parse_config",
]

_STRICT = ConfigDict(extra="forbid", frozen=True)


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyEntry:
    """How a named policy is built from the ``[router]`` keys."""

    factory: Callable[..., Policy]
    options: tuple[str, ...] = ()
    """The ``[router]`` keys passed to ``factory`` when set."""
    required: tuple[str, ...] = ()
    """Keys the policy cannot do without."""


#: Every policy a config file (and the CLI) can name: the only list of them.
POLICIES: Mapping[str, PolicyEntry] = MappingProxyType(
    {
        "ordered": PolicyEntry(ordered),
        "lowest_latency": PolicyEntry(lowest_latency, ("explore",)),
        "lowest_cost": PolicyEntry(lowest_cost),
        "best_availability": PolicyEntry(best_availability, ("explore",)),
        "local_first": PolicyEntry(local_first, ("slow_ttft",)),
        "cloud_first": PolicyEntry(cloud_first),
        "cheapest_under": PolicyEntry(cheapest_under, ("p95_ttft",), required=("p95_ttft",)),
        "least_busy": PolicyEntry(least_busy),
        "round_robin": PolicyEntry(round_robin),
    }
)


class ConfigFileError(ConfigurationError):
    """A config file could not be read or is invalid; the message names each bad key."""


def _no_negative_numbers(options: object) -> object:
    """Durations, counts, shares and money are never negative (the option classes check
    their stricter bounds themselves)."""
    if options is None:
        return options
    for field in dataclasses.fields(options):  # type: ignore[arg-type]
        value = getattr(options, field.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise ValueError(f"{field.name} must be >= 0, got {value}")
    return options


class RouterSection(BaseModel):
    model_config = _STRICT
    policy: str = "ordered"
    """A name in :data:`POLICIES`."""
    slow_ttft: float | None = Field(default=None, gt=0)
    """``local_first`` only: a local engine slower than this (p95 TTFT) goes after the cloud."""
    p95_ttft: float | None = Field(default=None, gt=0)
    """``cheapest_under`` only (required there)."""
    explore: float | None = Field(default=None, ge=0, le=1)
    """``lowest_latency`` / ``best_availability`` only."""
    continuation: bool = False
    probe_interval: float | None = Field(default=None, gt=0)
    transport: Literal["httpx", "aiohttp"] = "httpx"
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()
    hedging: Hedging | None = None
    budget: Budget | None = None
    health: HealthConfig = HealthConfig()

    _check_numbers = field_validator("timeouts", "retry", "hedging", "budget", "health")(
        _no_negative_numbers
    )

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, name: str) -> str:
        if name not in POLICIES:
            raise ValueError(f"unknown policy; use one of {', '.join(map(repr, POLICIES))}")
        return name

    @model_validator(mode="after")
    def _policy_options(self) -> RouterSection:
        entry = POLICIES[self.policy]
        for key in entry.required:
            if getattr(self, key) is None:
                raise ValueError(f"policy {self.policy!r} needs {key} (seconds)")
        for key in sorted({k for e in POLICIES.values() for k in e.options} - set(entry.options)):
            if getattr(self, key) is not None:
                owners = " and ".join(f'"{n}"' for n, e in POLICIES.items() if key in e.options)
                raise ValueError(f"{key} applies only to policy {owners}")
        return self

    def build_policy(self) -> Policy:
        entry = POLICIES[self.policy]
        kwargs = {k: getattr(self, k) for k in entry.options if getattr(self, k) is not None}
        return entry.factory(**kwargs)


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
            "timeouts": r.timeouts,
            "retry": r.retry,
            "hedging": r.hedging,
            "budget": r.budget,
            "health": r.health,
            "continuation": r.continuation,
            "probe_interval": r.probe_interval,
            "transport": r.transport,
        }


def parse_config(data: Mapping[str, Any], source: str = "config") -> RouterConfig:
    """Validate already-parsed config data."""
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigFileError(describe_validation_error(exc, source, RouterConfig)) from None


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
