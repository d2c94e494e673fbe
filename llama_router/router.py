"""``Router``: one async entry point over every deployment.

The router validates each request once, then hands it to the :class:`Dispatcher`
(``attempts.py``), which ranks the deployments by the policy and runs the attempt loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import httpx
from pydantic import ValidationError

from llama_router.backends import Backend, HealthReport, create_backend
from llama_router.catalog import ModelCatalog
from llama_router.deployments import Deployment, resolve_deployment
from llama_router.dispatch import Dispatcher
from llama_router.exceptions import (
    ConfigurationError,
    RequestValidationError,
    UnknownModelError,
)
from llama_router.explain import Explanation, explain_decision
from llama_router.health_probes import HealthProber, discover_windows
from llama_router.messages import ChatRequest, GenerationSettings, Message
from llama_router.responses import ChatResponse
from llama_router.routing.options import Budget, Hedging, RetryPolicy, Timeouts
from llama_router.routing.policy import Policy, ordered
from llama_router.state import InMemoryStore, StateStore
from llama_router.state.health import HealthConfig
from llama_router.streaming import ChatStream
from llama_router.transport import HttpPool, TransportName

if TYPE_CHECKING:
    from llama_router.config import RouterConfig

__all__ = ["Router"]

MessageInput = Message | Mapping[str, Any]


class Router:
    """Routes chat calls for canonical Llama 3 models across deployments.

    Example::

        async with Router(
            [
                Deployment(provider="ollama", model="llama-3.1-8b"),
                Deployment(provider="groq", model="llama-3.1-8b"),
            ],
            policy=local_first(),
        ) as router:
            reply = await router.chat("llama-3.1-8b", [{"role": "user", "content": "Hi"}])

    Args:
        deployments: where each model runs. A :class:`Backend` instance may be given
            directly (for a custom provider).
        policy: how candidates are filtered and ranked per request; default
            :func:`~llama_router.routing.ordered` (the order given, healthy ones only).
        timeouts: the end-to-end deadline and the first-token / idle timeouts of streams.
        retry: same-deployment retries of transient errors, before failover.
        hedging: start the next deployment when the first is slow (off by default).
        budget: a spend cap; once reached only free deployments are used.
        continuation: resume a stream that fails mid-answer on another deployment (off by
            default; without it such a failure raises :class:`StreamInterruptedError`).
        probe_interval: seconds between active health probes of local deployments (off by
            default; starts with the first request or ``async with``).
        store: where health, limits and spend are kept; default in memory.
        health: circuit-breaker and statistics tuning for the default store.
        catalog: model ids, context windows and prices; default :meth:`ModelCatalog.default`.
        transport: ``"httpx"``, ``"aiohttp"`` (faster; ``fast`` extra) or an
            ``httpx.AsyncBaseTransport`` shared by every deployment.
        env: where API keys and ``OLLAMA_HOST`` are read from; default ``os.environ``.
        clock: monotonic seconds; default the event loop's clock (tests inject a fake).
        rng: the random generator for jitter and exploration (seed it to reproduce runs).
    """

    def __init__(
        self,
        deployments: Iterable[Deployment | Backend],
        *,
        policy: Policy | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        hedging: Hedging | None = None,
        budget: Budget | None = None,
        continuation: bool = False,
        probe_interval: float | None = None,
        store: StateStore | None = None,
        health: HealthConfig | None = None,
        catalog: ModelCatalog | None = None,
        transport: TransportName | httpx.AsyncBaseTransport = "httpx",
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.catalog = catalog or ModelCatalog.default()
        self._clock = clock or _loop_time
        self._pool = HttpPool(transport)
        backends = self._build(deployments, env)
        self._backends: tuple[Backend, ...] = tuple(backends)
        self._models = tuple(dict.fromkeys(b.target.model for b in backends))
        health_config = health or HealthConfig()
        self.store: StateStore = store or InMemoryStore(health_config)
        self.policy = policy or ordered()
        self._dispatcher = Dispatcher(
            backends,
            policy=self.policy,
            store=self.store,
            clock=self._clock,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            hedging=hedging,
            budget=budget,
            continuation=continuation,
            health=health_config,
            rng=rng or random.Random(),
        )
        local = [b for b in backends if b.target.is_local]
        self._prober = (
            HealthProber(local, self.store, interval=probe_interval, clock=self._clock)
            if probe_interval is not None and local
            else None
        )
        # Local servers whose window is not set: ask them once, at the first request, what
        # they run with (overflow errors teach it too).
        self._unwindowed = tuple(
            b for b in backends if b.target.is_local and b.target.context_window is None
        )
        self._discovery: asyncio.Task[None] | None = None
        self._closed = False

    def _build(
        self, deployments: Iterable[Deployment | Backend], env: Mapping[str, str] | None
    ) -> list[Backend]:
        """One backend per deployment (a Backend given as it is), names unique."""
        backends: list[Backend] = []
        for item in deployments:
            if isinstance(item, Backend):
                backends.append(item)
            else:
                target = resolve_deployment(item, self.catalog, env)
                backends.append(create_backend(target, self._pool, self._clock))
        if not backends:
            raise ConfigurationError("Router needs at least one deployment")
        names = [b.target.name for b in backends]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                f"deployment names must be unique; repeated: {', '.join(duplicates)}. "
                "Give each Deployment its own name=..."
            )
        return backends

    @classmethod
    def from_config(cls, config: str | Path | RouterConfig, **overrides: Any) -> Router:
        """Build a router from a TOML / YAML config file (see :mod:`llama_router.config`).

        ``overrides`` are :class:`Router` keyword arguments that win over the file's (for
        example ``env=`` or ``transport=``)."""
        from llama_router.config import RouterConfig, load_config  # only config users pay

        cfg = config if isinstance(config, RouterConfig) else load_config(config)
        kwargs = cfg.router_kwargs()
        kwargs.update(overrides)
        return cls(cfg.deployments, **kwargs)

    @property
    def deployments(self) -> tuple[Backend, ...]:
        """The backends, one per deployment, in the order given."""
        return self._backends

    def models(self) -> tuple[str, ...]:
        """The canonical models this router can serve."""
        return self._models

    # -- requests -------------------------------------------------------------------------

    def _request(
        self, model: str, messages: Sequence[MessageInput], settings: Mapping[str, Any]
    ) -> ChatRequest:
        if self._closed:
            raise ConfigurationError("this Router is closed; create a new one")
        if self._prober is not None:
            self._prober.start()
        if self._unwindowed and self._discovery is None:
            self._discover()
        name = model if model in self._models else self._canonical(model)
        try:
            return ChatRequest(
                model=name,
                messages=tuple(messages),  # type: ignore[arg-type]
                settings=GenerationSettings(**settings),
            )
        except ValidationError as exc:
            raise RequestValidationError(_validation_message(exc)) from None

    def _canonical(self, model: str) -> str:
        try:
            name = self.catalog.canonical(model)
        except UnknownModelError:
            name = model
        if name not in self._models:
            served = ", ".join(self._models)
            raise UnknownModelError(
                f"no deployment serves model {model!r}; this router serves: {served}. "
                "Add a Deployment for it."
            )
        return name

    async def chat(
        self, model: str, messages: Sequence[MessageInput], **settings: Any
    ) -> ChatResponse:
        """Send one chat call and return the complete answer.

        ``settings`` are :class:`GenerationSettings` fields: ``max_tokens``, ``temperature``,
        ``top_p``, ``stop``, ``seed``, ``response_format``, ``tools``, ``tool_choice``.

        Raises:
            UnknownModelError: no deployment serves ``model``.
            RequestValidationError: a message or setting is invalid.
            InvalidRequestError: the provider rejected the request (no failover).
            NoDeploymentAvailableError: the policy left nothing to try (``reasons`` says why);
                :class:`BudgetExceededError` when the budget is spent.
            AllDeploymentsFailedError: every deployment failed; ``errors`` and ``route`` say
                how (:class:`DeadlineExceededError` when the deadline ran out first).
        """
        return await self._dispatcher.chat(self._request(model, messages, settings))

    def stream(self, model: str, messages: Sequence[MessageInput], **settings: Any) -> ChatStream:
        """Stream one chat call; use as ``async with router.stream(...) as s: async for ...``.

        Takes the same arguments as :meth:`chat`. The stream yields :class:`TextDelta` and
        :class:`ToolCallDelta` events and ends with :class:`StreamDone` holding the
        aggregated :class:`ChatResponse` (also at ``stream.response``).
        """
        request = self._request(model, messages, settings)
        return ChatStream(self._dispatcher.stream(request))

    async def explain(
        self,
        model: str,
        messages: Sequence[MessageInput],
        *,
        stream: bool = False,
        **settings: Any,
    ) -> Explanation:
        """The ranked candidates for this request and why each was chosen, ranked or
        filtered, without sending anything. ``print()`` it for a table."""
        request = self._request(model, messages, settings)
        ctx = await self._dispatcher.context(request, stream=stream, now=self._clock())
        decision = self.policy.decide(ctx)
        return explain_decision(ctx, decision, self.policy.name, ctx.budget_remaining)

    async def health(self) -> dict[str, HealthReport]:
        """Check every deployment concurrently; nothing is generated."""
        reports = await asyncio.gather(*(b.health() for b in self._backends))
        return {b.target.name: r for b, r in zip(self._backends, reports, strict=True)}

    # -- lifecycle ------------------------------------------------------------------------

    def _discover(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop yet: the next request starts it
            return
        self._discovery = loop.create_task(discover_windows(self._unwindowed, self.store))

    async def aclose(self) -> None:
        """Stop the health probes, close every backend and the shared connection pool."""
        if self._closed:
            return
        self._closed = True
        if self._prober is not None:
            await self._prober.aclose()
        if self._discovery is not None and not self._discovery.done():
            self._discovery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._discovery
        for backend in self._backends:
            await backend.aclose()
        await self._pool.aclose()

    async def __aenter__(self) -> Router:
        if self._prober is not None:
            self._prober.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(b.target.name for b in self._backends)
        return f"Router([{names}], policy={self.policy.name})"


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "request"
        problems.append(f"{where}: {err['msg']}")
    return "invalid chat arguments: " + "; ".join(problems)
