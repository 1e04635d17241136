"""`solidarity classify FILE|-`: the pipeline's validation, urgency and routing, offline."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("classify", help="classify a report offline (no Kafka, no server)")
    p.add_argument("file", help="report JSON file, or - for standard input")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print {"urgency", "reasons", "mechanisms", "region"}; exit 2 listing every problem on bad input."""
    from pydantic import ValidationError

    from agents.classification import classify
    from schemas.base import problems_from
    from schemas.reports import ReportIn
    from streams.commands._io import InputError, print_problems, read_json_arg

    try:
        report = ReportIn.model_validate(read_json_arg(args.file))
    except InputError as exc:
        print_problems(exc.problems)
        return 2
    except ValidationError as exc:
        print_problems(problems_from(exc))
        return 2
    result = classify(report)
    print(json.dumps(result.model_dump(mode="json", exclude={"schema_version"}), ensure_ascii=False))
    return 0
