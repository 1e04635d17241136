"""`solidarity worker`: run the faust worker with its web server."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("worker", help="run the stream processor and its web server")
    p.add_argument("-l", "--loglevel", default=None, help="log level (default from settings)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create missing topics, then run the worker until Ctrl-C or SIGTERM."""
    from faust import Worker

    from streams.admin import KafkaUnavailable, ensure_topics
    from streams.settings import get_settings

    settings = get_settings()
    problems = settings.insecure_defaults()
    if problems:
        for line in problems:
            print(f"error: refusing to start: {line}")
        return 2
    from agents.escalation import EscalationConfigError, load_policies
    from agents.oncall import OnCallConfigError, load_schedules

    try:
        # Checked before anything starts: a worker that cannot page must not look healthy.
        load_policies(settings.escalation.policies_file, load_schedules(settings.escalation.schedules_file))
    except (EscalationConfigError, OnCallConfigError) as exc:
        print(f"error: refusing to start: {exc}")
        return 2
    try:
        ensure_topics(settings)
    except KafkaUnavailable as exc:
        print(f"error: {exc} (start it with: python deploy/kafka/broker.py start)")
        return 1
    from streams.app import runtime

    print(f"Solidarity worker: {settings.web.public_url}  (Kafka {settings.kafka.bootstrap_servers})", flush=True)
    worker = Worker(runtime.app, loglevel=args.loglevel or settings.log_level, quiet=True)
    worker.execute_from_commandline()
    return 0
