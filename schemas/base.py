"""Message base class, the personal-data marker and error reporting helpers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class PersonalData:
    """Annotated marker: the field holds personal data (redact in logs, encrypt at rest)."""

    def __repr__(self) -> str:
        return "PersonalData()"


PERSONAL = PersonalData()


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


class Message(BaseModel):
    """Base of every topic message and API body: strict, versioned, JSON on the wire."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_default=True)

    schema_version: Literal[1] = Field(default=1, description="Version of this message's schema.")


class FieldProblem(BaseModel):
    """One validation problem, with the dotted path of the field it concerns."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="Dotted path of the offending field, e.g. defenders.0.gender.")
    message: str = Field(description="What is wrong, in plain language.")


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    """Turn a pydantic ValidationError into field problems, never echoing the rejected value."""
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        elif err["type"] == "missing":
            message = "field required"
        elif message.startswith("Value error, "):
            message = message[len("Value error, "):]
        problems.append(FieldProblem(field=_dotted(loc), message=message))
    return problems


def personal_fields(model: type[BaseModel]) -> set[str]:
    """Names of the fields of a model marked as personal data."""
    names = set()
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if any(isinstance(m, PersonalData) for m in info.metadata) or extra.get("personal_data"):
            names.add(name)
    return names


def redacted(obj: Any) -> Any:
    """A copy of a model (recursively) as plain data with every personal field replaced by '[redacted]'."""
    if isinstance(obj, BaseModel):
        marked = personal_fields(type(obj))
        out = {}
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            out[name] = "[redacted]" if (name in marked and value not in (None, "", [], {})) else redacted(value)
        return out
    if isinstance(obj, (list, tuple)):
        return [redacted(v) for v in obj]
    if isinstance(obj, dict):
        return {k: redacted(v) for k, v in obj.items()}
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), str):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    return obj


def personal(default: Any = ..., **kwargs: Any) -> Any:
    """A Field marked as personal data in its JSON schema (use with Annotated[..., PERSONAL])."""
    extra = dict(kwargs.pop("json_schema_extra", None) or {})
    extra["personal_data"] = True
    return Field(default, json_schema_extra=extra, **kwargs)
