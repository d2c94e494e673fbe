"""A custom provider through the public API: registered with ``register_provider``, routed
to by a Router, failed over from like any built-in one. The example in
``docs/custom-backends.md`` runs as pasted."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import pytest

from llama_router import (
    ChatRequest,
    ConfigurationError,
    Deployment,
    ProviderOptions,
    ProviderSpec,
    ProviderUnavailableError,
    Router,
    register_provider,
    unregister_provider,
)
from llama_router.backends import Backend, BackendResult, Capabilities, StreamItem
from llama_router.responses import TextDelta, Usage

DOC = Path(__file__).parents[1] / "docs" / "custom-backends.md"
MODEL = "llama-3.1-8b"
MESSAGES = [{"role": "user", "content": "ping"}]


class ShoutOptions(ProviderOptions):
    """A provider-only setting, to check that custom options flow like built-in ones."""

    suffix: str = "!"


class ShoutBackend(Backend):
    provider = "shout"

    async def chat(self, request: ChatRequest) -> BackendResult:
        suffix = self.target.options_as(ShoutOptions).suffix
        return BackendResult(request.messages[-1].content.upper() + suffix, "stop", Usage())

    async def stream(self, request: ChatRequest) -> AsyncGenerator[StreamItem, None]:
        result = await self.chat(request)
        yield TextDelta(result.text)
        yield result


class DownBackend(ShoutBackend):
    provider = "down"

    async def chat(self, request: ChatRequest) -> BackendResult:
        raise ProviderUnavailableError("503", provider=self.provider, deployment=self.target.name)


@pytest.fixture
def custom_providers() -> Iterator[None]:
    register_provider(
        ProviderSpec(name="shout", locality="local", any_model=True, options=ShoutOptions),
        ShoutBackend,
    )
    register_provider(
        ProviderSpec(
            name="down",
            key_env="DOWN_API_KEY",
            key_required=True,
            capabilities=Capabilities(seed=False),
        ),
        f"{__name__}:DownBackend",  # imported on first use, like the built-ins
    )
    yield
    unregister_provider("shout")
    unregister_provider("down")


async def test_a_registered_provider_is_routed_to_and_failed_over_from(
    custom_providers: None,
) -> None:
    deployments = [
        Deployment(provider="down", model=MODEL, model_id="down-8b", name="down"),
        Deployment(provider="shout", model=MODEL, suffix="?!"),  # a flat provider keyword
    ]
    async with Router(deployments, env={"DOWN_API_KEY": "k"}) as router:
        reply = await router.chat(MODEL, MESSAGES)
        assert reply.text == "PING?!"
        assert [(a.deployment, a.outcome) for a in reply.route][-1] == ("shout/llama-3.1-8b", "ok")
        assert reply.route[0].deployment == "down"
        assert reply.route[0].outcome != "ok"
        assert reply.cost_usd == 0.0  # a local provider is free
        async with router.stream(MODEL, MESSAGES) as stream:
            texts = [e.text async for e in stream if isinstance(e, TextDelta)]
        assert texts == ["PING?!"]
        down, shout = router.deployments
        assert isinstance(down, DownBackend)
        assert isinstance(shout, ShoutBackend)
        assert not down.capabilities.seed
        assert shout.capabilities.seed
        assert down.target.tags == frozenset({"cloud"})
        assert shout.target.is_local


def test_a_registered_provider_validates_like_a_built_in_one(custom_providers: None) -> None:
    with pytest.raises(ConfigurationError, match="DOWN_API_KEY"):
        Router([Deployment(provider="down", model=MODEL, model_id="d")], env={})
    with pytest.raises(ConfigurationError, match="suffix applies only to provider 'shout'"):
        Deployment(provider="down", model=MODEL, suffix="?")
    with pytest.raises(ConfigurationError, match="suffix"):
        Deployment(provider="shout", model=MODEL, options={"suffix": 3})


def test_an_unregistered_provider_is_unknown_again(custom_providers: None) -> None:
    unregister_provider("shout")
    with pytest.raises(ConfigurationError, match="unknown provider 'shout'"):
        Deployment(provider="shout", model=MODEL)


@pytest.mark.parametrize(
    ("spec", "backend", "says"),
    [
        (ProviderSpec(name="groq"), ShoutBackend, "already registered"),
        (ProviderSpec(name="Bad Name"), ShoutBackend, "lower case"),
        (ProviderSpec(name="nobackend"), object, "Backend subclass"),
    ],
)
def test_bad_registrations_are_refused(spec: ProviderSpec, backend: object, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        register_provider(spec, backend)  # type: ignore[arg-type]


def test_options_may_not_shadow_shared_deployment_fields() -> None:
    class Clash(ProviderOptions):
        timeout: float = 1.0

    with pytest.raises(ConfigurationError, match="timeout"):
        register_provider(ProviderSpec(name="clash", options=Clash), ShoutBackend)


def test_built_in_providers_cannot_be_unregistered() -> None:
    with pytest.raises(ConfigurationError, match="built in"):
        unregister_provider("ollama")


def test_backends_print_what_they_are_never_the_key() -> None:
    secret = "gsk_TESTKEY_repr_0123456789"
    router = Router(
        [
            Deployment(
                provider="openai_compatible",
                model=MODEL,
                base_url="https://user:pw@gateway.example/v1?token=t",
                api_key=secret,
            )
        ],
        env={},
    )
    text = repr(router.deployments)
    assert text == (
        "(OpenAICompatibleBackend(provider='openai_compatible', "
        "name='openai_compatible/llama-3.1-8b', model='llama-3.1-8b', model_id='llama-3.1-8b', "
        "base_url='https://gateway.example/v1'),)"
    )
    assert secret not in text
    assert "pw" not in text
    assert "token" not in text


@pytest.mark.parametrize("doc", [DOC, DOC.with_name("architecture.md")], ids=lambda p: p.name)
def test_the_documented_example_runs_as_pasted(doc: Path) -> None:
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S)
    assert code is not None
    result = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Hello, echo! from echo/llama-3.1-8b", "one |two"]
