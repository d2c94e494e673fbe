"""Config files: valid ones build the router they describe; invalid ones give one clear
message naming every bad key and the allowed values."""

from __future__ import annotations

from pathlib import Path

import pytest

from llama_router import ConfigFileError, Router, load_config
from llama_router.routing.options import Budget, Hedging, Timeouts

GOOD = """
[router]
policy = "local_first"
slow_ttft = 2.5
continuation = true

[router.timeouts]
total = 45
first_token = 8

[router.retry]
max_retries = 2

[router.hedging]
max_share = 0.05

[router.budget]
usd = 3.5
period = 3600

[[deployments]]
provider = "ollama"
model = "llama-3.1-8b"
keep_alive = "10m"

[[deployments]]
provider = "groq"
model = "llama-3.1-8b"
rpm = 30
"""


def write(tmp_path: Path, text: str, name: str = "router.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def test_a_valid_file_builds_the_router_it_describes(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    kwargs = config.router_kwargs()
    assert kwargs["timeouts"] == Timeouts(total=45, first_token=8)
    assert kwargs["retry"].max_retries == 2
    assert kwargs["hedging"] == Hedging(max_share=0.05)
    assert kwargs["budget"] == Budget(usd=3.5, period=3600)
    assert kwargs["continuation"] is True
    router = Router.from_config(config, env={"GROQ_API_KEY": "gsk_x"})
    try:
        assert router.policy.name == "local_first"
        assert [b.target.name for b in router.deployments] == [
            "ollama/llama3.1:8b",
            "groq/llama-3.1-8b-instant",
        ]
        assert router.deployments[1].target.rpm == 30
        assert router.deployments[0].target.keep_alive == "10m"
    finally:
        await router.aclose()


def test_yaml_is_accepted_too(tmp_path: Path) -> None:
    yaml_text = """
router:
  policy: lowest_cost
deployments:
  - provider: llamacpp
    model: llama-3.1-8b
    base_url: http://127.0.0.1:8080
"""
    config = load_config(write(tmp_path, yaml_text, "router.yaml"))
    assert config.router.policy == "lowest_cost"
    assert config.deployments[0].provider == "llamacpp"


def test_every_bad_key_is_named_with_what_is_allowed(tmp_path: Path) -> None:
    bad = """
[router]
policy = "fastest"
tiemouts = 3

[[deployments]]
provider = "grok"
model = "llama-3.1-8b"

[[deployments]]
provider = "ollama"
model = "llama-3.1-8b"
keepalive = "5m"
"""
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, bad))
    text = str(info.value)
    assert text.startswith(f"{tmp_path / 'router.toml'}: 4 problems in the config")
    assert "router.policy:" in text
    assert "'lowest_cost'" in text
    assert "(got 'fastest')" in text
    assert "router.tiemouts: unknown key; allowed keys:" in text
    assert "timeouts" in text
    assert "deployments[0].provider:" in text
    assert "'ollama'" in text
    assert "(got 'grok')" in text
    assert "deployments[1].keepalive: unknown key" in text
    assert "keep_alive" in text
    assert info.value.__cause__ is None  # no pydantic traceback for the user


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[router\npolicy = 1", "not valid TOML"),
        ("[router]\npolicy = 'ordered'\n", "deployments: required key is missing"),
        ("deployments = []\n", "deployments:"),
        (
            "[router]\npolicy = 'cheapest_under'\n"
            "[[deployments]]\nprovider='llamacpp'\nmodel='m'\n",
            "needs p95_ttft",
        ),
        (
            "[router]\nslow_ttft = 1\n[[deployments]]\nprovider='llamacpp'\nmodel='m'\n",
            'slow_ttft applies only to policy "local_first"',
        ),
        (
            "[router.timeouts]\ntotal = -1\n[[deployments]]\nprovider='llamacpp'\nmodel='m'\n",
            "router.timeouts.total: Input should be greater than 0",
        ),
    ],
)
def test_invalid_files_give_a_clear_message(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigFileError) as info:
        load_config(write(tmp_path, text))
    assert expected in str(info.value)


def test_unreadable_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="cannot read the config file"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigFileError, match=r"use \.toml or \.yaml"):
        load_config(write(tmp_path, "{}", "router.json"))
    with pytest.raises(ConfigFileError, match="must be a table"):
        load_config(write(tmp_path, "- a\n- b\n", "router.yaml"))
