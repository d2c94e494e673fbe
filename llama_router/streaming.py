"""``ChatStream``: the object ``Router.stream()`` returns.

Use it as an async context manager and iterate it::

    async with router.stream("llama-3.1-8b", messages) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                print(event.text, end="")
    print(stream.response.usage)

Failover is transparent until the first text or tool-call delta reaches the caller; after
that a failure raises :class:`StreamInterruptedError` carrying the text delivered so far.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing
from types import TracebackType

from llama_router.backends.base import Backend, BackendResult
from llama_router.exceptions import (
    AllDeploymentsFailedError,
    LlamaRouterError,
    MalformedResponseError,
    ProviderError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from llama_router.failover import attempt_record, build_response, next_candidates
from llama_router.messages import ChatRequest
from llama_router.responses import (
    Attempt,
    ChatResponse,
    StreamDone,
    StreamEvent,
    TextDelta,
)

__all__ = ["ChatStream"]


class ChatStream:
    """An async iterator of :data:`StreamEvent` s that ends with :class:`StreamDone`."""

    def __init__(
        self, request: ChatRequest, candidates: Sequence[Backend], clock: Callable[[], float]
    ) -> None:
        self._request = request
        self._candidates = candidates
        self._clock = clock
        self._response: ChatResponse | None = None
        self._iterator: AsyncIterator[StreamEvent] | None = None

    async def __aenter__(self) -> ChatStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        if self._iterator is None:
            self._iterator = self._events()
        return self._iterator

    async def aclose(self) -> None:
        """Stop the stream and release its connection (also done by leaving ``async with``)."""
        iterator = self._iterator
        if iterator is not None and hasattr(iterator, "aclose"):
            await iterator.aclose()

    @property
    def response(self) -> ChatResponse:
        """The aggregated response; available once the stream has finished."""
        if self._response is None:
            raise RuntimeError("the stream has not finished yet: iterate it to the end first")
        return self._response

    async def get_response(self) -> ChatResponse:
        """Consume whatever is left of the stream and return the aggregated response."""
        async for _ in self:
            pass
        return self.response

    async def _events(self) -> AsyncIterator[StreamEvent]:
        request, clock = self._request, self._clock
        started = clock()
        route: list[Attempt] = []
        errors: list[LlamaRouterError] = []
        queue: Sequence[Backend] = self._candidates
        while queue:
            backend, queue = queue[0], queue[1:]
            attempt_start = clock()
            first_token: float | None = None
            parts: list[str] = []
            result: BackendResult | None = None
            try:
                backend.check_supported(request)
                async with aclosing(backend.stream(request)) as items:
                    async for item in items:
                        if isinstance(item, BackendResult):
                            result = item
                            continue
                        if first_token is None:
                            first_token = clock()
                        if isinstance(item, TextDelta):
                            parts.append(item.text)
                        yield item
            except UnsupportedFeatureError as exc:
                errors.append(exc)
                route.append(attempt_record(backend, exc, clock() - attempt_start))
                continue
            except ProviderError as exc:
                route.append(attempt_record(backend, exc, clock() - attempt_start))
                if first_token is not None:
                    raise StreamInterruptedError(
                        f"the stream failed after text was delivered: {exc}",
                        provider=exc.provider,
                        deployment=exc.deployment,
                        status_code=exc.status_code,
                        partial_text="".join(parts),
                    ) from exc
                errors.append(exc)
                remaining = next_candidates(exc, backend, queue)
                if remaining is None:
                    raise
                queue = remaining
                continue
            if result is None:  # a backend broke its contract
                raise MalformedResponseError(
                    "the stream ended without a final result",
                    provider=backend.provider,
                    deployment=backend.target.name,
                )
            now = clock()
            route.append(attempt_record(backend, None, now - attempt_start))
            self._response = build_response(
                request,
                backend,
                result,
                ttft=None if first_token is None else first_token - started,
                latency=now - started,
                route=route,
            )
            yield StreamDone(self._response)
            return
        raise AllDeploymentsFailedError(
            f"every deployment of {request.model!r} failed", errors, route=route
        )
