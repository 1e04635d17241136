"""Faust codecs that carry our pydantic models as JSON on topics."""

from __future__ import annotations

import json
import re
from typing import Any

from faust.serializers import codecs
from pydantic import BaseModel, ValidationError

from streams import crypto

# A location part that does not look like a field name is a key someone wrote (a phone number, an email).
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class RecordDecodeError(ValueError):
    """A topic record is not a valid instance of its model; the message names fields and error types only."""

    def __init__(self, model: type[BaseModel], problems: list[tuple[str, str]]) -> None:
        self.model_name = model.__qualname__
        self.problems = problems
        detail = ", ".join(f"{field}: {kind}" for field, kind in problems) or "no detail"
        super().__init__(f"record is not a valid {self.model_name} ({detail})")


def _path(loc: tuple[Any, ...]) -> str:
    parts = [p if isinstance(p, int) or _FIELD_NAME.match(str(p)) else "<key>" for p in loc
             if not (isinstance(p, str) and p.startswith("function-"))]
    return ".".join(str(p) for p in parts) or "record"


def describe(model: type[BaseModel], exc: Exception) -> RecordDecodeError:
    """A decode error for exc that carries no input value: pydantic messages quote the rejected input."""
    if isinstance(exc, ValidationError):
        problems = []
        for err in exc.errors(include_input=False, include_url=False, include_context=False):
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden" and loc:
                # The unknown key is the sender's text, whatever it looks like.
                loc = loc[:-1] + ("<key>",)
            problems.append((_path(loc), err["type"]))
    else:
        problems = [("record", type(exc).__name__)]
    return RecordDecodeError(model, problems)


class PydanticCodec(codecs.Codec):
    """Encode a pydantic model to JSON bytes and decode JSON bytes back into the same model.

    Personal fields are sealed on the way out and opened on the way in (streams/crypto): what reaches the
    broker holds none of them in the clear.
    """

    def __init__(self, model: type[BaseModel], **kwargs: Any) -> None:
        self.model = model
        super().__init__(model=model, **kwargs)

    def _dumps(self, obj: Any) -> bytes:
        if not isinstance(obj, BaseModel):
            obj = self.model.model_validate(obj)
        return crypto.sealer().dumps(obj)

    def _loads(self, s: bytes) -> Any:
        try:
            return crypto.sealer().loads(self.model, s)
        except Exception as exc:  # noqa: BLE001 - any decoder's message may quote the record
            error = describe(self.model, exc)
        # Raised outside the handler so the original (which quotes the input) is neither cause nor context of
        # what faust wraps and logs.
        raise error from None


class TableKeyCodec(codecs.Codec):
    """Table keys as their plain UTF-8 bytes, like the keys of our topics.

    faust writes str table keys to changelogs as JSON (`"act:..."`, with the quotes), and the producer hashes
    those bytes: a key then lands on another changelog partition than the topic partition its agent consumes,
    so after a rebalance a worker recovered other workers' ledger entries and not its own. Plain bytes hash
    alike. Keys written as JSON by earlier versions still decode.
    """

    def _dumps(self, obj: Any) -> bytes:
        return obj.encode("utf-8") if isinstance(obj, str) else bytes(obj)

    def _loads(self, s: bytes) -> Any:
        if len(s) >= 2 and s[:1] == b'"' and s[-1:] == b'"':
            return json.loads(s)
        return s.decode("utf-8")


TABLE_KEY = "solidarity-table-key"
if TABLE_KEY not in codecs.codecs:
    codecs.register(TABLE_KEY, TableKeyCodec())


def codec_name(model: type[BaseModel]) -> str:
    """The serializer name under which a model's codec is registered."""
    return f"pyd-{model.__module__}.{model.__qualname__}"


def register(model: type[BaseModel]) -> str:
    """Register (once) a codec for the model and return its serializer name."""
    name = codec_name(model)
    if name not in codecs.codecs:
        codecs.register(name, PydanticCodec(model))
    return name
