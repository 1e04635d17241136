"""Dead letters: anything rejected, with its reasons, so nothing vanishes silently."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from schemas.base import PERSONAL, FieldProblem, Message, personal, utcnow


class DeadLetter(Message):
    """A rejected message with why it was rejected; the payload is kept (not logged) for replay."""

    source_topic: str = Field(description="Topic or endpoint the message came from.")
    key: str | None = Field(None, description="Key of the original message.")
    reasons: list[FieldProblem] = Field(description="Every problem found, with field paths.")
    payload: Annotated[str, PERSONAL] = personal(description="The original message, verbatim.")
    at: datetime = Field(default_factory=utcnow)
    stage: str = Field(description="Which stage rejected it: api, validate, deliver.")
    subject: str | None = Field(None, description=(
        "Whose data key seals the payload: case:<id>, member:<id>, or period:<YYYY-MM> when it is nobody's."))
