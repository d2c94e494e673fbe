"""Property-based fuzzing of provider replies (hypothesis).

Random JSON, random bytes and random SSE / NDJSON framing go through every parser a
provider reply can reach: the pure OpenAI-wire parsers and error helpers, the OpenAI and
Replicate stream parsers, the rate-limit header parsers, and whole backends (Ollama,
llama.cpp, Groq) over a mocked wire. The one property everywhere: a reply either parses
into a well-formed result or raises one of our typed errors (a ``LlamaRouterError``
subclass), never anything else, and never hangs.

Every test is derandomized (the same examples on every run, so CI is reproducible) and has
no example database. Examples that exposed library bugs are pinned with ``@example``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import string
from collections.abc import AsyncIterator, Iterable, Sequence
from types import SimpleNamespace
from typing import Any, Literal

import httpx
import pytest
import respx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llama_router import Deployment, Router, StreamDone, TextDelta, ToolCallDelta
from llama_router.backends.base import BackendResult, error_for_status, error_info
from llama_router.backends.openai_stream import OpenAIStreamParser
from llama_router.backends.openai_wire import (
    FINISH_REASONS,
    parse_chat_completion,
)
from llama_router.backends.replicate import ReplicateBackend
from llama_router.exceptions import LlamaRouterError, ProviderError
from llama_router.ratelimits import (
    RateLimitInfo,
    parse_duration,
    parse_rate_limits,
    parse_retry_after,
)
from llama_router.routing.options import RetryPolicy
from tests.conftest import FAKE_KEYS, USER_HI

MODEL = "llama-3.1-8b"
FINISH_VALUES = ("stop", "length", "tool_calls", "content_filter")

#: Pure functions: cheap, many examples.
PURE = settings(max_examples=200, deadline=None, derandomize=True, database=None)
#: Stream parsers (one event loop round trip per line).
STREAMS = settings(max_examples=120, deadline=None, derandomize=True, database=None)
#: Whole backends behind a Router on a mocked wire (one Router per example).
WIRE = settings(max_examples=60, deadline=None, derandomize=True, database=None)

#: Seconds before an example counts as hung (nothing here sleeps; a pass takes milliseconds).
HANG_S = 10.0

# -- strategies: JSON ------------------------------------------------------------------------

#: JSON numbers are unbounded; Python's json module reads integers of up to 4300 digits.
#: (Built from a sign, a digit and an exponent, so failures shrink to readable values.)
big_ints = st.builds(
    lambda sign, digit, exponent: sign * digit * 10**exponent,
    st.sampled_from([1, -1]),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=300, max_value=400),
)
json_leaves = (
    st.none() | st.booleans() | st.integers() | big_ints | st.floats() | st.text(max_size=10)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def weighted(*options: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, picked with the given relative weights (``st.one_of`` flattens
    and de-duplicates its branches, then weighs them equally). Shrinks toward the first."""
    pool = [strategy for weight, strategy in options for _ in range(weight)]
    return st.integers(min_value=0, max_value=len(pool) - 1).flatmap(pool.__getitem__)


def mostly(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``strategy`` three times in four, random JSON otherwise."""
    return weighted((3, strategy), (1, json_values))


counts = st.integers(min_value=0, max_value=10**6) | st.integers() | big_ints
seconds = st.floats(min_value=0, max_value=1e6) | st.floats() | counts
finish_reasons = st.sampled_from([*FINISH_REASONS, "weird", ""])
error_codes = st.sampled_from(
    ["context_length_exceeded", "exceed_context_size_error", "rate_limit_exceeded", "x"]
)

#: The ``error`` member of a reply: OpenAI-style object, Ollama's bare text, or anything.
error_member = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "message": mostly(st.text(max_size=20)),
            "type": mostly(error_codes | st.sampled_from(["invalid_request_error"])),
            "code": mostly(error_codes | st.integers(min_value=100, max_value=599)),
            "detail": mostly(st.text(max_size=20)),
            "title": mostly(st.text(max_size=20)),
        },
    ),
    st.text(),
    json_values,
)


def reply_shapes(*, leaf_noise: bool, node_noise: bool, errors: bool) -> SimpleNamespace:
    """Provider reply objects whose members hold random values of the right kind (ints of any
    size and sign, any floats, any text). ``leaf_noise``: a scalar member is random JSON one
    time in three; ``node_noise``: an object or list is random JSON one time in eight;
    ``errors``: error members appear."""

    def leaf(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return weighted((2, strategy), (1, json_values)) if leaf_noise else strategy

    def node(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return weighted((7, strategy), (1, json_values)) if node_noise else strategy

    def obj(
        required: dict[str, st.SearchStrategy[Any]] | None = None,
        /,
        **optional: st.SearchStrategy[Any],
    ) -> st.SearchStrategy[Any]:
        return node(st.fixed_dictionaries(required or {}, optional=optional))

    def array(strategy: st.SearchStrategy[Any], min_size: int = 0) -> st.SearchStrategy[Any]:
        return node(st.lists(strategy, min_size=min_size, max_size=2))

    error: dict[str, st.SearchStrategy[Any]] = {"error": error_member} if errors else {}
    text = leaf(st.text(max_size=10))
    count = leaf(counts)
    second = leaf(seconds)
    usage = obj(
        prompt_tokens=count,
        completion_tokens=count,
        total_tokens=count,
        queue_time=second,
        prompt_time=second,
        completion_time=second,
        total_time=second,
    )
    timings = obj(prompt_ms=second, predicted_ms=second, predicted_per_second=second)
    tool_calls = array(
        obj(
            {"function": obj({"name": text}, arguments=text)},
            id=text,
            type=leaf(st.just("function")),
            index=leaf(st.integers(min_value=0, max_value=3)),
        )
    )
    finish_reason = leaf(finish_reasons)
    chat_completion = obj(
        {
            "choices": array(
                obj(
                    {
                        "message": obj(
                            {"content": leaf(st.text(max_size=10) | st.none())},
                            role=leaf(st.just("assistant")),
                            tool_calls=tool_calls,
                        )
                    },
                    index=count,
                    finish_reason=finish_reason,
                ),
                min_size=1,
            )
        },
        id=text,
        model=text,
        usage=usage,
        timings=timings,
        **error,
    )
    stream_chunk = obj(
        {
            "choices": array(
                obj(
                    {
                        "delta": obj(
                            role=leaf(st.just("assistant")),
                            content=text,
                            tool_calls=leaf(tool_calls),
                        )
                    },
                    index=count,
                    finish_reason=finish_reason,
                )
            )
        },
        id=text,
        model=text,
        usage=usage,
        timings=timings,
        x_groq=obj(id=text, usage=usage, **error),
        **error,
    )
    ollama_final = {
        "done_reason": leaf(st.sampled_from(["stop", "length", "load", "unload"])),
        "model": text,
        "total_duration": count,
        "load_duration": count,
        "prompt_eval_count": count,
        "prompt_eval_duration": count,
        "eval_count": count,
        "eval_duration": count,
    }
    ollama_message = obj(
        {"role": leaf(st.just("assistant")), "content": text},
        tool_calls=array(obj({"function": obj({"name": text}, arguments=json_values)})),
    )
    ollama_object = obj(
        {"message": ollama_message, "done": leaf(st.booleans())},
        created_at=text,
        **ollama_final,
        **error,
    )
    ollama_done = obj({"done": st.just(True)}, message=ollama_message, **ollama_final)
    return SimpleNamespace(
        chat_completion=chat_completion,
        stream_chunk=stream_chunk,
        ollama_object=ollama_object,
        ollama_done=ollama_done,
    )


_SHAPES = (
    reply_shapes(leaf_noise=False, node_noise=False, errors=False),
    reply_shapes(leaf_noise=True, node_noise=False, errors=False),
    reply_shapes(leaf_noise=True, node_noise=True, errors=False),
    reply_shapes(leaf_noise=True, node_noise=True, errors=True),
)
#: A non-streaming chat completion (the body of llama.cpp's and Groq's replies).
chat_completion = st.one_of(*(s.chat_completion for s in _SHAPES))
#: One chunk of an OpenAI-style stream (``good_stream_chunk``: no error members).
stream_chunk = st.one_of(*(s.stream_chunk for s in _SHAPES))
good_stream_chunk = st.one_of(*(s.stream_chunk for s in _SHAPES[:3]))
#: One line of Ollama's NDJSON stream, or its whole non-streaming reply.
ollama_object = st.one_of(*(s.ollama_object for s in _SHAPES))
#: The last object of an Ollama stream.
ollama_done = st.one_of(*(s.ollama_done for s in _SHAPES))


def dumps(value: object) -> str:
    """JSON text (NaN and Infinity as Python's json writes and reads them)."""
    return json.dumps(value)


#: Deeply nested JSON text: a hostile or broken server's reply. Shallow, or deeper than any
#: recursion limit (near the limit the outcome depends on the caller's stack depth, which
#: makes failures flaky) yet short enough for hypothesis to print.
deep_json = (
    st.integers(min_value=1, max_value=64) | st.integers(min_value=10_000, max_value=12_000)
).map(lambda n: "[" * n + "]" * n)


@st.composite
def truncated(draw: st.DrawFn, texts: st.SearchStrategy[str]) -> str:
    text = draw(texts)
    return text[: draw(st.integers(min_value=0, max_value=len(text)))]


#: Reply text: JSON of any shape, truncated JSON, deep JSON, or random text.
json_texts = st.one_of(
    (chat_completion | stream_chunk | ollama_object).map(dumps),
    json_values.map(dumps),
    truncated(chat_completion.map(dumps)),
    deep_json,
    st.text(max_size=30),
)

# -- strategies: line framings ------------------------------------------------------------------

printable = st.text(alphabet=string.printable, max_size=30)
comments = st.sampled_from([": ping", ":", ": OPENROUTER PROCESSING", ":408 Request Timeout"])
sse_fields = st.sampled_from(
    ["event: message", "event: error", "event: output", "event: done", "id: 1", "retry: 100"]
)
DONE = "data: [DONE]"

#: One line of an OpenAI-style SSE stream.
openai_line = st.one_of(
    stream_chunk.map(lambda c: "data: " + dumps(c)),
    st.sampled_from([DONE, "data:[DONE]", "data: [DONE] ", "data:", ""]),
    error_member.map(lambda e: "error: " + dumps(e)),
    comments,
    sse_fields,
    json_texts.map(lambda t: "data: " + t),
    json_texts.map(lambda t: "error: " + t),
    printable,
    st.text(max_size=30),
)
#: Lines a stream may carry between its chunks.
harmless_line = st.sampled_from(["", ": ping", "event: message", "id: 7", "retry: 100"])
#: Whole OpenAI-style streams: well-framed chunks (with blank lines, comments and fields
#: between them) then [DONE] (or, with a finish reason, nothing), or lines of anything.
openai_lines = st.one_of(
    st.tuples(
        st.lists(good_stream_chunk.map(lambda c: "data: " + dumps(c)) | harmless_line, max_size=8),
        st.sampled_from([[DONE], [DONE, ""], [DONE, "", ""], []]),
    ).map(lambda t: t[0] + t[1]),
    st.lists(openai_line, max_size=8),
)

#: One line of a Replicate SSE stream (events ``output`` / ``error`` / ``done``).
replicate_line = st.one_of(
    st.sampled_from(["event: output", "event: error", "event: done", "event:output", "event: x"]),
    st.just(""),
    st.text(max_size=12).map(lambda t: "data: " + t),
    st.text(max_size=12).map(lambda t: "data:" + t),
    mostly(st.fixed_dictionaries({}, optional={"reason": st.sampled_from(["", "canceled"])})).map(
        lambda d: "data: " + dumps(d)
    ),
    json_values.map(lambda v: "data: " + dumps(v)),
    deep_json.map(lambda t: "data: " + t),
    comments,
    sse_fields,
    printable,
    st.text(max_size=30),
)
replicate_event = st.tuples(
    st.sampled_from(["output", "output", "error", "done"]),
    st.lists(st.text(max_size=8) | json_values.map(dumps) | deep_json, max_size=2),
).map(lambda ev: [f"event: {ev[0]}", *(f"data: {d}" for d in ev[1]), ""])
#: Whole Replicate streams: well-framed events, or lines of anything.
replicate_lines = st.one_of(
    st.lists(replicate_event, max_size=4).map(lambda evs: [line for ev in evs for line in ev]),
    st.lists(replicate_line, max_size=8),
)

#: One line of an Ollama NDJSON stream.
ndjson_line = st.one_of(
    ollama_object.map(dumps), st.just(""), json_texts, printable, st.text(max_size=30)
)
#: Whole Ollama streams: objects then the done one, or lines of anything.
ndjson_lines = st.one_of(
    st.tuples(st.lists(ollama_object, max_size=4), ollama_done).map(
        lambda t: [dumps(o) for o in (*t[0], t[1])]
    ),
    st.lists(ndjson_line, max_size=8),
)

line_ends = st.sampled_from(["\n", "\r\n", "\r", "\n\n"])


@st.composite
def framed(draw: st.DrawFn, lines: st.SearchStrategy[list[str]]) -> bytes:
    """Lines joined with random line endings (sometimes none at the end), as UTF-8."""
    items = draw(lines)
    out = "".join(line + draw(line_ends) for line in items)
    unterminated = draw(st.booleans())
    if items and unterminated:
        out = out.rstrip("\r\n")
    return out.encode()


#: A whole HTTP 200 body, whatever the provider: bytes, JSON, NDJSON or SSE.
wire_bodies = st.one_of(
    st.binary(max_size=200),
    json_texts.map(str.encode),
    framed(ndjson_lines),
    framed(openai_lines),
    framed(replicate_lines),
)


@st.composite
def chunked(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """``body`` cut at random places (splitting UTF-8 sequences and line endings)."""
    cuts = sorted(set(draw(st.lists(st.integers(min_value=0, max_value=len(body)), max_size=6))))
    bounds = [0, *cuts, len(body)]
    return [body[a:b] for a, b in itertools.pairwise(bounds) if b > a]


# -- strategies: headers ---------------------------------------------------------------------

RATE_LIMIT_HEADERS = (
    "retry-after",
    "retry-after-ms",
    "x-ratelimit-limit-requests",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-reset-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-tokens",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "x-tokenlimit-limit",
    "x-tokenlimit-remaining",
)

go_units = st.sampled_from(["h", "m", "s", "ms", "us", "µs", "ns"])
go_durations = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=10**6)
        | big_ints.map(abs)
        | st.floats(min_value=0, max_value=1e6),
        go_units,
    ),
    min_size=1,
    max_size=4,
).map(lambda parts: "".join(f"{n}{u}" for n, u in parts))
numberish = st.one_of(
    st.sampled_from(["0", "", "-0", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400"]),
    st.floats().map(str),
    st.integers().map(str),
    big_ints.map(str),
)
http_dates = st.builds(
    "{}, {:02d} {} {:04d} {:02d}:{:02d}:{:02d} {}".format,
    st.sampled_from(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]),
    st.integers(min_value=0, max_value=40),
    st.sampled_from(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Dec", "Foo"]),
    st.integers(min_value=0, max_value=99999),
    st.integers(min_value=0, max_value=30),
    st.integers(min_value=0, max_value=70),
    st.integers(min_value=0, max_value=70),
    st.sampled_from(["GMT", "UTC", "-0000", "+0000", "+2359", "-2359", "+9999", "EST", ""]),
)
#: Header texts: the shapes providers send, their near misses, and random text.
header_texts = st.one_of(
    numberish, go_durations, http_dates, st.text(alphabet=string.printable, max_size=20)
)
#: Random header values httpx can put on a response (printable ASCII).
ascii_header_texts = header_texts.filter(lambda t: t.isascii() and t.isprintable())
rate_limit_headers = st.dictionaries(st.sampled_from(RATE_LIMIT_HEADERS), header_texts, max_size=4)


# -- helpers ---------------------------------------------------------------------------------


async def aiter_lines(lines: Iterable[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


def check_count(value: object) -> None:
    assert type(value) is int, value
    assert value >= 0, value


def check_seconds(value: object) -> None:
    """``None`` or a real number of seconds: not negative, not NaN."""
    if value is None:
        return
    assert isinstance(value, float), value
    assert not math.isnan(value), value
    assert value >= 0, value


def check_result(result: BackendResult) -> None:
    assert isinstance(result, BackendResult)
    assert isinstance(result.text, str)
    assert result.finish_reason in FINISH_VALUES
    check_count(result.usage.prompt_tokens)
    check_count(result.usage.completion_tokens)
    for call in result.tool_calls:
        assert isinstance(call.id, str)
        assert isinstance(call.name, str)
        assert isinstance(call.arguments, str)
    assert result.provider_model is None or isinstance(result.provider_model, str)


def check_rate_limits(info: RateLimitInfo) -> None:
    for count in (
        info.limit_requests,
        info.remaining_requests,
        info.limit_tokens,
        info.remaining_tokens,
    ):
        assert count is None or (type(count) is int and count >= 0), count
    for duration in (info.reset_requests, info.reset_tokens, info.retry_after):
        check_seconds(duration)


async def no_hang(coro: Any) -> Any:
    try:
        return await asyncio.wait_for(coro, HANG_S)
    except asyncio.TimeoutError:
        pytest.fail(f"hang: no result within {HANG_S} s")


# -- pinned examples ------------------------------------------------------------------------------
# The @example inputs below are failing examples these properties found and shrank (the deep
# JSON ones with the depth raised to DEEP's, well past any recursion limit, so they fail
# reliably). Those marked "regression" exposed bugs since fixed (commits 4126d31 and
# 4b3b534); the others expose open library bugs: their tests fail until those are fixed.

#: The smallest power of ten too large for a float (``float(HUGE)`` raises OverflowError).
HUGE = 10**309
#: JSON nested deeper than the interpreter's recursion limit (json.loads: RecursionError).
DEEP = "[" * 10_000 + "]" * 10_000
NO_CONTENT = [{"message": {"content": None}}]


# -- 1. pure parsers ---------------------------------------------------------------------------


@PURE
@given(chat_completion)
# OverflowError: completion_tokens / completion_time in parse_timings.
@example(
    data={
        "choices": NO_CONTENT,
        "id": "",
        "timings": {},
        "usage": {
            "prompt_tokens": 0,
            "completion_tokens": HUGE,
            "total_time": 0.0,
            "completion_time": 1.0,
        },
    }
)
@example(data={"choices": NO_CONTENT, "timings": {"prompt_ms": HUGE}})  # regression
@example(  # regression
    data={"choices": NO_CONTENT, "id": "", "timings": {}, "usage": {"prompt_tokens": -1}}
)
def test_parse_chat_completion_returns_a_result_or_a_typed_error(data: object) -> None:
    try:
        result = parse_chat_completion(data, provider="p", deployment="d")
    except LlamaRouterError:
        return
    check_result(result)


@PURE
@given(st.one_of(error_member, json_values, json_texts, st.binary(), json_texts.map(str.encode)))
@example(body=DEEP)  # RecursionError from json.loads
def test_error_info_always_gives_message_type_code(body: object) -> None:
    for value in (body, {"error": body}, bytearray(body) if isinstance(body, bytes) else body):
        info = error_info(value)
        assert isinstance(info, tuple)
        assert len(info) == 3
        message, etype, code = info
        assert isinstance(message, str)
        assert len(message) <= 500
        assert etype is None or isinstance(etype, str)
        assert code is None or isinstance(code, str)


@PURE
@given(
    st.none() | st.integers(min_value=100, max_value=599),
    st.one_of(
        error_member.map(lambda e: {"error": e}), json_values, json_texts, st.binary(max_size=50)
    ),
    st.none() | rate_limit_headers,
)
@example(status=None, body=DEEP, headers=None)  # RecursionError from json.loads in error_info
@example(  # regression
    status=None, body={"error": {}}, headers={"x-ratelimit-limit-requests": "inf"}
)
@example(status=None, body={"error": {}}, headers={"retry-after": "nan"})  # regression
def test_error_for_status_always_gives_a_provider_error(
    status: int | None, body: object, headers: dict[str, str] | None
) -> None:
    error = error_for_status(status, body, provider="p", deployment="d", headers=headers)
    assert isinstance(error, ProviderError)
    assert error.status_code == status
    assert error.provider == "p"
    assert error.deployment == "d"
    assert isinstance(error.message, str)
    check_seconds(error.retry_after)
    if error.rate_limits is not None:
        check_rate_limits(error.rate_limits)
    str(error)  # renders


# -- 2. stream parsers fed random line framings -------------------------------------------------


@STREAMS
@given(openai_lines)
# TypeError joining a non-text delta.content: at the end, or for the truncation error.
@example(
    lines=[
        'data: {"choices": [{"delta": {"role": "assistant", "tool_calls": [], "content": true}}]}'
    ]
)
@example(
    lines=[
        'data: {"choices": [{"delta": {"role": "assistant", "tool_calls": [], "content": true}}]}',
        "data: [DONE]",
    ]
)
# A TextDelta whose text is not a str reaches the caller before the typed error.
@example(
    lines=[
        'data: {"choices": [{"delta": {"role": "assistant", '
        '"tool_calls": [null, {"function": {"name": ""}}], "content": 1}}]}',
        "data: [DONE]",
    ]
)
# TypeError iterating a non-list delta.tool_calls.
@example(lines=['data: {"choices": [{"delta": {"tool_calls": true}}]}', "data: [DONE]"])
# OverflowError: completion_tokens / completion_time in parse_timings.
@example(
    lines=[
        "data: "
        + dumps(
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": 0,
                    "completion_tokens": HUGE,
                    "total_time": 0.0,
                    "completion_time": 1.0,
                },
            }
        ),
        "data: [DONE]",
    ]
)
@example(lines=["error: " + DEEP])  # RecursionError from json.loads
@example(  # regression
    lines=[
        "data: "
        + dumps(
            {
                "choices": [{"delta": {}, "finish_reason": "stop"}],
                "id": "",
                "x_groq": {},
                "timings": {"prompt_ms": HUGE},
            }
        )
    ]
)
async def test_openai_stream_parser_ends_in_one_result_or_a_typed_error(lines: list[str]) -> None:
    parser = OpenAIStreamParser(provider="p", deployment="d")
    items: list[object] = []

    async def run() -> None:
        async for item in parser.events(aiter_lines(lines)):
            items.append(item)

    try:
        await no_hang(run())
    except LlamaRouterError:
        failed = True
    else:
        failed = False
    deltas = items if failed else items[:-1]
    assert all(isinstance(d, (TextDelta, ToolCallDelta)) for d in deltas), deltas
    texts = [d.text for d in deltas if isinstance(d, TextDelta)]
    assert all(isinstance(t, str) and t for t in texts), texts
    for d in deltas:
        if isinstance(d, ToolCallDelta):
            assert type(d.index) is int
            assert all(v is None or isinstance(v, str) for v in (d.id, d.name))
            assert isinstance(d.arguments, str)
    if failed:
        return
    assert items, "the stream ended without a result"
    final = items[-1]
    assert isinstance(final, BackendResult), final
    check_result(final)
    assert final.text == "".join(texts)


@pytest.fixture
def replicate_backend(make_router: Any) -> ReplicateBackend:
    router = make_router([Deployment(provider="replicate", model="llama-3-8b")])
    backend = router.deployments[0]
    assert isinstance(backend, ReplicateBackend)
    return backend


# The backend is only read (provider, deployment name) by _sse_output: sharing it across
# examples is safe, so the function-scoped fixture health check does not apply.
@settings(STREAMS, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(replicate_lines)
@example(lines=["event: error", "data: " + DEEP, ""])  # RecursionError via error_info
async def test_replicate_sse_output_yields_text_or_a_typed_error(
    replicate_backend: ReplicateBackend, lines: list[str]
) -> None:
    parts: list[str] = []
    out: list[str] = []

    async def run() -> None:
        async for text in replicate_backend._sse_output(aiter_lines(lines), parts):
            out.append(text)

    with contextlib.suppress(LlamaRouterError):
        await no_hang(run())
    assert all(isinstance(t, str) and t for t in out)
    assert parts == out


# -- 3. whole backends over a mocked wire --------------------------------------------------------

WireProvider = Literal["ollama", "llamacpp", "groq"]
WIRE_TARGETS: dict[WireProvider, str] = {
    "ollama": "http://127.0.0.1:11434/api/chat",
    "llamacpp": "http://127.0.0.1:8080/v1/chat/completions",
    "groq": "https://api.groq.com/openai/v1/chat/completions",
}


class ChunkStream(httpx.AsyncByteStream):
    """A response body delivered in the given pieces (no async generator left to finalise)."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = list(chunks)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if not self._chunks:
            raise StopAsyncIteration
        return self._chunks.pop(0)


Reply = tuple[list[bytes], dict[str, str]]


def wire_replies(native: st.SearchStrategy[bytes]) -> st.SearchStrategy[Reply]:
    """An HTTP 200 reply: a body (mostly in the provider's own format, else anything) cut
    into random pieces, and random rate-limit headers."""
    return st.tuples(
        weighted((2, native), (1, wire_bodies)).flatmap(chunked),
        st.dictionaries(st.sampled_from(RATE_LIMIT_HEADERS), ascii_header_texts, max_size=3),
    )


def check_deltas(events: Sequence[object]) -> str:
    """Every event is a well-formed delta; returns their text."""
    texts = []
    for event in events:
        assert isinstance(event, (TextDelta, ToolCallDelta)), event
        if isinstance(event, TextDelta):
            assert isinstance(event.text, str), event
            assert event.text, event
            texts.append(event.text)
    return "".join(texts)


async def call_over_wire(
    provider: WireProvider, mode: Literal["chat", "stream"], reply: Reply
) -> None:
    """One chat or stream call on a fresh Router whose provider answers 200 with ``reply``.

    Only LlamaRouterError subclasses may escape (caught here); a success must be well formed.
    """
    chunks, headers = reply
    with respx.MockRouter(assert_all_called=False, assert_all_mocked=True) as mock:
        mock.post(WIRE_TARGETS[provider]).mock(
            side_effect=lambda request: httpx.Response(
                200, headers=headers, stream=ChunkStream(chunks)
            )
        )
        router = Router(
            [Deployment(provider=provider, model=MODEL)],
            transport=httpx.MockTransport(mock.async_handler),
            env=FAKE_KEYS,
            retry=RetryPolicy(max_retries=0),
        )
        try:
            if mode == "chat":
                try:
                    response = await router.chat(MODEL, USER_HI)
                except LlamaRouterError:
                    return
                assert isinstance(response.text, str)
            else:
                events: list[object] = []
                try:
                    async with router.stream(MODEL, USER_HI) as stream:
                        async for event in stream:
                            events.append(event)
                except LlamaRouterError:
                    check_deltas(events)
                    return
                assert events
                done = events[-1]
                assert isinstance(done, StreamDone), done
                response = done.response
                assert response.text == check_deltas(events[:-1])
            check_count(response.usage.prompt_tokens)
            check_count(response.usage.completion_tokens)
        finally:
            await router.aclose()


ollama_chat_bodies = weighted((3, ollama_object.map(dumps)), (1, json_texts)).map(str.encode)
ollama_stream_bodies = framed(ndjson_lines)
openai_chat_bodies = weighted((3, chat_completion.map(dumps)), (1, json_texts)).map(str.encode)
openai_stream_bodies = framed(openai_lines)


@WIRE
@given(wire_replies(ollama_chat_bodies))
# OverflowError pricing the huge token count (catalog.Price.cost).
@example(
    reply=(
        [
            dumps(
                {
                    "message": {"role": "assistant", "content": ""},
                    "done": False,
                    "prompt_eval_count": HUGE,
                }
            ).encode()
        ],
        {},
    )
)
# OverflowError: eval_count / eval_s in OllamaBackend._result.
@example(
    reply=(
        [
            dumps(
                {
                    "message": {"role": "assistant", "content": ""},
                    "done": False,
                    "created_at": "",
                    "eval_duration": 1,
                    "eval_count": HUGE,
                }
            ).encode()
        ],
        {},
    )
)
@example(  # regression
    reply=(
        [
            dumps(
                {
                    "message": {"role": "assistant", "content": ""},
                    "done": False,
                    "total_duration": HUGE,
                }
            ).encode()
        ],
        {},
    )
)
async def test_ollama_chat_over_random_wire_raises_only_typed_errors(reply: Reply) -> None:
    await no_hang(call_over_wire("ollama", "chat", reply))


@WIRE
@given(wire_replies(ollama_stream_bodies))
# pydantic ValidationError (a ValueError) for a non-text tool-call name escapes _calls.
@example(
    reply=(
        [
            b'{"message": {"role": "assistant", "content": "", "tool_calls": '
            b'[{"function": {"name": null}}]}, "done": false}\n{"done": true}\n'
        ],
        {},
    )
)
@example(reply=([DEEP.encode() + b"\n"], {}))  # RecursionError from json.loads
async def test_ollama_stream_over_random_wire_raises_only_typed_errors(reply: Reply) -> None:
    await no_hang(call_over_wire("ollama", "stream", reply))


@pytest.mark.parametrize("provider", ["llamacpp", "groq"])
@WIRE
@given(wire_replies(openai_chat_bodies))
@example(reply=([DEEP.encode()], {}))  # RecursionError from json.loads in Backend._json
# OverflowError pricing the huge token count (catalog.Price.cost).
@example(reply=([dumps({"choices": NO_CONTENT, "usage": {"prompt_tokens": HUGE}}).encode()], {}))
@example(reply=([], {"x-ratelimit-limit-requests": "inf"}))  # regression (groq)
async def test_openai_wire_chat_over_random_wire_raises_only_typed_errors(
    provider: WireProvider, reply: Reply
) -> None:
    await no_hang(call_over_wire(provider, "chat", reply))


@pytest.mark.parametrize("provider", ["llamacpp", "groq"])
@WIRE
@given(wire_replies(openai_stream_bodies))
# OverflowError pricing the huge token count (catalog.Price.cost).
@example(
    reply=(
        [
            b"data: "
            + dumps({"choices": [], "usage": {"completion_tokens": HUGE}}).encode()
            + b"\ndata: [DONE]\n"
        ],
        {},
    )
)
async def test_openai_wire_stream_over_random_wire_raises_only_typed_errors(
    provider: WireProvider, reply: Reply
) -> None:
    await no_hang(call_over_wire(provider, "stream", reply))


# -- 4. rate-limit headers ----------------------------------------------------------------------


@PURE
@given(st.none() | header_texts | st.text())
@example(value="nan")  # regression
def test_parse_duration_is_none_or_non_negative_seconds(value: str | None) -> None:
    check_seconds(parse_duration(value))


@PURE
@given(
    st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms"]), header_texts | st.text()),
    st.none() | st.floats(min_value=0, max_value=4e9),
)
@example(headers={"retry-after": "nan"}, now=None)  # regression
def test_parse_retry_after_is_none_or_non_negative_seconds(
    headers: dict[str, str], now: float | None
) -> None:
    check_seconds(parse_retry_after(headers, now=now))


@PURE
@given(rate_limit_headers | st.dictionaries(st.text(max_size=30), st.text(max_size=20)))
@example(headers={"retry-after": "nan"})  # regression
def test_parse_rate_limits_never_raises(headers: dict[str, str]) -> None:
    check_rate_limits(parse_rate_limits(headers))


@PURE
@given(st.dictionaries(st.sampled_from(RATE_LIMIT_HEADERS), ascii_header_texts, max_size=6))
@example(headers={"retry-after": "nan"})  # regression
@example(  # regression
    headers={
        "retry-after": "nan",
        "retry-after-ms": "nan",
        "x-ratelimit-limit-requests": "nan",
        "x-ratelimit-remaining-requests": "nan",
        "x-ratelimit-reset-requests": "nan",
        "x-ratelimit-limit-tokens": "inf",
    }
)
def test_parse_rate_limits_of_httpx_headers_never_raises(headers: dict[str, str]) -> None:
    check_rate_limits(parse_rate_limits(httpx.Headers(headers)))
