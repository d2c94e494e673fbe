"""The Llama 3 chat prompt format, for endpoints that take a prompt instead of messages
(Replicate's ``meta/*`` models).

    <|begin_of_text|><|start_header_id|>system<|end_header_id|>\\n\\n{system}<|eot_id|>
    <|start_header_id|>user<|end_header_id|>\\n\\n{user}<|eot_id|>
    <|start_header_id|>assistant<|end_header_id|>\\n\\n

A trailing assistant message is left open (no ``<|eot_id|>``) so the model continues it.
"""

from __future__ import annotations

from collections.abc import Sequence

from llama_router.messages import Message

__all__ = ["render_llama3_prompt"]

BEGIN = "<|begin_of_text|>"
EOT = "<|eot_id|>"


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def render_llama3_prompt(messages: Sequence[Message]) -> str:
    """Render a conversation as one Llama 3 prompt ending where the assistant speaks next."""
    out = [BEGIN]
    last = len(messages) - 1
    for i, message in enumerate(messages):
        role = "ipython" if message.role == "tool" else message.role
        out.append(_header(role))
        out.append(message.content)
        if i == last and message.role == "assistant":
            return "".join(out)  # continue this assistant turn
        out.append(EOT)
    out.append(_header("assistant"))
    return "".join(out)
