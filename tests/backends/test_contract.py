"""The backend contract: what every HTTP backend does the same way, written once and run
against each provider on a mocked wire (respx).

Each provider is one :class:`Case` below: where its calls go, what it answers (from
``tests/fixtures/<provider>``), its error bodies per HTTP status, its stream framing, and the
exact JSON it must send. The test functions never name a provider; what only one provider
does stays in its own ``test_<provider>.py``.

The embedded backend (llama-cpp-python in-process) is not a case: it has no HTTP wire, so no
status codes, no request body, no stream framing to break. Its contract (chat, stream,
context length, errors) is checked against a real tiny model in
``tests/integration/test_embedded.py``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import pytest
import respx

from llama_router import (
    AllDeploymentsFailedError,
    AuthenticationError,
    ContextLengthExceededError,
    Deployment,
    InvalidRequestError,
    MalformedResponseError,
    ModelNotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    ProviderUnreachableError,
    RateLimitedError,
    Router,
    StreamDone,
    StreamEvent,
    StreamInterruptedError,
)
from llama_router.backends.base import error_fields
from tests.backends._wire import MODES, Mode, chat_as_sse, sent_json
from tests.conftest import RouterFactory, drain, fixture_text, text_of

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}]
# A single stop string is sent as a one-item list (or Replicate's comma-separated text).
SETTINGS: dict[str, Any] = {"max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "stop": "</s>"}
SEED = 42  # sent by every provider that takes a seed

# A gateway's 502 page: the same for every provider behind a proxy (not JSON).
BAD_GATEWAY_HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


def json_fixture(relative: str) -> Any:
    return json.loads(fixture_text(relative))


# -- what a case says ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a successful call must return, read off the provider's fixture."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    provider_model: str


@dataclass(frozen=True)
class Status:
    """One HTTP error reply and the error it must become."""

    status: int
    body: object  # a JSON value, or text (an HTML page)
    error: type[ProviderError]
    message: str
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.status}-{self.error.__name__}"

    def reply(self) -> httpx.Response:
        if isinstance(self.body, str):
            headers = {"content-type": "text/html", **self.headers}
            return httpx.Response(self.status, text=self.body, headers=headers)
        return httpx.Response(self.status, json=self.body, headers=self.headers)


@dataclass(frozen=True)
class StreamBreak:
    """A stream body that breaks, the text delivered before it, and what broke it."""

    body: str
    partial_text: str
    cause_message: str = ""
    cause_status: int | None = None


def gateway_502() -> Status:
    return Status(502, BAD_GATEWAY_HTML, ProviderUnavailableError, BAD_GATEWAY_HTML)


def rate_limited(body: object, message: str, seconds: int) -> Status:
    return Status(
        429, body, RateLimitedError, message, float(seconds), {"Retry-After": str(seconds)}
    )


class Case:
    """One provider's wire, as the contract tests need it."""

    provider: ClassVar[str]
    model: ClassVar[str] = "llama-3.1-8b"
    name: ClassVar[str]  # the deployment's name
    url: ClassVar[str]  # where a call's first request goes (POST)
    stream_content_type: ClassVar[str] = "text/event-stream"
    stream_fixture: ClassVar[str]  # a complete stream
    statuses: ClassVar[tuple[Status, ...]]
    chat_answer: ClassVar[Answer]
    stream_answer: ClassVar[Answer]
    error_event: ClassVar[StreamBreak]  # an error inside an HTTP 200 stream, after text
    truncated: ClassVar[StreamBreak]  # the body ends without the final event
    broken_event: ClassVar[str]  # one event in the stream's framing that is not JSON
    takes_seed: ClassVar[bool] = True

    def __repr__(self) -> str:
        return self.provider

    def deployment(self) -> Deployment:
        return Deployment(provider=self.provider, model=self.model)  # type: ignore[arg-type]

    def mock_chat(self, mock: respx.MockRouter) -> respx.Route:
        """Answer a chat call with the fixture's reply; the route that gets the body."""
        raise NotImplementedError

    def mock_ok_stream(self, mock: respx.MockRouter) -> respx.Route:
        """Answer a stream call with the fixture's stream; the route that gets the body."""
        return self.mock_stream(mock, self.stream_reply(fixture_text(self.stream_fixture)))

    def mock_stream(self, mock: respx.MockRouter, reply: httpx.Response) -> respx.Route:
        """Answer a stream call with ``reply`` as the stream's HTTP response; the route that
        gets the request body."""
        return mock.post(self.url).mock(return_value=reply)

    def mock_first(self, mock: respx.MockRouter, **reply: Any) -> respx.Route:
        """Answer the first request of a call (either mode) with ``reply``."""
        return mock.post(self.url).mock(**reply)

    def stream_reply(self, body: str | httpx.AsyncByteStream) -> httpx.Response:
        headers = {"content-type": self.stream_content_type}
        if isinstance(body, str):
            return httpx.Response(200, text=body, headers=headers)
        return httpx.Response(200, stream=body, headers=headers)

    def expected_body(self, mode: Mode) -> dict[str, Any]:
        """The exact JSON sent for ``MESSAGES`` with ``SETTINGS``."""
        raise NotImplementedError

    def not_json_chat_reply(self) -> httpx.Response:
        """A successful chat reply whose body is not JSON (a proxy's HTML page)."""
        return httpx.Response(200, text=BAD_GATEWAY_HTML, headers={"content-type": "text/html"})


class OpenAIShapedCase(Case):
    """The chat-completions wire: one POST, a JSON reply or an SSE stream."""

    chat_fixture: ClassVar[str]
    model_id: ClassVar[str]
    max_tokens_field: ClassVar[str] = "max_tokens"
    stream_options: ClassVar[bool] = True
    #: A non-streamed chat is sent as a stream and aggregated (llama.cpp: only closing a
    #: stream stops the server generating): the chat fixture is answered as its SSE chunks.
    chat_streams: ClassVar[bool] = False
    broken_event = 'data: {"choices":[{"delta":\n\n'

    def mock_chat(self, mock: respx.MockRouter) -> respx.Route:
        data = json_fixture(self.chat_fixture)
        if self.chat_streams:
            return self.mock_stream(mock, self.stream_reply(chat_as_sse(data)))
        return mock.post(self.url).mock(return_value=httpx.Response(200, json=data))

    def not_json_chat_reply(self) -> httpx.Response:
        if self.chat_streams:  # the chat's reply is a stream: an event that is not JSON
            return self.stream_reply(self.broken_event)
        return super().not_json_chat_reply()

    def expected_body(self, mode: Mode) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_id,
            "messages": MESSAGES,  # the OpenAI shape of these two is the same
            self.max_tokens_field: 64,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": ["</s>"],
            "seed": SEED,
        }
        if mode == "stream" or self.chat_streams:
            body["stream"] = True
            if self.stream_options:
                body["stream_options"] = {"include_usage": True}
        return body


# -- the providers ------------------------------------------------------------------------


def _error_fixture(relative: str) -> tuple[Any, str]:
    """An OpenAI-style error body fixture, and its message."""
    body = json_fixture(relative)
    return body, str(body["error"]["message"])


def _fixture_statuses(
    provider: str, rows: list[tuple[int, str, type[ProviderError]]]
) -> tuple[Status, ...]:
    """``(status, fixture, error)`` rows for ``tests/fixtures/<provider>/errors``."""
    statuses = []
    for code, name, error in rows:
        body, message = _error_fixture(f"{provider}/errors/{name}")
        statuses.append(Status(code, body, error, message))
    return tuple(statuses)


class Groq(OpenAIShapedCase):
    provider = "groq"
    model_id = "llama-3.1-8b-instant"
    name = f"groq/{model_id}"
    url = "https://api.groq.com/openai/v1/chat/completions"
    chat_fixture = "groq/chat_completion.json"
    stream_fixture = "groq/chat_stream.sse"
    max_tokens_field = "max_completion_tokens"
    chat_answer = Answer("Hi there! How can I help you today?", 42, 11, model_id)
    stream_answer = Answer("Hi there! How can I help?", 42, 9, model_id)
    statuses = (
        *_fixture_statuses(
            "groq",
            [
                (400, "400_invalid_request.json", InvalidRequestError),
                (400, "400_context_length.json", ContextLengthExceededError),
                (401, "401_invalid_api_key.json", AuthenticationError),
                (404, "404_model_not_found.json", ModelNotFoundError),
                (413, "413_request_too_large.json", ContextLengthExceededError),
                (422, "422_unprocessable.json", InvalidRequestError),
                (498, "498_capacity_exceeded.json", ProviderUnavailableError),
                (500, "500_internal.json", ProviderUnavailableError),
                (503, "503_unavailable.json", ProviderUnavailableError),
            ],
        ),
        rate_limited(*_error_fixture("groq/errors/429_rate_limited.json"), 2),
        gateway_502(),
    )
    error_event = StreamBreak(
        fixture_text("groq/stream_error_midway.sse"),
        "Llamas are camelids",
        "Service Unavailable: the model is overloaded, please retry",
    )
    truncated = StreamBreak(fixture_text("groq/stream_truncated.sse"), "Hi there, I")


class Together(OpenAIShapedCase):
    provider = "together"
    model_id = "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo"
    name = f"together/{model_id}"
    url = "https://api-inference.together.ai/v1/chat/completions"
    chat_fixture = "together/chat_completion.json"
    stream_fixture = "together/chat_stream.sse"
    stream_options = False  # usage comes on the last chunk unasked
    chat_answer = Answer("Hello! How can I assist you today?", 38, 10, model_id)
    stream_answer = Answer("Hello! How can I help?", 38, 8, model_id)
    statuses = (
        *_fixture_statuses(
            "together",
            [
                (400, "400_invalid_request.json", InvalidRequestError),
                (400, "400_context_length.json", ContextLengthExceededError),
                (401, "401_invalid_api_key.json", AuthenticationError),
                (403, "403_context_window.json", ContextLengthExceededError),
                (404, "404_model_not_found.json", ModelNotFoundError),
                (422, "422_unprocessable.json", InvalidRequestError),
                (500, "500_internal.json", ProviderUnavailableError),
                (503, "503_unavailable.json", ProviderUnavailableError),
            ],
        ),
        rate_limited(*_error_fixture("together/errors/429_rate_limited.json"), 2),
        gateway_502(),
    )
    error_event = StreamBreak(
        fixture_text("together/stream_error_midway.sse"),
        "Llamas are camelids",
        "Engine overloaded: the request could not be completed, please retry",
    )
    truncated = StreamBreak(fixture_text("together/stream_truncated.sse"), "Hello there,")


def _openai_error(status: int, message: str, etype: str) -> dict[str, Any]:
    """llama.cpp's and vLLM's error body."""
    return {"error": {"code": status, "message": message, "type": etype}}


def _openai_status(status: int, body: Any, cls: type[ProviderError]) -> Status:
    return Status(status, body, cls, body["error"]["message"])


class LlamaCpp(OpenAIShapedCase):
    provider = "llamacpp"
    model_id = "llama-3.1-8b"  # no catalog id for llama.cpp: the model name is sent
    name = f"llamacpp/{model_id}"
    url = "http://127.0.0.1:8080/v1/chat/completions"
    chat_fixture = "llamacpp/chat.json"
    stream_fixture = "llamacpp/stream.sse"
    chat_streams = True
    chat_answer = Answer(
        "Hi! How can I help you today?", 13, 10, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    )
    stream_answer = Answer("Hi! How can I help?", 13, 7, "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf")
    statuses = (
        _openai_status(400, json_fixture("llamacpp/error_invalid.json"), InvalidRequestError),
        _openai_status(
            400, json_fixture("llamacpp/error_context.json"), ContextLengthExceededError
        ),
        _openai_status(401, json_fixture("llamacpp/error_auth.json"), AuthenticationError),
        _openai_status(
            404, _openai_error(404, "File Not Found", "not_found_error"), ModelNotFoundError
        ),
        _openai_status(
            413,
            _openai_error(413, "Payload Too Large", "invalid_request_error"),
            ContextLengthExceededError,
        ),
        _openai_status(
            422, _openai_error(422, "Unprocessable", "invalid_request_error"), InvalidRequestError
        ),
        rate_limited(
            _openai_error(429, "Too Many Requests", "rate_limit_error"), "Too Many Requests", 3
        ),
        _openai_status(500, json_fixture("llamacpp/error_server.json"), ProviderUnavailableError),
        gateway_502(),
        _openai_status(503, json_fixture("llamacpp/error_loading.json"), ProviderUnavailableError),
    )
    error_event = StreamBreak(
        fixture_text("llamacpp/stream_error_data.sse"),
        "Once upon a",
        "slot 0: decode failed: out of KV cache memory",
        500,
    )
    truncated = StreamBreak(fixture_text("llamacpp/stream_truncated.sse"), "The answer is")


def _vllm_error(status: int, message: str, etype: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": None, "code": status}}


def _vllm_stream_head(chunks: int) -> str:
    """The first ``chunks`` events of the fixture stream (the role chunk, then text)."""
    events = fixture_text("openai_compatible/stream.sse").split("\n\n")
    return "".join(f"{event}\n\n" for event in events[:chunks])


class OpenAICompatible(OpenAIShapedCase):
    provider = "openai_compatible"
    model_id = "meta-llama/Llama-3.1-8B-Instruct"
    name = f"openai_compatible/{model_id}"
    base_url = "http://127.0.0.1:8000/v1"
    url = f"{base_url}/chat/completions"
    chat_fixture = "openai_compatible/chat.json"
    stream_fixture = "openai_compatible/stream.sse"
    chat_answer = Answer("Hi! How can I help you today?", 39, 10, model_id)
    stream_answer = Answer("Hi! How can I help?", 39, 7, model_id)
    statuses = (
        _openai_status(
            400, json_fixture("openai_compatible/error_invalid.json"), InvalidRequestError
        ),
        _openai_status(
            401, _vllm_error(401, "Unauthorized", "AuthenticationError"), AuthenticationError
        ),
        _openai_status(
            404,
            _vllm_error(404, f"The model `{model_id}` does not exist.", "NotFoundError"),
            ModelNotFoundError,
        ),
        _openai_status(
            413,
            _vllm_error(413, "Request Entity Too Large", "RequestEntityTooLarge"),
            ContextLengthExceededError,
        ),
        _openai_status(
            422,
            _vllm_error(422, "Field required: messages", "UnprocessableEntity"),
            InvalidRequestError,
        ),
        rate_limited(
            _vllm_error(429, "Rate limit reached", "RateLimitError"), "Rate limit reached", 2
        ),
        _openai_status(
            500,
            _vllm_error(500, "EngineCore encountered an issue", "InternalServerError"),
            ProviderUnavailableError,
        ),
        gateway_502(),
        _openai_status(
            503,
            _vllm_error(503, "The server is overloaded", "ServiceUnavailableError"),
            ProviderUnavailableError,
        ),
    )
    error_event = StreamBreak(
        _vllm_stream_head(4)
        + "data: "
        + json.dumps(_vllm_error(500, "EngineCore died", "InternalServerError"))
        + "\n\n",
        "Hi! How",
        "EngineCore died",
        500,
    )
    truncated = StreamBreak(_vllm_stream_head(4), "Hi! How")

    def deployment(self) -> Deployment:
        return Deployment(
            provider="openai_compatible",
            model=self.model,
            model_id=self.model_id,
            base_url=self.base_url,
        )


def _ollama_status(status: int, error: str, cls: type[ProviderError]) -> Status:
    return Status(status, {"error": error}, cls, error)


NGINX_413 = (  # what a reverse proxy in front of Ollama answers
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


class Ollama(Case):
    provider = "ollama"
    model_id = "llama3.1:8b"
    name = f"ollama/{model_id}"
    url = "http://127.0.0.1:11434/api/chat"
    stream_content_type = "application/x-ndjson"
    stream_fixture = "ollama/stream.ndjson"
    chat_answer = Answer("Hi! How can I help you today?", 13, 10, model_id)
    stream_answer = Answer("Hi! How can I help?", 13, 7, model_id)
    statuses = (
        _ollama_status(400, "invalid options: num_predictt", InvalidRequestError),
        _ollama_status(401, "unauthorized", AuthenticationError),
        _ollama_status(404, f"model '{model_id}' not found", ModelNotFoundError),
        Status(413, NGINX_413, ContextLengthExceededError, NGINX_413.strip()),
        _ollama_status(422, "messages: role must be one of system, user", InvalidRequestError),
        rate_limited(
            {"error": "you (ollama-user) have reached your hourly usage limit"},
            "you (ollama-user) have reached your hourly usage limit",
            17,
        ),
        _ollama_status(
            500, "llama runner process has terminated: exit status 2", ProviderUnavailableError
        ),
        gateway_502(),
        _ollama_status(
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            ProviderUnavailableError,
        ),
    )
    error_event = StreamBreak(
        fixture_text("ollama/stream_error.ndjson"),
        "Once upon a",
        "an error was encountered while running the model: unexpected EOF",
    )
    truncated = StreamBreak(fixture_text("ollama/stream_truncated.ndjson"), "The answer is")
    broken_event = "<!doctype html>\n"

    def mock_chat(self, mock: respx.MockRouter) -> respx.Route:
        return mock.post(self.url).mock(
            return_value=httpx.Response(200, json=json_fixture("ollama/chat.json"))
        )

    def expected_body(self, mode: Mode) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "messages": MESSAGES,
            "stream": mode == "stream",
            "options": {
                "num_predict": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop": ["</s>"],
                "seed": SEED,
            },
        }


def _problem(status: int, title: str, detail: str) -> Status:
    """Replicate's RFC 7807 error body; the message is its ``detail``."""
    body = {"title": title, "detail": detail, "status": status}
    cls: type[ProviderError] = {
        400: InvalidRequestError,
        401: AuthenticationError,
        404: ModelNotFoundError,
        422: InvalidRequestError,
    }.get(status, ProviderUnavailableError)
    return Status(status, body, cls, detail)


class Replicate(Case):
    """A call is a prediction: create (POST), then poll it or read its SSE stream."""

    provider = "replicate"
    model = "llama-3-8b"
    model_id = "meta/meta-llama-3-8b-instruct"
    name = f"replicate/{model_id}"
    url = f"https://api.replicate.com/v1/models/{model_id}/predictions"
    get_url = "https://api.replicate.com/v1/predictions/zjq6f3h0sdrj00cgvrtrnsyhwc"
    stream_fixture = "replicate/stream_ok.sse"
    stream_url = "https://streaming.api.replicate.com/v1/predictions/zjq6f3h0sdrj00cgvrtrnsyhwc"
    chat_answer = Answer("Hello! How can I help?", 26, 7, model_id)
    stream_answer = Answer("Hello! How can I help? Line one\nline two", 26, 7, model_id)
    statuses = (
        _problem(400, "Bad request", "The request body is not valid JSON"),
        _problem(401, "Unauthenticated", "You did not pass a valid authentication token"),
        _problem(404, "Not found", "The requested resource could not be found."),
        _problem(
            422, "Input validation failed", "- input.max_tokens: Must be less than or equal to 8192"
        ),
        rate_limited(
            {"detail": "Request was throttled. Your rate limit resets in ~30s."},
            "Request was throttled. Your rate limit resets in ~30s.",
            30,
        ),
        _problem(500, "Internal server error", "Internal server error"),
        gateway_502(),
        _problem(503, "Service unavailable", "Service temporarily unavailable"),
    )
    error_event = StreamBreak(
        fixture_text("replicate/stream_error_after_text.sse"),
        "Hello there",
        "CUDA error: out of memory",
    )
    truncated = StreamBreak(fixture_text("replicate/stream_truncated.sse"), "Hello wor")
    broken_event = "event: done\ndata: {\n\n"
    takes_seed = False  # refused before any request (see test_replicate.py)

    def deployment(self) -> Deployment:
        return Deployment(provider="replicate", model=self.model, poll_interval=0)

    def mock_chat(self, mock: respx.MockRouter) -> respx.Route:
        return mock.post(self.url).respond(
            201, json=json_fixture("replicate/prediction_succeeded.json")
        )

    def mock_stream(self, mock: respx.MockRouter, reply: httpx.Response) -> respx.Route:
        create = mock.post(self.url).respond(
            201, json=json_fixture("replicate/prediction_starting.json")
        )
        mock.get(self.stream_url).mock(return_value=reply)
        # usage is read from the prediction after the stream's done event
        mock.get(self.get_url).respond(
            200, json=json_fixture("replicate/prediction_succeeded.json")
        )
        return create

    def expected_body(self, mode: Mode) -> dict[str, Any]:
        body: dict[str, Any] = {
            "input": {
                "prompt": "Say hi.",
                "system_prompt": "Be brief.",
                "max_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop_sequences": "</s>",
            }
        }
        if mode == "stream":  # as the official SDK's stream()
            body["stream"] = True
        return body


CASES = [Groq(), Together(), LlamaCpp(), OpenAICompatible(), Ollama(), Replicate()]
STATUS_CASES = [
    pytest.param(case, status, id=f"{case.provider}-{status.id}")
    for case in CASES
    for status in case.statuses
]


# -- building and calling -----------------------------------------------------------------


SPARE = "spare"
SPARE_URL = "http://127.0.0.1:8099/v1/chat/completions"


def build_router(make_router: RouterFactory, case: Case, *, spare: bool = False) -> Router:
    """The one place the contract builds a backend: a router over the case's deployment
    and, with ``spare``, a second deployment to fail over to (see :func:`mock_spare`). The
    spare's context window is unknown: after a context-length error it is tried only when the
    window that overflowed is known (it may be larger).

    ``make_router`` gives it the mocked transport, fake keys and no router retries, so each
    attempt is one request."""
    deployments = [case.deployment()]
    if spare:
        deployments.append(
            Deployment(
                provider="openai_compatible",
                model=case.model,
                model_id="spare-model",
                name=SPARE,
                base_url=SPARE_URL.removesuffix("/chat/completions"),
            )
        )
    return make_router(deployments)


def mock_spare(mock: respx.MockRouter) -> respx.Route:
    """The spare deployment answers either mode from the openai_compatible fixtures."""

    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content).get("stream"):
            return OpenAICompatible().stream_reply(fixture_text("openai_compatible/stream.sse"))
        return httpx.Response(200, json=json_fixture("openai_compatible/chat.json"))

    return mock.post(SPARE_URL).mock(side_effect=answer)


def _limit_known(router: Router, status: Status) -> bool:
    """Whether the failed deployment's window is known: set or from the catalog, or
    reported in the error body (llama.cpp's ``n_ctx``)."""
    body = status.body if isinstance(status.body, str) else json.dumps(status.body)
    backend = router.deployments[0]
    return backend.target.context_window is not None or error_fields(body).n_ctx is not None


async def call(router: Router, case: Case, mode: Mode, **settings: Any) -> Any:
    """One chat call, or one stream drained to its end; the ChatResponse."""
    if mode == "chat":
        return await router.chat(case.model, MESSAGES, **settings)
    events: list[StreamEvent] = []
    stream = router.stream(case.model, MESSAGES, **settings)
    await drain(stream, events)
    assert isinstance(events[-1], StreamDone)
    return stream.response


async def failure(router: Router, case: Case, mode: Mode) -> tuple[ProviderError, bool]:
    """The provider error of a failed call, and whether it came inside
    ``AllDeploymentsFailedError`` (every error but an invalid request does)."""
    try:
        await call(router, case, mode)
    except AllDeploymentsFailedError as exc:
        (error,) = exc.errors
        assert isinstance(error, ProviderError), error
        return error, True
    except ProviderError as exc:
        return exc, False
    pytest.fail(f"the {mode} call succeeded; an error was expected")


async def interrupted(router: Router, case: Case) -> tuple[StreamInterruptedError, str]:
    """The error a stream raised after text reached the caller, and that text."""
    events: list[StreamEvent] = []
    with pytest.raises(StreamInterruptedError) as info:
        await drain(router.stream(case.model, MESSAGES), events)
    assert not any(isinstance(e, StreamDone) for e in events)
    return info.value, text_of(events)


def assert_origin(error: ProviderError, case: Case) -> None:
    assert error.provider == case.provider
    assert error.deployment == case.name


class BreaksAfter(httpx.AsyncByteStream):
    """A response body that delivers ``head`` and then fails with ``exc`` (the connection
    dropped mid-body)."""

    def __init__(self, head: str, exc: Exception) -> None:
        self._head = head.encode()
        self._exc = exc

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self._head
        raise self._exc


each_case = pytest.mark.parametrize("case", CASES, ids=repr)


# -- answers ------------------------------------------------------------------------------


@each_case
async def test_chat(mock_http: respx.MockRouter, make_router: RouterFactory, case: Case) -> None:
    case.mock_chat(mock_http)
    router = build_router(make_router, case)

    reply = await router.chat(case.model, MESSAGES)

    answer = case.chat_answer
    assert reply.text == answer.text
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == answer.prompt_tokens
    assert reply.usage.completion_tokens == answer.completion_tokens
    assert reply.provider_model == answer.provider_model
    assert (reply.provider, reply.deployment, reply.model) == (case.provider, case.name, case.model)
    assert [(a.deployment, a.outcome) for a in reply.route] == [(case.name, "ok")]


@each_case
async def test_stream(mock_http: respx.MockRouter, make_router: RouterFactory, case: Case) -> None:
    case.mock_ok_stream(mock_http)
    router = build_router(make_router, case)
    events: list[StreamEvent] = []

    stream = router.stream(case.model, MESSAGES)
    await drain(stream, events)

    answer = case.stream_answer
    *deltas, done = events
    assert isinstance(done, StreamDone)
    assert done.response is stream.response
    assert text_of(deltas) == answer.text
    assert len(deltas) > 1  # delivered piece by piece, not at the end
    reply = done.response
    assert reply.text == answer.text
    assert reply.finish_reason == "stop"
    assert reply.usage.prompt_tokens == answer.prompt_tokens
    assert reply.usage.completion_tokens == answer.completion_tokens
    assert reply.provider_model == answer.provider_model
    assert (reply.provider, reply.deployment) == (case.provider, case.name)
    assert reply.time_to_first_token_s is not None


@each_case
@pytest.mark.parametrize("mode", MODES)
async def test_exact_request_body(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case, mode: Mode
) -> None:
    route = case.mock_chat(mock_http) if mode == "chat" else case.mock_ok_stream(mock_http)
    router = build_router(make_router, case)
    settings = SETTINGS | ({"seed": SEED} if case.takes_seed else {})

    await call(router, case, mode, **settings)

    assert route.call_count == 1
    assert sent_json(route) == case.expected_body(mode)


# -- HTTP errors --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("case", "status"), STATUS_CASES)
async def test_http_status_maps_to_a_typed_error(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    case: Case,
    status: Status,
    mode: Mode,
) -> None:
    route = case.mock_first(mock_http, return_value=status.reply())
    router = build_router(make_router, case)

    error, wrapped = await failure(router, case, mode)

    assert type(error) is status.error
    assert error.status_code == status.status
    assert error.retry_after == status.retry_after
    assert error.message == status.message
    assert_origin(error, case)
    # An invalid request reaches the caller as it is: another deployment would reject it too.
    assert wrapped is not isinstance(error, InvalidRequestError)
    # The original is the HTTP error, with the response it came from.
    assert type(error.__cause__) is httpx.HTTPStatusError
    assert error.__cause__.response.status_code == status.status
    assert route.call_count == 1  # no retries inside the SDK


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("case", "status"), STATUS_CASES)
async def test_http_error_fails_over_unless_the_request_is_invalid(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    case: Case,
    status: Status,
    mode: Mode,
) -> None:
    case.mock_first(mock_http, return_value=status.reply())
    spare = mock_spare(mock_http)
    router = build_router(make_router, case, spare=True)

    if status.error is ContextLengthExceededError and _limit_known(router, status):
        # the window it overflowed is known: the spare's unknown window may be larger
        reply = await call(router, case, mode)
        assert [(a.deployment, a.error) for a in reply.route] == [
            (case.name, "ContextLengthExceededError"),
            (SPARE, None),
        ]
        return
    if issubclass(status.error, InvalidRequestError):
        with pytest.raises(status.error) as info:
            await call(router, case, mode)
        assert info.value.deployment == case.name
        assert not spare.called
        return
    reply = await call(router, case, mode)
    assert reply.deployment == SPARE
    assert [(a.deployment, a.error, a.status_code) for a in reply.route] == [
        (case.name, status.error.__name__, status.status),
        (SPARE, None, None),
    ]
    assert spare.call_count == 1


@each_case
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        pytest.param(
            httpx.ConnectError,
            ProviderUnreachableError,
            id="connect-refused",
        ),
        pytest.param(httpx.ReadTimeout, ProviderTimeoutError, id="timeout"),
    ],
)
async def test_transport_failure_maps_to_a_typed_error(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    case: Case,
    mode: Mode,
    raised: type[httpx.HTTPError],
    expected: type[ProviderError],
) -> None:
    # A fresh exception per test: a shared one would keep its traceback (and the router's
    # frames) alive for the whole session.
    route = case.mock_first(mock_http, side_effect=raised("the transport failed"))
    router = build_router(make_router, case)

    error, wrapped = await failure(router, case, mode)

    assert type(error) is expected
    assert error.status_code is None
    assert error.retry_after is None
    assert_origin(error, case)
    assert wrapped
    assert type(error.__cause__) is raised
    assert route.call_count == 1


# -- broken streams -----------------------------------------------------------------------


@each_case
async def test_error_event_in_stream_interrupts_with_the_partial_text(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    case.mock_stream(mock_http, case.stream_reply(case.error_event.body))
    spare = mock_spare(mock_http)
    router = build_router(make_router, case, spare=True)

    error, delivered = await interrupted(router, case)

    assert not spare.called  # text reached the caller: no silent failover
    assert error.partial_text == delivered == case.error_event.partial_text
    assert_origin(error, case)
    cause = error.__cause__
    assert type(cause) is ProviderUnavailableError
    assert cause.message == case.error_event.cause_message
    assert cause.status_code == case.error_event.cause_status
    assert_origin(cause, case)


@each_case
async def test_stream_ending_without_its_final_event_is_interrupted(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    case.mock_stream(mock_http, case.stream_reply(case.truncated.body))
    router = build_router(make_router, case)

    error, delivered = await interrupted(router, case)

    assert error.partial_text == delivered == case.truncated.partial_text
    assert_origin(error, case)
    assert type(error.__cause__) is StreamInterruptedError  # the backend's own verdict
    assert "truncated" in error.__cause__.message


@each_case
async def test_stream_ending_before_any_text_fails_over(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    case.mock_stream(mock_http, case.stream_reply(""))
    mock_spare(mock_http)
    router = build_router(make_router, case, spare=True)
    events: list[StreamEvent] = []

    stream = router.stream(case.model, MESSAGES)
    await drain(stream, events)

    assert text_of(events) == OpenAICompatible.stream_answer.text  # the spare's, only
    assert [(a.deployment, a.outcome, a.error) for a in stream.response.route] == [
        (case.name, "error", "StreamInterruptedError"),
        (SPARE, "ok", None),
    ]


@each_case
@pytest.mark.parametrize(
    ("dropped", "expected"),
    [
        pytest.param(
            httpx.RemoteProtocolError,
            ProviderUnavailableError,
            id="closed",
        ),
        pytest.param(httpx.ReadTimeout, ProviderTimeoutError, id="read-timeout"),
    ],
)
async def test_connection_lost_mid_stream_is_interrupted(
    mock_http: respx.MockRouter,
    make_router: RouterFactory,
    case: Case,
    dropped: type[httpx.HTTPError],
    expected: type[ProviderError],
) -> None:
    body = BreaksAfter(case.truncated.body, dropped("the connection was lost mid-body"))
    case.mock_stream(mock_http, case.stream_reply(body))
    router = build_router(make_router, case)

    error, delivered = await interrupted(router, case)

    assert error.partial_text == delivered == case.truncated.partial_text
    cause = error.__cause__
    assert type(cause) is expected
    assert_origin(cause, case)
    assert type(cause.__cause__) is dropped


# -- malformed replies --------------------------------------------------------------------


@each_case
async def test_chat_body_that_is_not_json_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    case.mock_first(mock_http, return_value=case.not_json_chat_reply())
    router = build_router(make_router, case)

    error, wrapped = await failure(router, case, "chat")

    assert type(error) is MalformedResponseError
    assert error.status_code is None
    assert_origin(error, case)
    assert wrapped
    assert type(error.__cause__) is json.JSONDecodeError


@each_case
async def test_stream_event_that_is_not_json_before_text_is_malformed(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    case.mock_stream(mock_http, case.stream_reply(case.broken_event))
    router = build_router(make_router, case)

    error, wrapped = await failure(router, case, "stream")

    assert type(error) is MalformedResponseError
    assert_origin(error, case)
    assert wrapped  # nothing reached the caller: the router could fail over
    assert type(error.__cause__) is json.JSONDecodeError


@each_case
async def test_stream_event_that_is_not_json_after_text_interrupts(
    mock_http: respx.MockRouter, make_router: RouterFactory, case: Case
) -> None:
    body = case.truncated.body + case.broken_event
    case.mock_stream(mock_http, case.stream_reply(body))
    router = build_router(make_router, case)

    error, delivered = await interrupted(router, case)

    assert error.partial_text == delivered == case.truncated.partial_text
    cause = error.__cause__
    assert type(cause) is MalformedResponseError
    assert_origin(cause, case)
    assert type(cause.__cause__) is json.JSONDecodeError
