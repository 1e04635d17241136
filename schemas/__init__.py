"""Pydantic v2 models for every message that crosses a topic and every API body.

This package imports nothing else of ours: every other layer depends on it.
"""

from schemas.base import FieldProblem, Message, PersonalData, personal_fields, problems_from, redacted

__all__ = ["FieldProblem", "Message", "PersonalData", "personal_fields", "problems_from", "redacted"]
