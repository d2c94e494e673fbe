"""The emulator's package layout: one frozen dialect per provider, the wire shapes each
dialect writes, and the names and command the old single module offered."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from llama_router.testing.emulator.chat import CHAT_PATHS
from llama_router.testing.emulator.dialects import (
    CHAT_DIALECTS,
    DIALECTS,
    PROVIDERS,
    REPLICATE,
    ChatDialect,
    OpenAIDialect,
)


def test_every_provider_has_one_dialect_named_for_it() -> None:
    assert tuple(DIALECTS) == PROVIDERS
    assert all(dialect.name == name for name, dialect in DIALECTS.items())
    assert {*CHAT_DIALECTS, REPLICATE.name} == set(PROVIDERS)


def test_dialects_and_their_registry_cannot_change() -> None:
    for dialect in DIALECTS.values():
        with pytest.raises(dataclasses.FrozenInstanceError):
            dialect.name = "other"  # type: ignore[misc]
        with pytest.raises(TypeError):
            dialect.rate_headers["x"] = "y"  # type: ignore[index]
    with pytest.raises(TypeError):
        DIALECTS["other"] = REPLICATE  # type: ignore[index]


def events(data: bytes) -> list[Any]:
    """The JSON values of an SSE body (``[DONE]`` as the string)."""
    out: list[Any] = []
    for line in data.decode().splitlines():
        if line.startswith("data: "):
            payload = line.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


@pytest.mark.parametrize("name", list(CHAT_DIALECTS))
def test_each_chat_dialect_writes_valid_replies_and_chunks(name: str) -> None:
    dialect = CHAT_DIALECTS[name]
    reply = json.loads(dialect.reply("m", ("Hi", " there"), 7))
    chunk = dialect.chunk("m", "Hi")
    final = dialect.final("m", (7, 2), include_usage=True)
    if isinstance(dialect, OpenAIDialect):
        assert reply["choices"][0]["message"]["content"] == "Hi there"
        assert reply["usage"]["total_tokens"] == 9
        [delta] = events(chunk)
        assert delta["choices"][0]["delta"] == {"content": "Hi"}
        assert events(final)[-1] == "[DONE]"
        assert events(dialect.stream_error(500))[0]["error"]["code"] == 500
    else:
        assert reply["message"]["content"] == "Hi there"
        assert json.loads(chunk)["message"]["content"] == "Hi"
        assert json.loads(final)["done"] is True
        assert "error" in json.loads(dialect.stream_error(500))
        assert chunk.endswith(b"\n")
        assert final.endswith(b"\n")
    with pytest.raises(json.JSONDecodeError):
        json.loads(dialect.malformed_chunk.removeprefix(b"data: "))


def test_the_provider_specific_fields() -> None:
    groq, together, llamacpp = (CHAT_DIALECTS[n] for n in ("groq", "together", "llamacpp"))
    # Groq: usage in x_groq, never a separate usage chunk
    groq_final = events(groq.final("m", (3, 2), include_usage=True))
    assert len(groq_final) == 2
    assert groq_final[0]["x_groq"]["usage"]["total_tokens"] == 5
    # Together: "usage": null in each chunk, "eos", the usage in the final chunk
    assert events(together.chunk("m", "a"))[0]["usage"] is None
    together_final = events(together.final("m", (3, 2), include_usage=False))
    assert together_final[0]["choices"][0]["finish_reason"] == "eos"
    assert together_final[0]["usage"]["completion_tokens"] == 2
    # llama.cpp: timings
    assert json.loads(llamacpp.reply("m", ("a",), 1))["timings"]["predicted_ms"] == 2.0
    assert llamacpp.get_reply("/health") == b'{"status": "ok"}'


def test_error_bodies_are_each_providers_own() -> None:
    assert json.loads(DIALECTS["groq"].error_body(429))["error"]["type"] == "rate_limit_exceeded"
    assert json.loads(DIALECTS["ollama"].error_body(503)) == {"error": "emulated error 503"}
    assert json.loads(REPLICATE.error_body(422))["status"] == 422


def test_every_chat_dialect_is_a_chat_dialect_and_takes_the_same_paths() -> None:
    assert all(isinstance(d, ChatDialect) for d in CHAT_DIALECTS.values())
    assert "/api/chat" in CHAT_PATHS
    assert "/openai/v1/chat/completions" in CHAT_PATHS


def test_the_old_modules_names_still_import() -> None:
    from llama_router.testing import emulator

    assert emulator.__all__ == [
        "Behaviour",
        "EmulatorStats",
        "Fault",
        "LoggedRequest",
        "ProviderEmulator",
        "ProviderStats",
        "main",
    ]
    for name in (
        "CONTROL_PREFIX",
        "FAULT_KINDS",
        "LOOPBACK",
        "MAX_TOKEN_COUNT",
        "PROVIDERS",
        "FaultKind",
        "Provider",
        *emulator.__all__,
    ):
        assert hasattr(emulator, name), name
    assert emulator.CONTROL_PREFIX == "/_emulator/"
    assert emulator.PROVIDERS == PROVIDERS


def test_python_m_runs_the_command_without_warnings() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "llama_router.testing.emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("usage: python -m llama_router.testing.emulator")
