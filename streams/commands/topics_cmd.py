"""`solidarity topics`: create and list the topic catalogue."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("topics", help="create or list the Kafka topics")
    p.add_argument("action", choices=["ensure", "list"])
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Create missing topics, or print the catalogue."""
    from streams import topics
    from streams.admin import KafkaUnavailable, ensure_topics
    from streams.settings import get_settings

    settings = get_settings()
    if args.action == "list":
        for spec in topics.CATALOGUE:
            kind = "compacted" if spec.compacted else "delete"
            print(f"{topics.full_name(spec, settings.topic_prefix):32} {kind:9} {spec.description}")
        return 0
    try:
        created = ensure_topics(settings)
    except KafkaUnavailable as exc:
        print(f"error: {exc}")
        return 1
    print(f"created {len(created)} topic(s)" + (": " + ", ".join(created) if created else ""))
    return 0
