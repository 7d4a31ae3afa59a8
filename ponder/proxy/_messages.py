"""Chat messages as OpenAI's API defines them, one model per role, each with the content
parts that role may carry.

Typed this closely because litellm checks some of it itself (a user part of an unknown type,
a message without content) and reports what it finds as a provider failure, which the proxy
would answer with a 502 for what is the client's mistake; and because ``/openapi.json`` is
built from these models, so what a client generator or a fuzzer reads as valid is valid.
Fields OpenAI defines that the proxy does not look at (``tool_calls``, ``refusal``,
``cache_control``...) are kept and passed on: SDKs send an assistant turn back as they
received it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class TextPart(_Open):
    type: Literal["text"]
    text: str


class ImageUrl(_Open):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Open):
    type: Literal["image_url"]
    image_url: ImageUrl


class InputAudio(_Open):
    data: str
    format: Literal["wav", "mp3"]


class AudioPart(_Open):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FilePart(_Open):
    type: Literal["file"]
    file: dict[str, Any]


class RefusalPart(_Open):
    type: Literal["refusal"]
    refusal: str


UserParts = list[
    Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]
]
TextParts = list[TextPart]
AssistantParts = list[Annotated[TextPart | RefusalPart, Field(discriminator="type")]]
Name = Annotated[str | None, Field(default=None, max_length=256)]


class SystemMessage(_Open):
    role: Literal["system", "developer"]
    content: str | TextParts
    name: Name = None


class UserMessage(_Open):
    role: Literal["user"]
    content: str | UserParts
    name: Name = None


class AssistantMessage(_Open):
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["content"], "properties": {"content": {"not": {"type": "null"}}}},
                {
                    "required": ["tool_calls"],
                    "properties": {"tool_calls": {"type": "array", "minItems": 1}},
                },
                {
                    "required": ["function_call"],
                    "properties": {"function_call": {"type": "object"}},
                },
            ]
        }
    )

    role: Literal["assistant"]
    content: str | AssistantParts | None = None
    name: Name = None
    tool_calls: list[dict[str, Any]] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> AssistantMessage:
        """As in OpenAI's API: no content only when the turn called tools (or, in the old
        form, a function); the schema says the same with its ``anyOf``."""
        function = isinstance((self.model_extra or {}).get("function_call"), dict)
        if self.content is None and not self.tool_calls and not function:
            raise ValueError("an assistant message needs content or tool_calls")
        return self


class ToolMessage(_Open):
    role: Literal["tool"]
    content: str | TextParts
    tool_call_id: str = Field(min_length=1)


Message = Annotated[
    SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")
]
