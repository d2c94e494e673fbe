"""``render_llama3_prompt``: the Llama 3 chat format for prompt-only endpoints (Replicate)."""

from __future__ import annotations

from llama_router.llama3_prompt import render_llama3_prompt
from llama_router.messages import Message, ToolCall

BEGIN = "<|begin_of_text|>"
EOT = "<|eot_id|>"


def header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def test_system_and_user_end_with_an_open_assistant_header() -> None:
    prompt = render_llama3_prompt([Message.system("You are terse."), Message.user("Say hi.")])

    assert prompt == (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nSay hi.<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_user_only_has_no_system_block() -> None:
    prompt = render_llama3_prompt([Message.user("Say hi.")])

    assert prompt == BEGIN + header("user") + "Say hi." + EOT + header("assistant")
    assert "system" not in prompt


def test_multi_turn_closes_every_turn_and_begins_once() -> None:
    messages = [
        Message.system("You are terse."),
        Message.user("What is 2+2?"),
        Message.assistant("4"),
        Message.user("And 3+3?"),
    ]

    prompt = render_llama3_prompt(messages)

    assert prompt == (
        BEGIN
        + header("system")
        + "You are terse."
        + EOT
        + header("user")
        + "What is 2+2?"
        + EOT
        + header("assistant")
        + "4"
        + EOT
        + header("user")
        + "And 3+3?"
        + EOT
        + header("assistant")
    )
    assert prompt.count(BEGIN) == 1
    assert prompt.count(EOT) == 4


def test_trailing_assistant_message_is_left_open_for_continuation() -> None:
    messages = [Message.user("Count to three."), Message.assistant("One, two,")]

    prompt = render_llama3_prompt(messages)

    assert prompt == (
        BEGIN + header("user") + "Count to three." + EOT + header("assistant") + "One, two,"
    )
    assert not prompt.endswith(EOT)
    assert prompt.count(header("assistant")) == 1


def test_tool_results_are_rendered_with_the_ipython_role() -> None:
    call = ToolCall(id="call_1", name="get_weather", arguments='{"city": "Oslo"}')
    messages = [
        Message.user("Weather in Oslo?"),
        Message.assistant("", tool_calls=(call,)),
        Message.tool('{"temp_c": 21}', tool_call_id="call_1", name="get_weather"),
    ]

    prompt = render_llama3_prompt(messages)

    assert prompt == (
        BEGIN
        + header("user")
        + "Weather in Oslo?"
        + EOT
        + header("assistant")
        + EOT
        + header("ipython")
        + '{"temp_c": 21}'
        + EOT
        + header("assistant")
    )
    assert header("tool") not in prompt
