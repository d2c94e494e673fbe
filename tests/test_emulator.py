"""The provider emulator, driven through the real backends (and so the official SDKs):
each wire format answers correctly, and each fault reaches the router as the typed error
the real provider's fault would."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llama_router import (
    ColdStartError,
    Deployment,
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
from llama_router.testing.emulator import Behaviour, Fault, ProviderEmulator

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
    assert response.route[0].error == "ProviderTimeoutError"


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
