"""Normalised request types: messages, tools and generation settings.

These are frozen pydantic models: user input is validated once, at the public boundary,
and every backend reads the same immutable :class:`ChatRequest`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ChatRequest",
    "GenerationSettings",
    "Message",
    "ResponseFormat",
    "Role",
    "Tool",
    "ToolCall",
]

Role = Literal["system", "user", "assistant", "tool"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ToolCall(BaseModel):
    """A function call requested by the model. ``arguments`` is the JSON text of the call."""

    model_config = _FROZEN

    id: str
    name: str
    arguments: str = "{}"


class Message(BaseModel):
    """One turn of a conversation.

    Plain dicts in the OpenAI shape (``{"role": "user", "content": "Hi"}``) are accepted
    wherever a message is expected.
    """

    model_config = _FROZEN

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    """For ``role="tool"``: the id of the call this message answers."""
    name: str | None = None
    """For ``role="tool"``: the name of the tool that produced this result."""

    @classmethod
    def system(cls, content: str) -> Message:
        return cls(role="system", content=content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls(role="user", content=content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls(role="assistant", content=content, tool_calls=tool_calls)

    @classmethod
    def tool(cls, content: str, *, tool_call_id: str, name: str | None = None) -> Message:
        return cls(role="tool", content=content, tool_call_id=tool_call_id, name=name)

    @model_validator(mode="after")
    def _check_roles(self) -> Message:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages can carry tool_calls")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id (the id of the call it answers)")
        return self


class Tool(BaseModel):
    """A function the model may call; ``parameters`` is a JSON Schema object."""

    model_config = _FROZEN

    name: str = Field(min_length=1, max_length=64)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ResponseFormat(BaseModel):
    """JSON mode (``type="json_object"``) or structured output (``type="json_schema"``)."""

    model_config = _FROZEN

    type: Literal["text", "json_object", "json_schema"] = "json_object"
    json_schema: dict[str, Any] | None = None
    name: str = "response"

    @model_validator(mode="after")
    def _schema_present(self) -> ResponseFormat:
        if self.type == "json_schema" and not self.json_schema:
            raise ValueError('response_format type "json_schema" needs json_schema={...}')
        return self


class GenerationSettings(BaseModel):
    """Sampling and output settings shared by every provider.

    Unset values (``None``) leave the provider's own default in place.
    """

    model_config = _FROZEN

    max_tokens: int | None = Field(default=None, gt=0)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    stop: tuple[str, ...] = ()
    seed: int | None = None
    response_format: ResponseFormat | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: Literal["auto", "none", "required"] | str | None = None
    """``"auto"``, ``"none"``, ``"required"`` or the name of one tool to force."""

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_as_tuple(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        return value

    @field_validator("response_format", mode="before")
    @classmethod
    def _format_shorthand(cls, value: object) -> object:
        if value == "json":
            return ResponseFormat(type="json_object")
        return value

    @model_validator(mode="after")
    def _tool_choice_names_a_tool(self) -> GenerationSettings:
        choice = self.tool_choice
        named = choice is not None and choice not in ("auto", "none", "required")
        if named and choice not in {t.name for t in self.tools}:
            raise ValueError(f"tool_choice {choice!r} does not name one of the given tools")
        return self

    @property
    def json_mode(self) -> bool:
        """True when the caller asked for JSON output (either kind)."""
        fmt = self.response_format
        return fmt is not None and fmt.type != "text"


class ChatRequest(BaseModel):
    """A validated, immutable chat request for one canonical model."""

    model_config = _FROZEN

    model: str = Field(min_length=1)
    messages: tuple[Message, ...] = Field(min_length=1)
    settings: GenerationSettings = GenerationSettings()

    def with_assistant_prefix(self, text: str) -> ChatRequest:
        """The same request with ``text`` appended as an assistant turn to continue from."""
        return self.model_copy(update={"messages": (*self.messages, Message.assistant(text))})
