"""``Router``: one async entry point over every deployment.

This first router tries the deployments serving the requested model in the order they were
given, failing over on provider errors (see :mod:`llama_router.failover` for the rules).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx
from pydantic import ValidationError

from llama_router.backends import Backend, HealthReport, create_backend
from llama_router.catalog import ModelCatalog
from llama_router.deployments import Deployment, resolve_deployment
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    ConfigurationError,
    LlamaRouterError,
    ProviderError,
    RequestValidationError,
    UnknownModelError,
    UnsupportedFeatureError,
)
from llama_router.failover import attempt_record, build_response, next_candidates
from llama_router.http import HttpPool, TransportName
from llama_router.messages import ChatRequest, GenerationSettings, Message
from llama_router.responses import Attempt, ChatResponse
from llama_router.streaming import ChatStream

__all__ = ["Router"]

MessageInput = Message | Mapping[str, Any]


class Router:
    """Routes chat calls for canonical Llama 3 models across deployments.

    Example::

        async with Router([
            Deployment(provider="ollama", model="llama-3.1-8b"),
            Deployment(provider="groq", model="llama-3.1-8b"),
        ]) as router:
            reply = await router.chat("llama-3.1-8b", [{"role": "user", "content": "Hi"}])

    Args:
        deployments: where each model runs, in failover order. A :class:`Backend` instance
            may be given directly (for a custom provider).
        catalog: model ids, context windows and prices; defaults to
            :meth:`ModelCatalog.default`.
        transport: ``"httpx"``, ``"aiohttp"`` (faster; needs the ``fast`` extra) or an
            ``httpx.AsyncBaseTransport`` shared by every deployment.
        env: where API keys and ``OLLAMA_HOST`` are read from; defaults to ``os.environ``.
        clock: monotonic seconds, for latency figures (tests inject a fake).
    """

    def __init__(
        self,
        deployments: Iterable[Deployment | Backend],
        *,
        catalog: ModelCatalog | None = None,
        transport: TransportName | httpx.AsyncBaseTransport = "httpx",
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.catalog = catalog or ModelCatalog.default()
        self._clock = clock
        self._pool = HttpPool(transport)
        backends: list[Backend] = []
        for item in deployments:
            if isinstance(item, Backend):
                backends.append(item)
            else:
                backends.append(
                    create_backend(resolve_deployment(item, self.catalog, env), self._pool, clock)
                )
        if not backends:
            raise ConfigurationError("Router needs at least one deployment")
        names = [b.target.name for b in backends]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                f"deployment names must be unique; repeated: {', '.join(duplicates)}. "
                "Give each Deployment its own name=..."
            )
        self._backends: tuple[Backend, ...] = tuple(backends)
        by_model: dict[str, list[Backend]] = {}
        for backend in backends:
            by_model.setdefault(backend.target.model, []).append(backend)
        self._by_model = {model: tuple(group) for model, group in by_model.items()}
        self._closed = False

    @property
    def deployments(self) -> tuple[Backend, ...]:
        """The backends, one per deployment, in the order given."""
        return self._backends

    def models(self) -> tuple[str, ...]:
        """The canonical models this router can serve."""
        return tuple(self._by_model)

    # -- requests -------------------------------------------------------------------------

    def _request(
        self, model: str, messages: Sequence[MessageInput], settings: Mapping[str, Any]
    ) -> ChatRequest:
        if self._closed:
            raise ConfigurationError("this Router is closed; create a new one")
        name = model if model in self._by_model else self._canonical(model)
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
        if name not in self._by_model:
            served = ", ".join(self._by_model)
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
            AllDeploymentsFailedError: every deployment failed; ``errors`` and ``route`` say how.
        """
        request = self._request(model, messages, settings)
        clock = self._clock
        started = clock()
        route: list[Attempt] = []
        errors: list[LlamaRouterError] = []
        queue: Sequence[Backend] = self._by_model[request.model]
        while queue:
            backend, queue = queue[0], queue[1:]
            attempt_start = clock()
            try:
                backend.check_supported(request)
                result = await backend.chat(request)
            except UnsupportedFeatureError as exc:
                errors.append(exc)
                route.append(attempt_record(backend, exc, clock() - attempt_start))
                continue
            except ProviderError as exc:
                errors.append(exc)
                route.append(attempt_record(backend, exc, clock() - attempt_start))
                remaining = next_candidates(exc, backend, queue)
                if remaining is None:
                    raise
                queue = remaining
                continue
            now = clock()
            route.append(attempt_record(backend, None, now - attempt_start))
            return build_response(
                request, backend, result, ttft=now - started, latency=now - started, route=route
            )
        raise AllDeploymentsFailedError(
            f"every deployment of {request.model!r} failed", errors, route=route
        )

    def stream(self, model: str, messages: Sequence[MessageInput], **settings: Any) -> ChatStream:
        """Stream one chat call; use as ``async with router.stream(...) as s: async for ...``.

        Takes the same arguments as :meth:`chat`. The stream yields :class:`TextDelta` and
        :class:`ToolCallDelta` events and ends with :class:`StreamDone` holding the
        aggregated :class:`ChatResponse` (also at ``stream.response``).
        """
        request = self._request(model, messages, settings)
        return ChatStream(request, self._by_model[request.model], self._clock)

    async def health(self) -> dict[str, HealthReport]:
        """Check every deployment concurrently; nothing is generated."""
        reports = await asyncio.gather(*(b.health() for b in self._backends))
        return {b.target.name: r for b, r in zip(self._backends, reports, strict=True)}

    # -- lifecycle ------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close every backend and the shared connection pool."""
        if self._closed:
            return
        self._closed = True
        for backend in self._backends:
            await backend.aclose()
        await self._pool.aclose()

    async def __aenter__(self) -> Router:
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
        return f"Router([{names}])"


def _validation_message(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "request"
        problems.append(f"{where}: {err['msg']}")
    return "invalid chat arguments: " + "; ".join(problems)
