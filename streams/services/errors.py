"""The one error a use-case raises: an HTTP-like status and the problems, each naming its field."""

from __future__ import annotations

from schemas.base import FieldProblem


class ServiceError(Exception):
    """A refused request, answered as {"errors": [{"field", "message"}]} with `status`."""

    def __init__(self, status: int, problems: list[FieldProblem] | str, field: str = "body") -> None:
        if isinstance(problems, str):
            problems = [FieldProblem(field=field, message=problems)]
        self.status, self.problems = status, problems
        super().__init__(f"{status}: {[p.field for p in problems]}")
