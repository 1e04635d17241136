"""`solidarity report submit FILE`: submit a report from the command line, straight to the intake topic."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("report", help="submit reports")
    p.add_argument("action", choices=["submit"])
    p.add_argument("file", help="report JSON file, or - for standard input")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate locally, publish durably, print the receipt; exit 2 listing every problem."""
    from pydantic import ValidationError

    from schemas.base import problems_from
    from schemas.deadletters import DeadLetter
    from schemas.reports import ReportIn
    from streams import topics
    from streams.admin import KafkaUnavailable, ensure_topics, producer
    from streams.commands._io import InputError, print_problems, read_json_arg
    from streams.settings import get_settings
    from streams.services.reports import build_submission, receipt

    settings = get_settings()
    try:
        body = read_json_arg(args.file)
        report = ReportIn.model_validate(body)
    except InputError as exc:
        print_problems(exc.problems)
        return 2
    except ValidationError as exc:
        problems = problems_from(exc)
        print_problems(problems)
        _dead_letter(settings, DeadLetter(source_topic="cli", reasons=problems,
                                          payload=json.dumps(body, ensure_ascii=False), stage="api"))
        return 2
    key, envelope = build_submission(report, "cli", None)
    try:
        ensure_topics(settings)
        prod = producer(settings)
    except KafkaUnavailable as exc:
        print(f"error: {exc}")
        return 1
    from streams import crypto
    sealer = crypto.start(settings)
    sealer.keys.ensure([f"case:{envelope.case_id}"])
    prod.send(topics.full_name(topics.REPORTS_SUBMITTED, settings.topic_prefix), key=key,
              value=sealer.dumps(envelope)).get(timeout=30)
    prod.close()
    print(json.dumps(receipt(envelope)))
    return 0


def _dead_letter(settings, letter) -> None:
    """Best effort: record a refused submission on the dead-letter topic."""
    from streams import crypto, topics
    from streams.admin import KafkaUnavailable, ensure_topics, producer

    try:
        ensure_topics(settings)
        sealer = crypto.start(settings)
        prod = producer(settings)
    except (KafkaUnavailable, TimeoutError):
        return
    prod.send(topics.full_name(topics.REPORTS_DLQ, settings.topic_prefix), value=sealer.dumps(letter))
    prod.close()
