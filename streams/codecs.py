"""Faust codecs that carry our pydantic models as JSON on topics."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel


class PydanticCodec(codecs.Codec):
    """Encode a pydantic model to JSON bytes and decode JSON bytes back into the same model."""

    def __init__(self, model: type[BaseModel], **kwargs: Any) -> None:
        self.model = model
        super().__init__(model=model, **kwargs)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, BaseModel):
            return obj.model_dump_json().encode()
        return self.model.model_validate(obj).model_dump_json().encode()

    def _loads(self, s: bytes) -> Any:
        return self.model.model_validate_json(s)


def codec_name(model: type[BaseModel]) -> str:
    """The serializer name under which a model's codec is registered."""
    return f"pyd-{model.__module__}.{model.__qualname__}"


def register(model: type[BaseModel]) -> str:
    """Register (once) a codec for the model and return its serializer name."""
    name = codec_name(model)
    if name not in codecs.codecs:
        codecs.register(name, PydanticCodec(model))
    return name
