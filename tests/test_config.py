"""Config files: valid ones build the router they describe; invalid ones give one clear
message naming every bad key and the allowed values."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from llama_router import ConfigFileError, Router, load_config, routing
from llama_router.cli import CLI_POLICIES
from llama_router.config import POLICIES
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
            "router.timeouts: total must be > 0 seconds, got -1.0",
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


def _option_classes() -> dict[str, type]:
    """Router keyword -> option dataclass, for every Router keyword that takes one."""
    hints = typing.get_type_hints(Router.__init__)
    found = {}
    for name, hint in hints.items():
        for kind in (hint, *typing.get_args(hint)):
            if dataclasses.is_dataclass(kind) and isinstance(kind, type):
                found[name] = kind
    return found


def _another_valid_value(field: dataclasses.Field[Any]) -> object:
    default = field.default
    if default is dataclasses.MISSING or default is None:
        return 0.5
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    assert isinstance(default, float), field
    return default / 2


def test_every_option_field_settable_in_code_is_settable_in_a_file(tmp_path: Path) -> None:
    classes = _option_classes()
    assert set(classes) == {"timeouts", "retry", "hedging", "budget", "health"}
    for section, kind in classes.items():
        for field in dataclasses.fields(kind):
            value = _another_valid_value(field)
            required = "usd = 1.0\n" if kind is Budget and field.name != "usd" else ""
            text = (
                (
                    f"[router.{section}]\n{required}{field.name} = {value!r}\n"
                    "[[deployments]]\nprovider = 'llamacpp'\nmodel = 'm'\n"
                )
                .replace("True", "true")
                .replace("False", "false")
            )
            options = load_config(write(tmp_path, text)).router_kwargs()[section]
            assert isinstance(options, kind)
            assert getattr(options, field.name) == value, (section, field.name)


def test_option_values_the_code_refuses_a_file_refuses_too(tmp_path: Path) -> None:
    text = "[router.hedging]\nmax_share = 2\n[[deployments]]\nprovider='llamacpp'\nmodel='m'\n"
    with pytest.raises(ConfigFileError, match=r"router\.hedging: max_share is a fraction"):
        load_config(write(tmp_path, text))
    text = "[router.retry]\nbackoff_base = -1\n[[deployments]]\nprovider='llamacpp'\nmodel='m'\n"
    with pytest.raises(ConfigFileError, match=r"router\.retry: backoff_base must be > 0 seconds"):
        load_config(write(tmp_path, text))
    text = "[router.health]\nopen_fr = 1\n[[deployments]]\nprovider='llamacpp'\nmodel='m'\n"
    with pytest.raises(ConfigFileError, match=r"router\.health\.open_fr: unknown key.*open_for"):
        load_config(write(tmp_path, text))


def test_policies_are_listed_once_and_everywhere(tmp_path: Path) -> None:
    routing_doc = (Path(__file__).parents[1] / "docs" / "routing.md").read_text()
    table = routing_doc.split("| Policy |", 1)[1].split("\n\n")[0]
    documented = re.findall(r"^\| `(\w+)\(", table, re.M)
    assert documented == list(POLICIES)
    assert set(POLICIES) <= set(routing.__all__)
    assert set(CLI_POLICIES) == {n for n, e in POLICIES.items() if not e.required}
    for name, entry in POLICIES.items():
        keys = "".join(f"{key} = 0.5\n" for key in entry.options)
        text = (
            f"[router]\npolicy = '{name}'\n{keys}[[deployments]]\nprovider='llamacpp'\nmodel='m'\n"
        )
        assert load_config(write(tmp_path, text)).router.build_policy().name.startswith(name)
