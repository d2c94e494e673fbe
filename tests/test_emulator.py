"""The provider emulator, driven through the real backends (and so the official SDKs):
each wire format answers correctly, and each fault reaches the router as the typed error
the real provider's fault would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from llama_router import (
    ColdStartError,
    Deployment,
    LlamaRouterError,
    MalformedResponseError,
    ProviderUnavailableError,
    RateLimitedError,
    Router,
    StreamInterruptedError,
    TextDelta,
    Timeouts,
)
from llama_router.exceptions import AllDeploymentsFailedError
from llama_router.routing.options import RetryPolicy
from llama_router.testing.emulator import (
    Behaviour,
    Fault,
    ProviderEmulator,
    ProviderStats,
    main,
)

from .conftest import FAKE_KEYS

HI = [{"role": "user", "content": "Say hi."}]
EXPECTED = "Hello from the emulator."


def deployment(emu: ProviderEmulator, provider: str, **kw: Any) -> Deployment:
    model = "llama-3-8b" if provider == "replicate" else "llama-3.1-8b"
    if provider == "replicate":
        kw.setdefault("poll_interval", 0.01)
    return Deployment(
        provider=provider,
        model=model,
        base_url=emu.url(provider),  # type: ignore[arg-type]
        name=provider,
        **kw,
    )


@pytest.fixture
async def emu() -> AsyncIterator[ProviderEmulator]:
    async with ProviderEmulator() as running:
        yield running


def router(*deployments: Deployment, **kw: Any) -> Router:
    kw.setdefault("retry", RetryPolicy(max_retries=0))
    return Router(list(deployments), env=FAKE_KEYS, **kw)


async def stream_text(r: Router, model: str) -> tuple[list[str], Any]:
    texts: list[str] = []
    async with r.stream(model, HI) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                texts.append(event.text)
    return texts, stream.response


PROVIDERS = ["groq", "together", "llamacpp", "ollama", "replicate"]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_each_wire_format_answers_chat_and_stream(
    emu: ProviderEmulator, provider: str
) -> None:
    d = deployment(emu, provider)
    async with router(d) as r:
        reply = await r.chat(d.model, HI)
        texts, streamed = await stream_text(r, d.model)
    assert reply.text == EXPECTED
    assert "".join(texts) == streamed.text == EXPECTED
    assert streamed.usage.completion_tokens == 5
    logged = emu.requests(provider)  # type: ignore[arg-type]
    assert [r.completed for r in logged] == [True, True]
    assert logged[-1].sent_text == EXPECTED
    if provider != "replicate":
        assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == logged[0].usage


async def test_status_fault_carries_retry_after_and_fails_over(emu: ProviderEmulator) -> None:
    emu.script("groq", Fault.http(429, retry_after=7))
    async with router(deployment(emu, "groq"), deployment(emu, "ollama")) as r:
        reply = await r.chat("llama-3.1-8b", HI)
    assert reply.deployment == "ollama"
    assert reply.route[0].error == RateLimitedError.__name__
    assert reply.route[0].status_code == 429


async def test_reset_mid_stream_delivers_exactly_what_was_sent(emu: ProviderEmulator) -> None:
    emu.script("llamacpp", Fault.reset(after_tokens=2))
    async with router(deployment(emu, "llamacpp")) as r:
        with pytest.raises(StreamInterruptedError) as info:
            await stream_text(r, "llama-3.1-8b")
    assert info.value.partial_text == emu.requests("llamacpp")[0].sent_text == "Hello from"


async def test_continuation_after_a_reset_loses_and_duplicates_nothing(
    emu: ProviderEmulator,
) -> None:
    emu.script("groq", Fault.reset(after_tokens=3))
    emu.behave("together", Behaviour(tokens=(" emulator", ".")))
    async with router(deployment(emu, "groq"), deployment(emu, "together"), continuation=True) as r:
        texts, response = await stream_text(r, "llama-3.1-8b")
    sent = [e.sent_text for e in emu.log]
    assert "".join(texts) == response.text == "".join(sent) == EXPECTED
    assert emu.requests("together")[0].body["messages"][-1] == {
        "role": "assistant",
        "content": "Hello from the",
    }


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault.truncate(after_tokens=2), StreamInterruptedError),
        (Fault.error_event(after_tokens=1), StreamInterruptedError),
        (Fault.malformed(after_tokens=1), StreamInterruptedError),
    ],
)
async def test_stream_faults_after_text(
    emu: ProviderEmulator, fault: Fault, error: type[Exception]
) -> None:
    emu.script("together", fault)
    async with router(deployment(emu, "together")) as r:
        with pytest.raises(error) as info:
            await stream_text(r, "llama-3.1-8b")
    assert info.value.partial_text == emu.requests("together")[0].sent_text  # type: ignore[attr-defined]


async def test_malformed_reply_is_typed(emu: ProviderEmulator) -> None:
    emu.script("ollama", Fault.malformed())
    async with router(deployment(emu, "ollama")) as r:
        with pytest.raises(AllDeploymentsFailedError) as info:
            await r.chat("llama-3.1-8b", HI)
    assert isinstance(info.value.errors[0], MalformedResponseError)


async def test_stall_before_the_first_token_fails_over(emu: ProviderEmulator) -> None:
    emu.script("groq", Fault.stall(5.0))
    async with router(
        deployment(emu, "groq"), deployment(emu, "ollama"), timeouts=Timeouts(first_token=0.3)
    ) as r:
        texts, response = await stream_text(r, "llama-3.1-8b")
    assert response.deployment == "ollama"
    assert "".join(texts) == EXPECTED
    assert response.route[0].error == "FirstTokenTimeoutError"


async def test_replicate_failed_prediction_and_cold_boot(emu: ProviderEmulator) -> None:
    emu.script("replicate", Fault.failed())
    async with router(deployment(emu, "replicate")) as r:
        with pytest.raises(AllDeploymentsFailedError) as info:
            await r.chat("llama-3-8b", HI)
    assert isinstance(info.value.errors[0], ProviderUnavailableError)
    assert "CUDA out of memory" in str(info.value.errors[0])

    emu.script("replicate", Fault.cold_boot(polls=50))
    cold = deployment(emu, "replicate", cold_boot_timeout=0.05)
    fallback = Deployment(provider="ollama", model="llama-3-8b", base_url=emu.url("ollama"))
    async with router(cold, fallback) as r:
        reply = await r.chat("llama-3-8b", HI)
    assert reply.deployment == "ollama/llama3:8b"
    assert reply.route[0].error == ColdStartError.__name__


async def test_a_streamed_replicate_prediction_that_ends_failed_is_not_an_answer(
    emu: ProviderEmulator,
) -> None:
    # Its output events arrive, then the prediction reads "failed": the text is not complete.
    emu.script("replicate", Fault.failed())
    async with router(deployment(emu, "replicate")) as r:
        with pytest.raises(StreamInterruptedError) as info:
            await stream_text(r, "llama-3-8b")
    assert info.value.partial_text == EXPECTED
    assert isinstance(info.value.__cause__, ProviderUnavailableError)
    assert "CUDA out of memory" in str(info.value)


def test_the_documented_example_runs() -> None:
    import re
    import subprocess
    import sys
    from pathlib import Path

    text = (Path(__file__).parents[1] / "docs" / "testing.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match
    result = subprocess.run(
        [sys.executable, "-c", match.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ollama/llama3.1:8b ['RateLimitedError', None]")
    assert result.stderr == ""


# -- keep-alive streams, counters, control endpoints, command line --------------------------

CHAT_PATHS = {
    "groq": "/openai/v1/chat/completions",
    "together": "/v1/chat/completions",
    "llamacpp": "/v1/chat/completions",
    "ollama": "/api/chat",
}


def chat_body(stream: bool) -> dict[str, Any]:
    return {"model": "llama-3.1-8b", "messages": HI, "stream": stream}


def streamed_text(provider: str, body: str) -> tuple[str, bool]:
    """The text in a raw stream body, and whether the stream's content is complete."""
    if provider == "ollama":
        lines = [json.loads(line) for line in body.splitlines()]
        text = "".join(line["message"]["content"] for line in lines)
        return text, bool(lines) and lines[-1]["done"] is True
    events = [e.removeprefix("data: ") for e in body.split("\n\n") if e]
    chunks = [json.loads(e) for e in events if e != "[DONE]"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    return text, events[-1:] == ["[DONE]"]


async def post_stream(client: httpx.AsyncClient, provider: str) -> tuple[httpx.Response, str]:
    async with client.stream("POST", CHAT_PATHS[provider], json=chat_body(True)) as response:
        body = (await response.aread()).decode()
    return response, body


@pytest.mark.parametrize("provider", ["groq", "ollama"])
async def test_streams_are_chunked_and_keep_the_connection(
    emu: ProviderEmulator, provider: str
) -> None:
    async with httpx.AsyncClient(base_url=emu.url(provider)) as client:  # type: ignore[arg-type]
        for _ in range(2):
            response, body = await post_stream(client, provider)
            assert response.headers["transfer-encoding"] == "chunked"
            assert "connection" not in response.headers
            assert streamed_text(provider, body) == (EXPECTED, True)
    assert emu.stats().connections == 1
    assert [r.completed for r in emu.log] == [True, True]


async def test_replicate_stream_keeps_the_connection_and_drops_the_prediction() -> None:
    async with ProviderEmulator(record=False) as emu, httpx.AsyncClient() as client:
        for _ in range(2):
            created = await client.post(
                emu.url("replicate") + "/v1/predictions", json={"input": {"prompt": "hi"}}
            )
            assert created.status_code == 201
            urls = created.json()["urls"]
            async with client.stream("GET", urls["stream"]) as response:
                assert response.headers["transfer-encoding"] == "chunked"
                body = (await response.aread()).decode()
            assert body.endswith("event: done\ndata: {}\n\n")
            final = await client.get(urls["get"])  # the client fetches usage after the stream
            assert final.json()["status"] == "succeeded"
            assert (await client.get(urls["get"])).status_code == 404  # dropped once served
        stats = emu.stats()
    assert stats.connections == 1
    assert stats.predictions == 0
    assert stats.providers["replicate"] == ProviderStats(2, 2, {})
    assert emu.log == []


@pytest.mark.parametrize("provider", ["groq", "ollama"])
@pytest.mark.parametrize(
    ("fault", "sign"),
    [
        (Fault.truncate(after_tokens=2), None),
        (Fault.malformed(after_tokens=1), "{"),
        (Fault.error_event(after_tokens=1), "emulated failure"),
        (Fault.reset(after_tokens=2), None),
        (Fault.stall(0.05, after_tokens=2), None),
    ],
    ids=lambda value: getattr(value, "kind", None),
)
async def test_stream_faults_on_a_kept_alive_connection(
    emu: ProviderEmulator, provider: str, fault: Fault, sign: str | None
) -> None:
    """reset and stall drop the connection; the others end the body with a valid chunked
    framing (only its content is cut or broken) and the connection serves the next request."""
    emu.script(provider, fault)  # type: ignore[arg-type]
    aborts = fault.kind in ("reset", "stall")
    async with httpx.AsyncClient(base_url=emu.url(provider)) as client:  # type: ignore[arg-type]
        if aborts:
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await post_stream(client, provider)
        else:
            _, body = await post_stream(client, provider)
            sent = emu.log[0].sent_text
            assert sent == "".join(Behaviour().tokens[: fault.after_tokens])
            if fault.kind == "truncate":
                assert streamed_text(provider, body) == (sent, False)
            else:
                assert sign is not None
                assert sign in body
        _, body = await post_stream(client, provider)
        assert streamed_text(provider, body) == (EXPECTED, True)
    assert emu.stats().connections == (2 if aborts else 1)
    assert [r.completed for r in emu.log] == [False, True]


async def test_a_client_gone_mid_stream_is_sent_nothing_more(emu: ProviderEmulator) -> None:
    emu.behave("groq", Behaviour(tokens_per_second=10, tokens=Behaviour.numbered_tokens(50)))
    async with (
        httpx.AsyncClient(base_url=emu.url("groq")) as client,
        client.stream("POST", CHAT_PATHS["groq"], json=chat_body(True)) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                break  # the first token: leave, closing the connection
    handlers = set(emu._handlers)
    assert handlers
    await asyncio.wait(handlers, timeout=10)  # the emulator notices on its next token
    entry = emu.log[0]
    assert (entry.sent_tokens, entry.completed) == (1, False)


async def test_chunked_request_bodies_are_read(emu: ProviderEmulator) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        text = json.dumps(chat_body(False)).encode()
        yield text[:10]
        yield text[10:]

    async with httpx.AsyncClient(base_url=emu.url("groq")) as client:
        response = await client.post(CHAT_PATHS["groq"], content=chunks())
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.json()["choices"][0]["message"]["content"] == EXPECTED


async def test_without_a_log_the_counters_still_count() -> None:
    async with ProviderEmulator(record=False) as emu:
        emu.script("groq", Fault.http(503))
        async with router(deployment(emu, "groq"), deployment(emu, "ollama")) as r:
            failed_over = await r.chat("llama-3.1-8b", HI)
            _, streamed = await stream_text(r, "llama-3.1-8b")
        async with router(deployment(emu, "replicate")) as r:
            replicate = await r.chat("llama-3-8b", HI)
            _, replicate_streamed = await stream_text(r, "llama-3-8b")
        stats = emu.stats()
    assert emu.log == []
    assert failed_over.deployment == "ollama"
    assert streamed.deployment == "groq"
    assert replicate.text == replicate_streamed.text == EXPECTED
    assert stats.providers["groq"] == ProviderStats(2, 1, {"status": 1})
    assert stats.providers["ollama"] == ProviderStats(1, 1, {})
    assert stats.providers["replicate"] == ProviderStats(2, 2, {})
    assert stats.predictions == 0  # finished predictions are dropped


@pytest.mark.parametrize(
    "fault",
    [
        Fault.truncate(after_tokens=2),
        Fault.error_event(after_tokens=1),
        Fault.reset(after_tokens=2),
        Fault.failed(),
        Fault.cold_boot(polls=50),
    ],
    ids=lambda fault: fault.kind,
)
async def test_without_a_log_failed_predictions_are_dropped(fault: Fault) -> None:
    async with ProviderEmulator(record=False) as emu:
        emu.script("replicate", fault)
        d = deployment(emu, "replicate", cold_boot_timeout=0.05)
        async with router(d) as r:
            failing = (
                r.chat("llama-3-8b", HI) if fault.kind == "failed" else stream_text(r, "llama-3-8b")
            )
            with pytest.raises(LlamaRouterError):
                await failing
        stats = emu.stats()
    assert stats.predictions == 0
    assert stats.providers["replicate"] == ProviderStats(1, 0, {fault.kind: 1})


@pytest.mark.parametrize("record", [True, False])
async def test_a_chooser_gets_the_request_number(record: bool) -> None:
    """0-based, counting every earlier request to the provider (scripted ones too), per
    provider, from 0 again after a reset."""
    numbers: dict[str, list[int]] = {"groq": [], "together": []}

    def chooser(provider: str) -> Callable[[int], Fault | None]:
        def choose(number: int) -> Fault | None:
            numbers[provider].append(number)
            return Fault.http(503) if number == 2 else None

        return choose

    async with ProviderEmulator(record=record) as emu, httpx.AsyncClient() as client:

        async def ask(provider: str) -> int:
            url = emu.url(provider) + CHAT_PATHS[provider]  # type: ignore[arg-type]
            return (await client.post(url, json=chat_body(False))).status_code

        emu.script("groq", Fault.http(429))
        emu.choose_faults("groq", chooser("groq"))
        emu.choose_faults("together", chooser("together"))
        statuses = [await ask(p) for p in ("groq", "together", "groq", "groq", "together", "groq")]
        assert statuses == [429, 200, 200, 503, 200, 200]
        assert numbers == {"groq": [1, 2, 3], "together": [0, 1]}
        emu.reset()
        emu.choose_faults("groq", chooser("groq"))
        assert [await ask("groq"), await ask("groq")] == [200, 200]
        assert numbers["groq"] == [1, 2, 3, 0, 1]
        assert len(emu.log) == (2 if record else 0)


async def test_random_faults_are_seeded_and_near_the_share() -> None:
    async with ProviderEmulator(record=False) as emu, httpx.AsyncClient() as client:
        url = emu.url("ollama") + CHAT_PATHS["ollama"]

        async def run(seed: int) -> list[bool]:
            emu.reset()
            emu.random_faults("ollama", Fault.http(503), 0.1, seed=seed)
            return [
                (await client.post(url, json=chat_body(False))).status_code == 503
                for _ in range(1000)
            ]

        first = await run(seed=1)
        again = await run(seed=1)
        stats = emu.stats()
    assert first == again
    assert 70 <= sum(first) <= 130
    assert stats.providers["ollama"] == ProviderStats(
        1000, 1000 - sum(first), {"status": sum(first)}
    )
    with pytest.raises(ValueError, match="share"):
        emu.random_faults("ollama", Fault.http(503), 1.5)


async def test_a_slow_fault_answers_late_but_in_full(emu: ProviderEmulator) -> None:
    emu.script("groq", Fault.slow(0.2), Fault.slow(0.2))
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=emu.url("groq")) as client:
        started = loop.time()
        reply = await client.post(CHAT_PATHS["groq"], json=chat_body(False))
        waited = loop.time() - started
        _, body = await post_stream(client, "groq")
    assert reply.json()["choices"][0]["message"]["content"] == EXPECTED
    assert waited >= 0.2
    assert streamed_text("groq", body) == (EXPECTED, True)
    streamed = emu.log[1]
    assert streamed.first_write_at is not None
    assert streamed.first_write_at - streamed.at >= 0.2
    assert [r.completed for r in emu.log] == [True, True]
    assert emu.stats().providers["groq"].faults == {"slow": 2}


async def control(client: httpx.AsyncClient, name: str, body: Any = None) -> httpx.Response:
    return await client.post(f"/_emulator/{name}", json=body)


@pytest.fixture
async def controlled(emu: ProviderEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.base_url) as client:
        yield client


async def test_control_behave(emu: ProviderEmulator, controlled: httpx.AsyncClient) -> None:
    answer = await control(
        controlled,
        "behave",
        {
            "provider": "groq",
            "delay_to_headers": 0,
            "ttft": 0.01,
            "tokens_per_second": None,
            "tokens": ["a", "b"],
        },
    )
    assert (answer.status_code, answer.json()) == (200, {"ok": True})
    reply = await controlled.post("/groq" + CHAT_PATHS["groq"], json=chat_body(False))
    assert reply.json()["choices"][0]["message"]["content"] == "ab"

    answer = await control(controlled, "behave", {"provider": "ollama", "token_count": 20})
    assert answer.status_code == 200
    async with httpx.AsyncClient(base_url=emu.url("ollama")) as client:
        _, body = await post_stream(client, "ollama")
    assert streamed_text("ollama", body) == ("".join(f" tok{i}" for i in range(20)), True)


async def test_control_script(emu: ProviderEmulator, controlled: httpx.AsyncClient) -> None:
    faults = [{"kind": "status", "status": 503, "retry_after": 2}, {"kind": "truncate"}]
    answer = await control(controlled, "script", {"provider": "together", "faults": faults})
    assert answer.status_code == 200
    async with httpx.AsyncClient(base_url=emu.url("together")) as client:
        refused = await client.post(CHAT_PATHS["together"], json=chat_body(False))
        _, cut = await post_stream(client, "together")
        _, whole = await post_stream(client, "together")
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "2")
    assert streamed_text("together", cut) == ("Hello", False)  # Fault.truncate()'s default
    assert streamed_text("together", whole) == (EXPECTED, True)
    assert [r.fault for r in emu.log] == [Fault.http(503, retry_after=2), Fault.truncate(), None]


async def test_control_random(emu: ProviderEmulator, controlled: httpx.AsyncClient) -> None:
    body = {"provider": "groq", "share": 1, "seed": 1, "fault": {"kind": "slow", "seconds": 0}}
    assert (await control(controlled, "random", body)).status_code == 200
    for _ in range(3):
        reply = await controlled.post("/groq" + CHAT_PATHS["groq"], json=chat_body(False))
        assert reply.status_code == 200
    assert [r.fault for r in emu.log] == [Fault.slow(0)] * 3


async def test_control_reset_and_stats(
    emu: ProviderEmulator, controlled: httpx.AsyncClient
) -> None:
    await control(controlled, "behave", {"provider": "groq", "tokens": ["x"]})
    await control(controlled, "script", {"provider": "groq", "faults": [{"kind": "status"}]})
    await control(
        controlled, "random", {"provider": "groq", "share": 1, "fault": {"kind": "reset"}}
    )
    first = await controlled.post("/groq" + CHAT_PATHS["groq"], json=chat_body(False))
    assert first.status_code == 503
    stats = (await controlled.get("/_emulator/stats")).json()
    assert stats["connections"] == 1
    assert stats["providers"]["groq"] == {"requests": 1, "completed": 0, "faults": {"status": 1}}
    assert stats["providers"]["ollama"] == {"requests": 0, "completed": 0, "faults": {}}

    assert (await control(controlled, "reset")).json() == {"ok": True}
    after = await controlled.post("/groq" + CHAT_PATHS["groq"], json=chat_body(False))
    assert after.json()["choices"][0]["message"]["content"] == EXPECTED  # no fault, default
    stats = (await controlled.get("/_emulator/stats")).json()
    assert stats["providers"]["groq"] == {"requests": 1, "completed": 1, "faults": {}}
    assert stats["connections"] == 1  # kept across a reset
    assert stats == emu.stats().to_json()
    assert len(emu.log) == 1


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("behave", {"provider": "openai"}, "unknown provider 'openai'"),
        ("behave", {"tokens": ["a"]}, "unknown provider None"),
        ("behave", {"provider": "groq", "colour": "red"}, "unknown behaviour field(s): colour"),
        ("behave", {"provider": "groq", "ttft": -1}, "ttft must be a finite number >= 0"),
        ("behave", {"provider": "groq", "ttft": "1"}, "ttft must be a finite number >= 0"),
        ("behave", {"provider": "groq", "tokens_per_second": 0}, "tokens_per_second must"),
        ("behave", {"provider": "groq", "tokens": "ab"}, "tokens must be an array of strings"),
        ("behave", {"provider": "groq", "tokens": [], "token_count": 2}, "not both"),
        ("behave", {"provider": "groq", "token_count": 10**7}, "token_count must be at most"),
        ("behave", {"provider": "groq", "token_count": 2.5}, "token_count must be an integer"),
        ("script", {"provider": "groq"}, "faults must be an array"),
        ("script", {"provider": "groq", "faults": [{"kind": "boom"}]}, "unknown fault kind"),
        ("script", {"provider": "groq", "faults": [{}]}, "faults[0]: unknown fault kind None"),
        (
            "script",
            {"provider": "groq", "faults": [{"kind": "reset"}, {"kind": "stall", "seconds": -5}]},
            "faults[1]: seconds must be a finite number >= 0",
        ),
        ("script", {"provider": "groq", "faults": [{"kind": "status", "status": 200}]}, "status"),
        ("script", {"provider": "groq", "faults": [{"kind": "reset", "after": 1}]}, "after"),
        (
            "script",
            {"provider": "groq", "faults": [{"kind": "truncate", "after_tokens": 0}]},
            ">= 1",
        ),
        (
            "script",
            {"provider": "groq", "faults": [{"kind": "reset", "after_tokens": True}]},
            "after_tokens must be an integer",
        ),
        ("script", {"provider": "groq", "faults": ["reset"]}, "faults[0]: a fault must be a JSON"),
        ("random", {"provider": "groq", "share": -0.05, "fault": {"kind": "reset"}}, "share"),
        ("random", {"provider": "groq", "share": 2, "fault": {"kind": "reset"}}, "share"),
        ("random", {"provider": "groq", "fault": {"kind": "reset"}}, "share must be a number"),
        ("random", {"provider": "groq", "share": 0.5}, "fault is required"),
        (
            "random",
            {"provider": "groq", "share": 0.5, "seed": "x", "fault": {"kind": "reset"}},
            "seed must be an integer",
        ),
        ("random", {"provider": "groq", "share": 0.5, "fault": {"kind": "x"}}, "fault: unknown"),
        ("reset", {"everything": True}, "unknown reset field(s): everything"),
        ("behave", [1, 2], "the body must be a JSON object"),
        ("script", b"{not json", "the body is not valid JSON"),
        ("random", b"[" * 100_000, "the body is not valid JSON"),
        ("behave", b"\xff\xfe", "the body is not valid JSON"),
    ],
)
async def test_control_rejects_a_bad_body(
    emu: ProviderEmulator, controlled: httpx.AsyncClient, name: str, body: Any, message: str
) -> None:
    if isinstance(body, bytes):
        answer = await controlled.post(f"/_emulator/{name}", content=body)
    else:
        answer = await control(controlled, name, body)
    assert answer.status_code == 400
    assert message in answer.json()["error"]
    # nothing was installed, and the server (and this connection) still serve
    reply = await controlled.post("/groq" + CHAT_PATHS["groq"], json=chat_body(False))
    assert reply.json()["choices"][0]["message"]["content"] == EXPECTED
    assert emu.stats().connections == 1


async def test_control_unknown_endpoint_and_wrong_method(controlled: httpx.AsyncClient) -> None:
    assert (await control(controlled, "explode", {})).status_code == 404
    wrong = await controlled.get("/_emulator/behave")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
    assert (await control(controlled, "stats", {})).status_code == 405


def test_faults_and_behaviours_from_dicts() -> None:
    assert Fault.from_dict({"kind": "stall", "seconds": 5}) == Fault.stall(5)
    assert Fault.from_dict({"kind": "error_event"}) == Fault.error_event()
    assert Fault.from_dict({"kind": "cold_boot"}) == Fault.cold_boot()
    assert Fault.from_dict({"kind": "slow", "seconds": 0.18}) == Fault.slow(0.18)
    assert Behaviour.from_dict({}) == Behaviour()
    assert Behaviour.from_dict({"token_count": 2, "tokens_per_second": 50}) == Behaviour(
        tokens_per_second=50, tokens=(" tok0", " tok1")
    )


@contextlib.contextmanager
def emulator_process(*args: str) -> Iterator[subprocess.Popen[str]]:
    command = [sys.executable, "-m", "llama_router.testing.emulator", *args]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()


async def listening_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = await asyncio.to_thread(process.stdout.readline)
    match = re.fullmatch(r"listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert match, (line, process.stderr.read() if process.stderr else "")
    return match.group(1)


async def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    process.send_signal(signum)
    out, err = await asyncio.to_thread(process.communicate, timeout=30)
    return process.returncode, out, err


async def test_the_command_line_serves_until_sigterm() -> None:
    with emulator_process("--no-record") as process:
        base = await listening_url(process)
        async with httpx.AsyncClient(base_url=base) as client:
            tokens = {"provider": "groq", "tokens": ["Hi", " there"]}
            assert (await control(client, "behave", tokens)).status_code == 200
            d = Deployment(provider="groq", model="llama-3.1-8b", base_url=f"{base}/groq")
            async with router(d) as r:
                reply = await r.chat("llama-3.1-8b", HI)
            stats = (await client.get("/_emulator/stats")).json()
        code, out, err = await stop(process, signal.SIGTERM)
    assert reply.text == "Hi there"
    assert stats["providers"]["groq"] == {"requests": 1, "completed": 1, "faults": {}}
    assert (code, out, err) == (0, "", "")


async def test_the_command_line_pins_to_a_cpu_and_stops_on_sigint() -> None:
    cpu = max(os.sched_getaffinity(0))
    with emulator_process("--cpu", str(cpu), "--port", "0") as process:
        await listening_url(process)
        assert os.sched_getaffinity(process.pid) == {cpu}
        code, out, err = await stop(process, signal.SIGINT)
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_the_command_line_refuses_a_non_loopback_host(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--host", host]) == 2
    assert "loopback" in capsys.readouterr().err
