"""How each provider's replies look on the wire: one frozen dialect object per provider, in
:data:`DIALECTS`. A dialect is pure shape (bytes from values); when to send what is the
business of :mod:`.chat` and :mod:`.replicate`.

Adding an OpenAI-compatible provider is one :class:`OpenAIDialect` (or a subclass with its
extra fields) in :data:`CHAT_DIALECTS`, and its name in :data:`Provider`."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from llama_router.testing.emulator.faults import Fault

Provider = Literal["groq", "together", "llamacpp", "ollama", "replicate"]
PROVIDERS: tuple[Provider, ...] = ("groq", "together", "llamacpp", "ollama", "replicate")

_MODELS = json.dumps(
    {"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}]}
).encode()
_CHUNK_ID = "chatcmpl-emu"
_CREATED_AT = "2026-11-26T00:00:00Z"
_GROQ_TIMES: Mapping[str, float] = MappingProxyType(
    {"queue_time": 0.001, "prompt_time": 0.001, "completion_time": 0.002, "total_time": 0.003}
)


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """The emulator's count of a chat request's prompt tokens (about 4 characters each)."""
    messages = body.get("messages") or []
    chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return chars // 4 + 4 * len(messages)


def error_headers(fault: Fault) -> dict[str, str]:
    """The headers of an error reply for a ``status`` fault."""
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["retry-after"] = f"{fault.retry_after:g}"
    if fault.rate_limit_reset is not None:
        headers.update(
            {
                "x-ratelimit-limit-tokens": "6000",
                "x-ratelimit-remaining-tokens": "0",
                "x-ratelimit-reset-tokens": fault.rate_limit_reset,
            }
        )
    return headers


@dataclass(frozen=True, slots=True)
class Dialect:
    """What every provider has: its error body, its rate-limit headers on a success and its
    fixed GET routes (health, model lists)."""

    name: str
    rate_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    gets: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))
    """Fixed replies to GET, by path under the provider's prefix."""

    def error_body(self, status: int) -> bytes:
        kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status, "server_error")
        return json.dumps(
            {"error": {"message": f"emulated error {status}", "type": kind, "code": kind}}
        ).encode()

    def get_reply(self, rest: str) -> bytes | None:
        """The ``200`` body for a GET of ``rest``, if it is a fixed route."""
        body = self.gets.get(rest)
        if body is None and rest.endswith("/models"):
            return _MODELS
        return body


@dataclass(frozen=True, slots=True)
class ChatDialect(Dialect):
    """A provider answering chat requests, whole or as a stream of chunks."""

    stream_by_default: bool = False
    stream_type: str = "text/event-stream"
    malformed_chunk: bytes = b'data: {"choices": [ {\n\n'
    """A stream chunk that is not valid JSON."""

    def chunk(self, model: str, token: str) -> bytes:
        """The stream chunk carrying ``token``."""
        raise NotImplementedError

    def final(self, model: str, usage: tuple[int, int], include_usage: bool) -> bytes:
        """What ends a complete stream (after the last token)."""
        raise NotImplementedError

    def stream_error(self, status: int) -> bytes:
        """An error inside an HTTP 200 stream."""
        raise NotImplementedError

    def reply(self, model: str, tokens: tuple[str, ...], prompt: int) -> bytes:
        """A whole (non-streaming) answer."""
        raise NotImplementedError


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _chunk_head(model: str) -> dict[str, Any]:
    return {"id": _CHUNK_ID, "object": "chat.completion.chunk", "created": 1, "model": model}


@dataclass(frozen=True, slots=True)
class OpenAIDialect(ChatDialect):
    """OpenAI's chat completions, with server-sent events; subclasses add their fields."""

    finish_reason: str = "stop"
    """In the final stream chunk."""
    null_usage_in_chunks: bool = False
    """Each token's chunk says ``"usage": null``."""
    usage_chunk: bool = True
    """With ``stream_options``, a last chunk has the usage."""

    def chunk(self, model: str, token: str) -> bytes:
        chunk = _chunk_head(model)
        chunk["choices"] = [{"index": 0, "delta": {"content": token}, "finish_reason": None}]
        if self.null_usage_in_chunks:
            chunk["usage"] = None
        return _sse(chunk)

    def final(self, model: str, usage: tuple[int, int], include_usage: bool) -> bytes:
        counts = _usage(*usage)
        chunk = _chunk_head(model)
        chunk["choices"] = [{"index": 0, "delta": {}, "finish_reason": self.finish_reason}]
        self._final_fields(chunk, counts)
        out = _sse(chunk)
        if include_usage and self.usage_chunk:
            out += _sse({**_chunk_head(model), "choices": [], "usage": counts})
        return out + b"data: [DONE]\n\n"

    def _final_fields(self, chunk: dict[str, Any], counts: dict[str, Any]) -> None:
        """Add this provider's fields to the final chunk."""

    def stream_error(self, status: int) -> bytes:
        return _sse(
            {"error": {"code": status, "message": "emulated failure", "type": "server_error"}}
        )

    def reply(self, model: str, tokens: tuple[str, ...], prompt: int) -> bytes:
        text = "".join(tokens)
        reply: dict[str, Any] = {
            "id": _CHUNK_ID,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": text},
                }
            ],
            "usage": _usage(prompt, len(tokens)),
        }
        self._reply_fields(reply, len(tokens))
        return json.dumps(reply).encode()

    def _reply_fields(self, reply: dict[str, Any], completion: int) -> None:
        """Add this provider's fields to a whole answer."""


@dataclass(frozen=True, slots=True)
class GroqDialect(OpenAIDialect):
    """Groq: timings in ``usage`` and ``x_groq`` (docs: providers.md 2.3)."""

    def _final_fields(self, chunk: dict[str, Any], counts: dict[str, Any]) -> None:
        chunk["x_groq"] = {"id": "req_emu", "usage": {**counts, **_GROQ_TIMES}}

    def _reply_fields(self, reply: dict[str, Any], completion: int) -> None:
        reply["usage"].update(_GROQ_TIMES)
        reply.update(system_fingerprint="fp_emu", service_tier="on_demand")
        reply["x_groq"] = {"id": "req_emu"}


@dataclass(frozen=True, slots=True)
class TogetherDialect(OpenAIDialect):
    """Together: the usage in the final stream chunk."""

    def _final_fields(self, chunk: dict[str, Any], counts: dict[str, Any]) -> None:
        chunk["usage"] = counts


@dataclass(frozen=True, slots=True)
class LlamaCppDialect(OpenAIDialect):
    """llama.cpp's server: ``timings``."""

    def _final_fields(self, chunk: dict[str, Any], counts: dict[str, Any]) -> None:
        completion = counts["completion_tokens"]
        chunk["timings"] = {  # the real server also sends cache_n (PR #15827)
            "cache_n": 0,
            "prompt_n": counts["prompt_tokens"],
            "prompt_ms": 1.0,
            "predicted_n": completion,
            "predicted_ms": 2.0,
            "predicted_per_second": completion / 0.002,
        }

    def _reply_fields(self, reply: dict[str, Any], completion: int) -> None:
        reply["timings"] = {
            "prompt_ms": 1.0,
            "predicted_ms": 2.0,
            "predicted_per_second": completion / 0.002,
        }


@dataclass(frozen=True, slots=True)
class OllamaDialect(ChatDialect):
    """Ollama's ``/api/chat``: newline-delimited JSON, streaming unless told not to."""

    def error_body(self, status: int) -> bytes:
        return json.dumps({"error": f"emulated error {status}"}).encode()

    def chunk(self, model: str, token: str) -> bytes:
        line = {
            "model": model,
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": token},
            "done": False,
        }
        return json.dumps(line).encode() + b"\n"

    def final(self, model: str, usage: tuple[int, int], include_usage: bool) -> bytes:
        return self._done(model, "", *usage) + b"\n"

    def stream_error(self, status: int) -> bytes:
        return json.dumps({"error": "emulated failure mid-stream"}).encode() + b"\n"

    def reply(self, model: str, tokens: tuple[str, ...], prompt: int) -> bytes:
        return self._done(model, "".join(tokens), prompt, len(tokens))

    @staticmethod
    def _done(model: str, content: str, prompt: int, completion: int) -> bytes:
        done = {
            "model": model,
            "created_at": _CREATED_AT,
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 5_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 1_000_000,
            "eval_count": completion,
            "eval_duration": 3_000_000,
        }
        return json.dumps(done).encode()


@dataclass(frozen=True, slots=True)
class ReplicateDialect(Dialect):
    """Replicate's predictions API: prediction objects and server-sent output events."""

    done_event: bytes = b"event: done\ndata: {}\n\n"
    error_events: bytes = (
        b'event: error\ndata: {"detail": "model crashed"}\n\n'
        b'event: done\ndata: {"reason": "error"}\n\n'
    )
    """A prediction that failed mid-stream."""

    def error_body(self, status: int) -> bytes:
        return json.dumps({"detail": f"emulated error {status}", "status": status}).encode()

    @staticmethod
    def output_event(index: int, token: str) -> bytes:
        return f"event: output\nid: {index}\ndata: {token}\n\n".encode()

    @staticmethod
    def prediction(
        base: str, key: str, status: str, inputs: Any, tokens: tuple[str, ...], prompt: int
    ) -> dict[str, Any]:
        """The prediction object, served under ``base``, in ``status``."""
        done = status == "succeeded"
        return {
            "id": key,
            "model": "meta/meta-llama-3-8b-instruct",
            "version": "v1",
            "status": status,
            "input": inputs,
            "output": list(tokens) if done else None,
            "error": "CUDA out of memory" if status == "failed" else None,
            "metrics": {
                "predict_time": 0.5,
                "total_time": 0.6,
                "input_token_count": prompt,
                "output_token_count": len(tokens),
            }
            if done
            else {},
            "urls": {
                "get": f"{base}/v1/predictions/{key}",
                "cancel": f"{base}/v1/predictions/{key}/cancel",
                "stream": f"{base}/stream/{key}",
            },
        }


_OLLAMA_MODELS = json.dumps(
    {
        "models": [
            {
                "name": "llama3.1:8b",
                "model": "llama3.1:8b",
                "size": 1,
                "digest": "d",
                "modified_at": "2026-11-01T00:00:00Z",
                "expires_at": "2026-12-01T00:00:00Z",
                "size_vram": 1,
                "details": {"family": "llama"},
            }
        ]
    }
).encode()

CHAT_DIALECTS: Mapping[str, ChatDialect] = MappingProxyType(
    {
        "groq": GroqDialect(
            "groq",
            rate_headers=MappingProxyType(
                {
                    "x-ratelimit-limit-requests": "14400",
                    "x-ratelimit-remaining-requests": "14399",
                    "x-ratelimit-reset-requests": "6s",
                    "x-ratelimit-limit-tokens": "6000",
                    "x-ratelimit-remaining-tokens": "5900",
                    "x-ratelimit-reset-tokens": "1s",
                }
            ),
            usage_chunk=False,
        ),
        "together": TogetherDialect(
            "together",
            rate_headers=MappingProxyType(
                {
                    "x-ratelimit-limit": "10",
                    "x-ratelimit-remaining": "9",
                    "x-ratelimit-reset": "1",
                    "x-tokenlimit-limit": "2000",
                    "x-tokenlimit-remaining": "1900",
                }
            ),
            finish_reason="eos",
            null_usage_in_chunks=True,
        ),
        "llamacpp": LlamaCppDialect(
            "llamacpp", gets=MappingProxyType({"/health": b'{"status": "ok"}'})
        ),
        "ollama": OllamaDialect(
            "ollama",
            gets=MappingProxyType({"/api/tags": _OLLAMA_MODELS, "/api/ps": _OLLAMA_MODELS}),
            stream_by_default=True,
            stream_type="application/x-ndjson",
            malformed_chunk=b'{"message": \n',
        ),
    }
)
"""The providers that answer chat requests, by name."""

REPLICATE = ReplicateDialect(
    "replicate", gets=MappingProxyType({"/v1/account": b'{"type": "user", "username": "emulator"}'})
)

DIALECTS: Mapping[str, Dialect] = MappingProxyType({**CHAT_DIALECTS, REPLICATE.name: REPLICATE})
"""Every provider's dialect, by name (the names of :data:`PROVIDERS`, in that order)."""
