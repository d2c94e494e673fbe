"""Replicate's predictions API, for Meta's official Llama 3 models.

Replicate has no chat schema: the conversation becomes ``prompt`` (+ ``system_prompt``) for a
single user turn, or one rendered Llama 3 prompt with ``prompt_template="{prompt}"`` for a
longer dialogue. ``stop`` becomes Replicate's comma-separated ``stop_sequences``.

* Non-streaming: create with ``Prefer: wait=N``; if the prediction is not finished in time,
  poll ``urls.get`` while it is ``starting`` / ``processing``.
* Streaming: create without waiting and read the SSE stream at ``urls.stream`` (events
  ``output`` / ``error`` / ``done``); usage is never streamed, so after ``done`` we fetch the
  prediction (re-polled up to 3 more times while it still says ``processing``) and read
  ``metrics`` (token counts there are **unconfirmed** fields, treated
  as optional).
* ``status: "failed"`` arrives with an HTTP success code: we check the status, not the code.
* Cold boot: a prediction in ``starting`` is a cold boot. With ``cold_boot_timeout`` set, a
  prediction still starting after that many seconds is cancelled and
  :class:`ColdStartError` is raised, so the router can fail over instead of waiting.

The ``replicate`` SDK builds the authenticated client (token, base URL, the router's shared
transport); we turn its retry layer off (the router owns retries) and send the calls
ourselves on that client, because the SDK's ``ReplicateError`` drops the response headers
(``Retry-After``) and its stream iterator makes one object per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

import httpx

from llama_router.backends.base import (
    Backend,
    BackendResult,
    HealthReport,
    StreamItem,
    count_field,
    drain,
    error_for_response,
    error_for_status,
    error_from_httpx,
    require_sdk,
    seconds_field,
)
from llama_router.backends.openai_wire import sampling_fields
from llama_router.deployments import Target
from llama_router.exceptions import (
    ColdStartError,
    ProviderError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    StreamInterruptedError,
    UnsupportedFeatureError,
)
from llama_router.llama3_prompt import render_llama3_prompt
from llama_router.messages import ChatRequest
from llama_router.provenance import Provenance, clean_id, provenance_from_headers
from llama_router.providers import ReplicateOptions
from llama_router.ratelimits import parse_rate_limits
from llama_router.responses import FinishReason, ProviderTimings, TextDelta, Usage
from llama_router.transport import HttpPool

__all__ = ["ReplicateBackend", "build_replicate_input"]

_RUNNING = frozenset({"starting", "processing"})
_SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-store"}


def build_replicate_input(request: ChatRequest) -> dict[str, Any]:
    """The ``input`` object of a prediction for Meta's Llama 3 instruct models."""
    messages = request.messages
    systems = [m for m in messages if m.role == "system"]
    turns = [m for m in messages if m.role != "system"]
    data: dict[str, Any]
    if len(turns) == 1 and turns[0].role == "user" and len(systems) <= 1:
        data = {"prompt": turns[0].content}
        if systems:
            data["system_prompt"] = systems[0].content
    else:
        data = {"prompt": render_llama3_prompt(messages), "prompt_template": "{prompt}"}
    sampling = sampling_fields(request.settings)
    sampling.pop("seed", None)  # refused by check_supported: unconfirmed on these models
    stop = sampling.pop("stop", None)
    data.update(sampling)
    if stop:
        data["stop_sequences"] = ",".join(stop)
    return data


_float = seconds_field


def _has_counts(prediction: dict[str, Any]) -> bool:
    """Whether the prediction's ``metrics`` carry its token counts yet."""
    metrics = prediction.get("metrics")
    return isinstance(metrics, dict) and (
        "output_token_count" in metrics or "input_token_count" in metrics
    )


def _boot_seconds(prediction: dict[str, Any]) -> float | None:
    """Queue and boot time from ``metrics``: ``total_time - predict_time``."""
    metrics = prediction.get("metrics")
    if not isinstance(metrics, dict):
        return None
    total, predict = _float(metrics.get("total_time")), _float(metrics.get("predict_time"))
    if total is None or predict is None:
        return None
    return max(total - predict, 0.0)


@dataclasses.dataclass(slots=True)
class _Reply:
    """The headers of the create call's reply (rate limits), filled by :meth:`_send`."""

    headers: httpx.Headers | None = None


def _prediction_provenance(prediction: dict[str, Any], reply: _Reply | None) -> Provenance:
    """The prediction's ``id`` is Replicate's request id (``GET /v1/predictions/{id}``)."""
    own = Provenance(request_id=clean_id(prediction.get("id")))
    return own.or_else(provenance_from_headers(reply.headers if reply else None))


class ReplicateBackend(Backend):
    provider = "replicate"  # no JSON mode, tools or seed: see its ProviderSpec

    def __init__(
        self,
        target: Target,
        http: HttpPool,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(target, http, clock=clock)
        self._sdk = require_sdk("replicate", "replicate")
        base_url = target.base_url.rstrip("/") if target.base_url else None
        if base_url is not None and base_url.endswith("/v1"):
            base_url = base_url[:-3]
        token = target.api_key.get_secret_value() if target.api_key is not None else None
        self._client: Any = self._sdk.Client(
            api_token=token,
            base_url=base_url,
            timeout=httpx.Timeout(target.timeout, connect=target.connect_timeout),
            transport=http.transport,
        )
        self._http: httpx.AsyncClient = self._client._async_client
        retry = getattr(self._http, "_transport", None)
        if isinstance(retry, self._sdk.client.RetryTransport):
            retry.max_attempts = 1  # the router owns retries
        options = target.options_as(ReplicateOptions)
        self.wait = options.replicate_wait
        self.poll_interval = options.poll_interval
        self.cold_boot_timeout = options.cold_boot_timeout
        self.metrics_polls = 3
        """GETs after the first one while a streamed prediction's metrics are missing."""
        model_id = target.model_id
        if ":" in model_id:  # owner/name:version pins a version
            self._create_path = "/v1/predictions"
            self._version: str | None = model_id.split(":", 1)[1]
        else:
            self._create_path = f"/v1/models/{model_id}/predictions"
            self._version = None

    def check_supported(self, request: ChatRequest) -> None:
        super().check_supported(request)
        if any("," in stop for stop in request.settings.stop):
            raise UnsupportedFeatureError(
                "Replicate takes stop sequences as one comma-separated string, so a stop "
                "sequence cannot contain a comma; drop that stop sequence or use another "
                "provider.",
                provider=self.provider,
                feature="stop sequence with a comma",
            )

    def _map_error(self, exc: Exception) -> ProviderError | None:
        name = self.target.name
        if isinstance(exc, self._sdk.exceptions.ReplicateError):
            body = {"detail": exc.detail or exc.title or "Replicate error"}
            return error_for_status(exc.status, body, provider=self.provider, deployment=name)
        if isinstance(exc, httpx.HTTPError):
            return error_from_httpx(exc, provider=self.provider, deployment=name)
        return None

    async def _send(
        self, method: str, url: str, *, reply: _Reply | None = None, **kw: Any
    ) -> dict[str, Any]:
        response = await self._http.request(method, url, **kw)
        if reply is not None:
            reply.headers = response.headers
        if response.status_code >= 400:
            raise error_for_response(response, provider=self.provider, deployment=self.target.name)
        data = self._json(response)
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise self._malformed("reply is not a prediction object (no status)")
        return data

    async def _create(
        self,
        request: ChatRequest,
        *,
        wait: int | None,
        reply: _Reply | None = None,
        stream: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"input": build_replicate_input(request)}
        if self._version is not None:
            body["version"] = self._version
        if stream:  # as the official SDK's stream(): the model may refuse a stream otherwise
            body["stream"] = True
        headers = {"Prefer": f"wait={wait}"} if wait else None
        # With Prefer: wait the server holds the call open up to ``wait`` seconds.
        timeout = httpx.Timeout(
            self.target.timeout + (wait or 0), connect=self.target.connect_timeout
        )
        return await self._send(
            "POST", self._create_path, json=body, headers=headers, timeout=timeout, reply=reply
        )

    async def _final(self, prediction: dict[str, Any]) -> dict[str, Any]:
        """The prediction after its stream's ``done``, for its ``metrics``. Replicate may still
        say ``processing`` (no metrics yet) right after ``done``: up to
        :attr:`metrics_polls` more GETs, ``poll_interval`` apart. If the counts never come,
        the result's usage says ``known=False``."""
        url = self._get_url(prediction)
        final = await self._send("GET", url)
        for _ in range(self.metrics_polls):
            if final["status"] not in _RUNNING and _has_counts(final):
                break
            if final["status"] not in _RUNNING and final["status"] != "succeeded":
                break  # failed / canceled: no metrics will come
            await asyncio.sleep(self.poll_interval)
            final = await self._send("GET", url)
        return final

    def _get_url(self, prediction: dict[str, Any]) -> str:
        urls = prediction.get("urls")
        url = urls.get("get") if isinstance(urls, dict) else None
        if isinstance(url, str):
            return url
        return f"/v1/predictions/{prediction.get('id')}"

    async def _poll(
        self, prediction: dict[str, Any], *, until_started: bool
    ) -> tuple[dict[str, Any], float | None]:
        """Poll until terminal (or, with ``until_started``, until it leaves ``starting``).

        Returns the prediction and, when it began in ``starting``, the seconds until it was
        first seen past it (the cold boot, as far as polling can tell)."""
        clock = self._clock
        started = clock()
        boot_s: float | None = None
        cold = prediction["status"] == "starting"
        while prediction["status"] in _RUNNING:
            if cold and boot_s is None and prediction["status"] != "starting":
                boot_s = clock() - started
            if until_started and prediction["status"] != "starting":
                break
            if (
                prediction["status"] == "starting"
                and self.cold_boot_timeout is not None
                and clock() - started >= self.cold_boot_timeout
            ):
                await self._cancel(prediction)
                raise ColdStartError(
                    f"prediction still starting (cold boot) after {self.cold_boot_timeout:g} s; "
                    "cancelled",
                    provider=self.provider,
                    deployment=self.target.name,
                )
            await asyncio.sleep(self.poll_interval)
            prediction = await self._send("GET", self._get_url(prediction))
        if cold and boot_s is None:
            boot_s = clock() - started
        return prediction, boot_s

    async def _cancel(self, prediction: dict[str, Any]) -> None:
        urls = prediction.get("urls")
        url = urls.get("cancel") if isinstance(urls, dict) else None
        target = url if isinstance(url, str) else f"/v1/predictions/{prediction.get('id')}/cancel"
        with contextlib.suppress(httpx.HTTPError):  # best effort: it expires on its own
            await self._http.post(target)

    def _check_terminal(self, prediction: dict[str, Any]) -> None:
        status = prediction["status"]
        if status == "succeeded":
            return
        detail = prediction.get("error") or f"prediction {status}"
        raise ProviderUnavailableError(
            f"prediction {status}: {str(detail)[:500]}",
            provider=self.provider,
            deployment=self.target.name,
            provenance=_prediction_provenance(prediction, None),
        )

    @staticmethod
    def _with_reply(
        result: BackendResult, prediction: dict[str, Any], reply: _Reply
    ) -> BackendResult:
        """``result`` with the prediction's id and the create reply's rate-limit headers
        (``ratelimit-*``, ``retry-after``; Replicate documents none, so all optional)."""
        limits = parse_rate_limits(reply.headers) if reply.headers is not None else None
        return dataclasses.replace(
            result,
            rate_limits=None if limits is None or limits.is_empty else limits,
            provenance=_prediction_provenance(prediction, reply),
        )

    def _result(
        self, prediction: dict[str, Any], text: str, request: ChatRequest, load_s: float | None
    ) -> BackendResult:
        metrics = prediction.get("metrics")
        metrics = metrics if isinstance(metrics, dict) else {}
        out_tokens = metrics.get("output_token_count")
        in_tokens = metrics.get("input_token_count")
        known = _has_counts(prediction)
        completion = count_field(out_tokens)
        cap = request.settings.max_tokens
        finish: FinishReason = "length" if cap is not None and completion >= cap else "stop"
        model = prediction.get("model")
        return BackendResult(
            text=text,
            finish_reason=finish,
            usage=Usage(
                prompt_tokens=count_field(in_tokens),
                completion_tokens=completion,
                known=known,  # no counts reported: unknown, never a silent 0/0
            ),
            timings=ProviderTimings(
                load_s=load_s,
                generation_s=_float(metrics.get("predict_time")),
                total_s=_float(metrics.get("total_time")),
                time_to_first_token_s=_float(metrics.get("time_to_first_token")),
                output_tokens_per_second=_float(metrics.get("tokens_per_second")),
            ),
            provider_model=model if isinstance(model, str) else None,
        )

    async def chat(self, request: ChatRequest) -> BackendResult:
        reply = _Reply()
        with self._mapped_errors():
            created = await self._create(request, wait=self.wait, reply=reply)
            prediction, load_s = await self._poll(created, until_started=False)
            self._check_terminal(prediction)
            output = prediction.get("output")
            if isinstance(output, list):
                text = "".join(str(part) for part in output)
            elif isinstance(output, str):
                text = output
            else:
                raise self._malformed("succeeded prediction has no text output")
            return self._with_reply(
                self._result(prediction, text, request, load_s), prediction, reply
            )

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        parts: list[str] = []
        reply = _Reply()
        with self._mapped_errors():
            prediction = await self._create(request, wait=None, reply=reply, stream=True)
            cold = prediction["status"] == "starting"
            load_s: float | None = None
            if cold and self.cold_boot_timeout is not None:
                prediction, load_s = await self._poll(prediction, until_started=True)
            if prediction["status"] not in _RUNNING:
                self._check_terminal(prediction)
            urls = prediction.get("urls")
            stream_url = urls.get("stream") if isinstance(urls, dict) else None
            if not isinstance(stream_url, str):
                raise self._malformed("prediction has no urls.stream (model cannot stream)")
            async with self._http.stream("GET", stream_url, headers=_SSE_HEADERS) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise error_for_response(
                        response, provider=self.provider, deployment=self.target.name
                    )
                lines = response.aiter_lines()
                async for text in self._sse_output(lines, parts):
                    yield TextDelta(text)
                await drain(lines)  # the end of the body, so the connection is reused
            final = await self._final(prediction)
            if final["status"] not in _RUNNING:
                self._check_terminal(final)  # failed after its output events: not an answer
            if cold and load_s is None:
                load_s = _boot_seconds(final)
            yield self._with_reply(
                self._result(final, "".join(parts), request, load_s), final, reply
            )

    async def _sse_output(self, lines: AsyncIterator[str], parts: list[str]) -> AsyncIterator[str]:
        """The text of ``output`` events until ``done``; errors raise."""
        event = "message"
        data: list[str] = []
        async for line in lines:
            if line:
                if line[0] == ":":
                    if line.startswith(":408"):  # the stream's own 30 s timeout
                        raise ProviderTimeoutError(
                            "Replicate closed the stream: 408 Request Timeout",
                            provider=self.provider,
                            deployment=self.target.name,
                        )
                    continue
                field, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)
                continue
            # A blank line dispatches the event.
            if event == "output":
                text = "\n".join(data)
                if text:
                    parts.append(text)
                    yield text
            elif event == "error":
                raise error_for_status(
                    None, "\n".join(data), provider=self.provider, deployment=self.target.name
                )
            elif event == "done":
                self._check_done("\n".join(data))
                return
            event, data = "message", []
        if event == "done":  # a final event without its blank line
            self._check_done("\n".join(data))
            return
        raise StreamInterruptedError(
            "the stream ended before its done event (truncated)",
            provider=self.provider,
            deployment=self.target.name,
            partial_text="".join(parts),
        )

    def _check_done(self, payload: str) -> None:
        try:
            info = json.loads(payload) if payload.strip() else {}
        except (ValueError, RecursionError) as exc:
            raise self._malformed(f"done event is not JSON: {payload[:200]!r}") from exc
        reason = info.get("reason") if isinstance(info, dict) else None
        if reason:
            raise ProviderUnavailableError(
                f"prediction ended with reason {reason!r}",
                provider=self.provider,
                deployment=self.target.name,
            )

    async def health(self) -> HealthReport:
        """``GET /v1/account``: is the token valid and the API reachable?"""
        try:
            with self._mapped_errors():
                await self._client.accounts.async_current()
        except ProviderError as exc:
            return HealthReport(ok=False, detail=f"{type(exc).__name__}: {exc.message}")
        return HealthReport(ok=True, detail="GET /v1/account: ok")
