"""Normalised response types: the final :class:`ChatResponse` and the stream events.

``ChatResponse`` and its parts are frozen pydantic models (one per call). Stream events are
slotted frozen dataclasses: one is made per streamed chunk, so they are kept as cheap as a
tuple.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from llama_router.messages import ToolCall

__all__ = [
    "Attempt",
    "ChatResponse",
    "Continuation",
    "FinishReason",
    "ProviderTimings",
    "ReasoningDelta",
    "StreamDone",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Usage(BaseModel):
    """Token counts reported by the provider (zero when it reported none).

    ``cached_prompt_tokens`` are the part of ``prompt_tokens`` served from the provider's
    prompt cache and ``reasoning_tokens`` the part of ``completion_tokens`` spent on
    reasoning. ``known`` is ``False`` when the provider never reported the counts (a
    Replicate prediction whose ``metrics`` did not arrive): the zeros are then not a
    measurement, and the cost is ``None`` rather than 0.
    """

    model_config = _FROZEN

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    """Prompt tokens read from the provider's cache (included in ``prompt_tokens``)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on reasoning (included in ``completion_tokens``)."""
    known: bool = True
    """``False``: the provider reported no counts and the zeros are unknown, not zero."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            known=self.known and other.known,
        )


class ProviderTimings(BaseModel):
    """The provider's own timing figures, normalised to seconds (``None`` when not reported).

    Groq reports seconds in ``usage``; Ollama nanoseconds; llama.cpp milliseconds in
    ``timings``; Replicate seconds in ``metrics``; Together nothing.
    """

    model_config = _FROZEN

    queue_s: float | None = None
    """Time spent queued before processing (Groq ``queue_time``)."""
    load_s: float | None = None
    """Time spent loading the model (Ollama ``load_duration``, Replicate cold boot)."""
    prompt_s: float | None = None
    """Prompt processing time."""
    generation_s: float | None = None
    """Output generation time."""
    total_s: float | None = None
    """The provider's total for the request."""
    time_to_first_token_s: float | None = None
    """The provider's own time to first token (Replicate ``metrics``)."""
    output_tokens_per_second: float | None = None
    """Generation speed as the provider measured it."""


class Attempt(BaseModel):
    """One attempt on one deployment, as recorded in a response's route."""

    model_config = _FROZEN

    deployment: str
    provider: str
    outcome: Literal["ok", "error", "cancelled"]
    """``cancelled``: the losing side of a hedge."""
    error: str | None = None
    """The exception class name when the attempt failed."""
    status_code: int | None = None
    elapsed_s: float = 0.0
    started_at: float | None = None
    """When the attempt started, on the router's clock."""
    retry_after: float | None = None
    """The wait the provider asked for when it refused (429 / 503 with Retry-After)."""
    hedged: bool = False
    """This attempt was started as a hedge while another was still running."""
    usage: Usage = Usage()
    """Tokens this attempt consumed as far as the router knows: the provider's usage when it
    finished; for a stream that broke after sending text, one completion token per chunk
    received (prompt tokens unknown); nothing for an attempt that failed before any text."""
    cost_usd: float | None = None
    """``usage`` priced with the deployment's prices (``None`` when unpriced)."""
    request_id: str | None = None
    """The provider's id of this request (Groq / Together ``x-request-id``, Groq
    ``x_groq.id``, the Replicate prediction id), from the reply or the error reply; ``None``
    when the provider sent none (Ollama, llama.cpp) or no reply arrived."""
    region: str | None = None
    """Where the provider served it (Groq's ``x-groq-region``)."""
    server_build: str | None = None
    """The serving software's build: ``system_fingerprint`` (llama.cpp ``b<build>-<commit>``,
    Groq ``fp_...``) or Together's ``x-inference-version``."""


class Continuation(BaseModel):
    """A stream resumed on another deployment after a failure mid-answer."""

    model_config = _FROZEN

    deployment: str
    """The deployment that produced the text from ``offset`` on."""
    offset: int
    """Characters of the answer that had been delivered before the resume."""


class ChatResponse(BaseModel):
    """A complete answer, whichever provider produced it."""

    model_config = _FROZEN

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    reasoning: str | None = None
    """The model's reasoning, when the provider sent it apart from the answer (``reasoning``
    / ``reasoning_content`` on OpenAI-style replies, Ollama ``message.thinking``); never part
    of ``text``."""
    usage: Usage = Usage()
    provider_timings: ProviderTimings = ProviderTimings()
    time_to_first_token_s: float | None = None
    """Measured by us: request start to the first text, reasoning or tool-call delta
    (streams), or to the whole reply (non-streaming calls)."""
    latency_s: float = 0.0
    """Measured by us: request start to the end of the reply on the answering deployment."""
    cost_usd: float | None = None
    """Every attempt's priced usage, summed (a continued stream pays for both parts);
    ``None`` when the answering deployment has no price."""
    provider: str
    deployment: str
    model: str
    """The canonical model name that was requested."""
    provider_model: str
    """The provider's model id that answered (as the provider reported it, when it did)."""
    route: tuple[Attempt, ...] = ()
    """Every attempt made for this response, in order; the last ``ok`` one answered."""
    continuations: tuple[Continuation, ...] = ()
    """Where a stream was resumed after a mid-answer failure (opt-in continuation)."""

    @property
    def answering_attempt(self) -> Attempt | None:
        """The route's last successful attempt: the one that produced this answer."""
        for attempt in reversed(self.route):
            if attempt.outcome == "ok":
                return attempt
        return None

    @property
    def request_id(self) -> str | None:
        """The provider's request id of the answering attempt (see :attr:`Attempt.request_id`)."""
        attempt = self.answering_attempt
        return None if attempt is None else attempt.request_id

    @property
    def region(self) -> str | None:
        """Where the answering attempt was served, when the provider says (Groq)."""
        attempt = self.answering_attempt
        return None if attempt is None else attempt.region

    @property
    def server_build(self) -> str | None:
        """The answering server's build, when the provider says."""
        attempt = self.answering_attempt
        return None if attempt is None else attempt.server_build

    @property
    def budget_spent_on_reasoning(self) -> bool:
        """``True`` when the reply is empty because the output budget went to reasoning: the
        provider stopped for ``length`` with no text and no tool call, but sent reasoning.
        Raise ``max_tokens`` (or lower the reasoning effort) to get an answer."""
        return (
            self.finish_reason == "length"
            and not self.text
            and not self.tool_calls
            and bool(self.reasoning)
        )

    @property
    def total_usage(self) -> Usage:
        """Usage summed over every attempt in the route (``usage`` is the answer's own)."""
        total = Usage()
        for attempt in self.route:
            total = total + attempt.usage
        return total


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's reasoning: output, but not part of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call: ``index`` identifies the call; ``id`` and ``name`` arrive on the
    first piece, ``arguments`` accumulates JSON text."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The last event of a stream: the aggregated response, with usage and finish reason."""

    response: ChatResponse


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | StreamDone
