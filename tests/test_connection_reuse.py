"""Streams leave their connection in the pool: a stream read to its ``[DONE]`` also reads the
end of the chunked body, so the next request reuses the connection instead of paying a new
TCP (and, against a real provider, TLS) handshake."""

from __future__ import annotations

import pytest

from llama_router import Deployment, Router, StreamInterruptedError
from llama_router.testing.emulator import Behaviour, Fault, ProviderEmulator

HI = [{"role": "user", "content": "Say hi."}]
KEYS = {
    "GROQ_API_KEY": "gsk_TESTKEY_reuse_0123456789",
    "TOGETHER_API_KEY": "tg_TESTKEY_reuse",
    "REPLICATE_API_TOKEN": "r8_TESTKEY_reuse",
}


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
@pytest.mark.parametrize("provider", ["groq", "together", "llamacpp", "ollama", "replicate"])
async def test_consecutive_streams_share_one_connection(provider: str, transport: str) -> None:
    if transport == "aiohttp":
        pytest.importorskip("httpx_aiohttp")
    async with ProviderEmulator(record=False) as emu:
        emu.behave(provider, Behaviour(tokens=("a", "b", "c")))  # type: ignore[arg-type]
        model = "llama-3-8b" if provider == "replicate" else "llama-3.1-8b"
        router = Router(
            # A set window: no one-time /props or /api/ps discovery on a second connection.
            [
                Deployment(
                    provider=provider,  # type: ignore[arg-type]
                    model=model,
                    base_url=emu.url(provider),
                    context_window=8192,
                )
            ],
            env=KEYS,
            transport=transport,  # type: ignore[arg-type]
        )
        async with router:
            for _ in range(5):
                async with router.stream(model, HI) as stream:
                    assert (await stream.get_response()).text == "abc"
            await router.chat(model, HI)
        assert emu.stats().connections == 1


async def test_a_connection_broken_mid_stream_is_replaced() -> None:
    async with ProviderEmulator(record=False) as emu:
        emu.script("groq", Fault.reset(after_tokens=2))
        router = Router(
            [Deployment(provider="groq", model="llama-3.1-8b", base_url=emu.url("groq"))],
            env=KEYS,
        )
        async with router:
            with pytest.raises(StreamInterruptedError):
                async with router.stream("llama-3.1-8b", HI) as stream:
                    await stream.get_response()
            async with router.stream("llama-3.1-8b", HI) as stream:
                assert (await stream.get_response()).text
        assert emu.stats().connections == 2
