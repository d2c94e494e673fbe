from __future__ import annotations

import pytest

from llama_router import (
    ConfigurationError,
    Deployment,
    MissingCredentialsError,
    ModelCatalog,
    Router,
    UnknownModelError,
)
from llama_router.deployments import Target, resolve_deployment
from llama_router.providers import EmbeddedOptions, OllamaOptions

CATALOG = ModelCatalog.default()


def test_cloud_key_comes_from_the_standard_variable() -> None:
    target = resolve_deployment(
        Deployment(provider="groq", model="llama-3.1-8b"), CATALOG, {"GROQ_API_KEY": "gsk_x"}
    )
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == "gsk_x"
    assert target.model_id == "llama-3.1-8b-instant"
    assert target.tags == frozenset({"cloud"})
    assert target.price is not None
    assert target.price.input_per_mtok == 0.05


@pytest.mark.parametrize(
    ("provider", "variable"),
    [
        ("groq", "GROQ_API_KEY"),
        ("together", "TOGETHER_API_KEY"),
        ("replicate", "REPLICATE_API_TOKEN"),
    ],
)
def test_missing_key_names_the_variable(provider: str, variable: str) -> None:
    model = "llama-3-8b" if provider == "replicate" else "llama-3.1-8b"
    with pytest.raises(MissingCredentialsError) as info:
        resolve_deployment(Deployment(provider=provider, model=model), CATALOG, {})  # type: ignore[arg-type]
    assert variable in str(info.value)
    assert "api_key=" in str(info.value)


def test_explicit_key_wins_over_environment() -> None:
    target = resolve_deployment(
        Deployment(provider="together", model="llama-3.1-8b", api_key="explicit"),
        CATALOG,
        {"TOGETHER_API_KEY": "from-env"},
    )
    assert target.api_key is not None
    assert target.api_key.get_secret_value() == "explicit"


def test_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve_deployment(
            Deployment(provider="groq", model="llama-4-9000b"), CATALOG, {"GROQ_API_KEY": "k"}
        )
    assert "Unknown model 'llama-4-9000b'" in str(info.value)


def test_provider_without_an_active_id_explains_retirement() -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve_deployment(
            Deployment(provider="groq", model="llama-3-8b"), CATALOG, {"GROQ_API_KEY": "k"}
        )
    assert "llama3-8b-8192" in str(info.value)
    assert "retired" in str(info.value)


def test_retired_model_id_is_never_used_silently() -> None:
    with pytest.raises(ConfigurationError, match="retired"):
        resolve_deployment(
            Deployment(provider="groq", model="llama-3-8b", model_id="llama3-8b-8192"),
            CATALOG,
            {"GROQ_API_KEY": "k"},
        )


def test_unlisted_model_id_can_be_given_explicitly() -> None:
    target = resolve_deployment(
        Deployment(provider="groq", model="llama-3-70b", model_id="my-finetune"),
        CATALOG,
        {"GROQ_API_KEY": "k"},
    )
    assert target.model_id == "my-finetune"
    assert target.price is None  # unknown price: cost will be None, not a guess


def test_ollama_host_from_environment_and_local_tag() -> None:
    target = resolve_deployment(
        Deployment(provider="ollama", model="llama-3.1-8b"),
        CATALOG,
        {"OLLAMA_HOST": "http://127.0.0.1:11500"},
    )
    assert target.base_url == "http://127.0.0.1:11500"
    assert target.model_id == "llama3.1:8b"
    assert target.is_local
    assert target.price is not None
    assert target.price.cost(10**6, 10**6) == 0.0


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("http://127.0.0.1:8181", "http://127.0.0.1:8181"),
        ("127.0.0.1:8181", "http://127.0.0.1:8181"),
        ("  localhost:9000 ", "http://localhost:9000"),
        ("", "http://127.0.0.1:8080"),
    ],
)
def test_llamacpp_host_from_environment(value: str, url: str) -> None:
    target = resolve_deployment(
        Deployment(provider="llamacpp", model="llama-3.1-8b"), CATALOG, {"LLAMACPP_HOST": value}
    )
    assert target.base_url == url
    explicit = resolve_deployment(
        Deployment(provider="llamacpp", model="llama-3.1-8b", base_url="http://10.0.0.5:1"),
        CATALOG,
        {"LLAMACPP_HOST": value},
    )
    assert explicit.base_url == "http://10.0.0.5:1"  # an explicit base_url wins


def test_ollama_host_without_a_scheme_is_plain_http() -> None:
    target = resolve_deployment(
        Deployment(provider="ollama", model="llama-3.1-8b"),
        CATALOG,
        {"OLLAMA_HOST": "0.0.0.0:11500"},
    )
    assert target.base_url == "http://0.0.0.0:11500"


def test_llamacpp_serves_any_model_name_for_free() -> None:
    target = resolve_deployment(Deployment(provider="llamacpp", model="my-gguf"), CATALOG, {})
    assert (target.model, target.model_id, target.base_url) == (
        "my-gguf",
        "my-gguf",
        "http://127.0.0.1:8080",
    )
    assert target.is_local
    assert target.price is not None
    assert target.price.input_per_mtok == 0


def test_openai_compatible_is_local_only_on_loopback() -> None:
    local = resolve_deployment(
        Deployment(
            provider="openai_compatible", model="llama-3.1-8b", base_url="http://localhost:8000/v1"
        ),
        CATALOG,
        {},
    )
    remote = resolve_deployment(
        Deployment(
            provider="openai_compatible",
            model="llama-3.1-8b",
            base_url="https://router.example.com/v1",
        ),
        CATALOG,
        {},
    )
    assert local.is_local
    assert not remote.is_local


def test_price_override() -> None:
    target = resolve_deployment(
        Deployment(
            provider="openai_compatible",
            model="llama-3.1-8b",
            base_url="https://h.example/v1",
            input_price_per_mtok=0.1,
            output_price_per_mtok=0.2,
        ),
        CATALOG,
        {},
    )
    assert target.price is not None
    assert target.price.cost(10**6, 10**6) == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        (
            {"provider": "groq", "model": "llama-3.1-8b", "keep_alive": "5m"},
            "only to provider 'ollama'",
        ),
        ({"provider": "llamacpp", "model": "x", "num_ctx": 4096}, "'ollama' and 'embedded'"),
        ({"provider": "openai_compatible", "model": "x"}, "needs base_url"),
        ({"provider": "groq", "model": "x", "input_price_per_mtok": 1.0}, "or neither"),
        ({"provider": "nope", "model": "x"}, "register_provider"),
        ({"provider": "groq", "model": "x", "timeout": 0}, "timeout: Input should be greater"),
        ({"provider": "groq", "model": "x", "unknown_field": 1}, "unknown_field: unknown key"),
        ({"provider": "embedded", "model": "x"}, "model_path: required key is missing"),
        ({"provider": "ollama", "model": "x", "num_ctx": 0}, "num_ctx: Input should be greater"),
        ({"provider": "ollama", "model": "x", "options": {"num_ctx": 1}, "num_ctx": 2}, "twice"),
        ({"provider": "ollama", "model": "x", "options": {"model_path": "m"}}, "model_path"),
        ({"provider": "replicate", "model": "x", "replicate_wait": 61}, "replicate_wait"),
    ],
)
def test_bad_deployment_fields_raise_a_configuration_error(
    kwargs: dict[str, object], says: str
) -> None:
    with pytest.raises(ConfigurationError) as info:
        Deployment(**kwargs)
    assert says in str(info.value)
    assert info.value.__cause__ is None  # no pydantic error for the user


def test_flat_provider_keywords_and_options_are_the_same_thing() -> None:
    flat = Deployment(provider="ollama", model="llama-3.1-8b", keep_alive="10m", num_ctx=4096)
    nested = Deployment(
        provider="ollama",
        model="llama-3.1-8b",
        options=OllamaOptions(keep_alive="10m", num_ctx=4096),
    )
    as_mapping = Deployment(
        provider="ollama", model="llama-3.1-8b", options={"keep_alive": "10m", "num_ctx": 4096}
    )
    assert flat == nested == as_mapping
    target = resolve_deployment(flat, CATALOG, {})
    assert target.options == OllamaOptions(keep_alive="10m", num_ctx=4096)
    assert target.context_window == 4096  # Ollama runs the model with num_ctx
    assert target.keep_alive == "10m"  # the old flat attribute still reads


def test_embedded_options_validate_like_the_flat_keywords() -> None:
    deployment = Deployment(provider="embedded", model="m", model_path="/m.gguf", n_threads=2)
    assert deployment.options == EmbeddedOptions(model_path="/m.gguf", n_threads=2)
    with pytest.raises(ConfigurationError, match="n_threads"):
        Deployment(
            provider="embedded", model="m", options=EmbeddedOptions(model_path="x"), n_threads=0
        )


def test_target_needs_only_what_matters() -> None:
    target = Target("echo", "echo", "llama-3.1-8b")
    assert target.model_id == "llama-3.1-8b"
    assert (target.base_url, target.api_key, target.tags, target.timeout) == (
        None,
        None,
        frozenset(),
        60.0,
    )
    assert target.options_as(OllamaOptions) == OllamaOptions()
    with pytest.raises(ConfigurationError, match="EmbeddedOptions"):
        target.options_as(EmbeddedOptions)


async def test_router_rejects_duplicate_names_and_empty_lists() -> None:
    with pytest.raises(ConfigurationError, match="unique"):
        Router(
            [
                Deployment(provider="llamacpp", model="m"),
                Deployment(provider="llamacpp", model="m"),
            ],
            env={},
        )
    with pytest.raises(ConfigurationError, match="at least one"):
        Router([], env={})


def test_missing_sdk_extra_says_which_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from llama_router import MissingDependencyError

    monkeypatch.setitem(sys.modules, "groq", None)  # makes `import groq` raise ImportError
    with pytest.raises(MissingDependencyError) as info:
        Router([Deployment(provider="groq", model="llama-3.1-8b")], env={"GROQ_API_KEY": "k"})
    assert 'pip install "llama-router[groq]"' in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
