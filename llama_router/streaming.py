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

from collections.abc import AsyncGenerator, AsyncIterator
from types import TracebackType

from llama_router.responses import ChatResponse, StreamDone, StreamEvent

__all__ = ["ChatStream"]


class ChatStream:
    """An async iterator of :data:`StreamEvent` s that ends with :class:`StreamDone`."""

    def __init__(self, events: AsyncGenerator[StreamEvent, None]) -> None:
        self._events = events
        self._response: ChatResponse | None = None
        self._iterator: AsyncGenerator[StreamEvent, None] | None = None

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
            self._iterator = self._watch()
        return self._iterator

    async def _watch(self) -> AsyncGenerator[StreamEvent, None]:
        async for event in self._events:
            if isinstance(event, StreamDone):
                self._response = event.response
            yield event

    async def aclose(self) -> None:
        """Stop the stream and release its connection (also done by leaving ``async with``)."""
        if self._iterator is not None:
            await self._iterator.aclose()
        await self._events.aclose()

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
