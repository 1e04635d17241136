"""Small helpers shared by subcommands: read JSON input, print problems."""

from __future__ import annotations

import json
import sys
from typing import Any

from schemas.base import FieldProblem


class InputError(Exception):
    """Input that could not be read or parsed, with the problems found."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))


def read_json_arg(path: str) -> Any:
    """JSON from a file path, or from standard input when path is '-'."""
    try:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
    except OSError as exc:
        raise InputError([FieldProblem(field="file", message=f"cannot read {path}: {exc.strerror}")]) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InputError([FieldProblem(field="body", message=f"not valid JSON: {exc}")]) from None


def print_problems(problems: list[FieldProblem], stream=sys.stderr) -> None:
    """One line per problem: field, then message."""
    for p in problems:
        print(f"{p.field}: {p.message}", file=stream)
