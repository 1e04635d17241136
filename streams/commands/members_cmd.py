"""`solidarity members import FILE.csv | export [--output FILE] | shred MEMBER_ID`: the member list on its compacted
topic (shred: streams/commands/shred_cmd.py)."""

from __future__ import annotations

import argparse
import sys

from streams.commands import shred_cmd

EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE, EXIT_NO_KAFKA = 0, 1, 2, 3


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("members", help="import or export the member list (CSV)")
    msub = p.add_subparsers(dest="action", required=True)
    i = msub.add_parser("import", help="validate a CSV and publish its good rows (re-importing updates)")
    i.add_argument("file", help="CSV with header member_id,organization,contact_name,phone,email,language,"
                                "country,working_groups,channels,roles[,opted_out]")
    e = msub.add_parser("export", help="write the current members as CSV")
    e.add_argument("--output", "-o", help="file to write (default: standard output)")
    shred_cmd.add_member_parser(msub)
    p.set_defaults(run=run)


def current(settings) -> dict[str, "Member"]:  # noqa: F821
    """The latest record of every member, read from the compacted topic (tombstones remove)."""
    from schemas.members import Member
    from streams import crypto, topics
    from streams.admin import read_all

    sealer = crypto.start(settings)
    latest: dict = {}
    for key, value in read_all(settings, topics.MEMBERS):
        if value is None:
            latest.pop(key.decode() if key else None, None)
            continue
        member = sealer.loads(Member, value)
        latest[member.member_id] = member
    return latest


def _same(a, b) -> bool:
    return a.model_dump(exclude={"updated_at"}) == b.model_dump(exclude={"updated_at"})


def _plan(parsed, existing: dict) -> tuple[list, int, int, int]:
    """The members to publish, and how many are new, changed and unchanged."""
    publish, new, changed, unchanged = [], 0, 0, 0
    for member in parsed.members:
        before = existing.get(member.member_id)
        if before is not None and not parsed.has_opted_out:
            # Without an opted_out column the file cannot know who replied STOP: keep that state.
            member = member.model_copy(update={"opted_out": before.opted_out})
        if before is None:
            new += 1
        elif _same(before, member):
            unchanged += 1
            continue
        else:
            changed += 1
        publish.append(member)
    return publish, new, changed, unchanged


def import_members(settings, path: str) -> int:
    """Validate a member CSV and publish its good rows; return the exit code."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from agents.members_csv import CsvHeaderError, parse_csv
    from schemas.base import utcnow
    from streams import crypto, topics
    from streams.admin import ensure_topics, producer

    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            parsed = parse_csv(fh.read())
    except OSError as exc:
        print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_UNREADABLE
    except UnicodeDecodeError:
        print(f"error: {path} is not UTF-8 text", file=sys.stderr)
        return EXIT_UNREADABLE
    except CsvHeaderError as exc:
        print(f"error: {path}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    ensure_topics(settings)
    publish, new, changed, unchanged = _plan(parsed, current(settings))
    name = topics.full_name(topics.MEMBERS, settings.topic_prefix)
    console = Console(stderr=True)
    sealer = crypto.start(settings)
    erased = [m for m in publish if sealer.keys.is_shredded(f"member:{m.member_id}")]
    for m in erased:
        print(f"member {m.member_id}: member_id belonged to an erased member; choose another", file=sys.stderr)
    publish = [m for m in publish if m not in erased]
    new -= len(erased)
    # Every new member's data key first (one batch, acknowledged), then the members sealed with them.
    sealer.keys.ensure(f"member:{m.member_id}" for m in publish)
    prod = producer(settings)
    try:
        with Progress(TextColumn("publishing members"), BarColumn(), MofNCompleteColumn(), console=console,
                      transient=not console.is_terminal) as progress:
            task = progress.add_task("publish", total=len(publish))
            futures = []
            for member in publish:
                member = member.model_copy(update={"updated_at": utcnow()})
                fut = prod.send(name, key=member.member_id.encode(), value=sealer.dumps(member))
                futures.append(fut.add_callback(lambda _meta: progress.advance(task)))
            prod.flush(timeout=60)
            for fut in futures:
                fut.get(timeout=30)
    finally:
        prod.close()
    for bad in parsed.bad_rows:
        for problem in bad.problems:
            print(f"line {bad.line}: {problem.field}: {problem.message}", file=sys.stderr)
    rejected = len(parsed.bad_rows) + len(erased)
    print(f"imported {new}, updated {changed}, rejected {rejected}, unchanged {unchanged}")
    return EXIT_REJECTED if rejected else EXIT_OK


def export_members(settings, output: str | None) -> int:
    """Write the current members as CSV to a file or standard output; return the exit code."""
    from agents.members_csv import to_csv
    from streams.admin import ensure_topics
    from streams.audit import CLI, record_sync

    ensure_topics(settings)
    members = sorted(current(settings).values(), key=lambda m: m.member_id)
    text = to_csv(members)
    record_sync(settings, CLI, "export.members", "members", rows=len(members))  # before any of it leaves
    if output:
        try:
            with open(output, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"error: cannot write {output}: {exc.strerror}", file=sys.stderr)
            return EXIT_UNREADABLE
        print(f"exported {len(members)} members to {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Carry out the members action."""
    from kafka.errors import KafkaError

    from streams.admin import KafkaUnavailable
    from streams.settings import get_settings

    settings = get_settings()
    try:
        if args.action == "import":
            return import_members(settings, args.file)
        return export_members(settings, args.output)
    except (KafkaUnavailable, KafkaError) as exc:
        print(f"error: Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NO_KAFKA
