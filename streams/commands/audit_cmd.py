"""`solidarity audit verify | show [--case ID] [--json] [--limit N]`: check and print the audit trail."""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_BROKEN, EXIT_NO_KAFKA = 0, 1, 3
PROBLEMS_LISTED = 20


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("audit", help="verify or print the audit trail (audit.log.v1)")
    asub = p.add_subparsers(dest="action", required=True)
    asub.add_parser("verify", help="walk the hash chain; exit 1 naming the first entry altered, removed or inserted")
    s = asub.add_parser("show", help="print the audit entries, oldest first")
    s.add_argument("--case", metavar="ID", help="only the entries about this case")
    s.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(run=run)


def _walk(settings, key: bytes, keep: bool):
    """The walker over the whole log and, when `keep`, every record as (offset, fields or None, problem kind)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from streams import topics
    from streams.audit import Walker
    from streams.audit import log as audit_log
    from streams.audit.chain import parse

    walker, rows = Walker(key), []
    console = Console(stderr=True)
    with Progress(TextColumn(f"reading {topics.full_name(topics.AUDIT, settings.topic_prefix)}"), BarColumn(), MofNCompleteColumn(), console=console,
                  transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("read", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        for offset, raw in audit_log.read(settings, progress=progress):
            data = walker.feed(offset, raw)
            if keep:
                rows.append((offset, data if data is not None else parse(raw)))
    return walker, rows


def _text(value) -> str:
    """A field as one line of printable text: a forged entry must not drive the auditor's terminal."""
    return "".join(c if c.isprintable() else "?" for c in str(value))


def _detail(detail) -> str:
    return " ".join(f"{_text(k)}={_text(v)}" for k, v in detail.items()) if isinstance(detail, dict) else ""


def verify(settings, key: bytes) -> int:
    """Print one line: intact with the count and head, or the first broken entry; the exit code."""
    walker, _ = _walk(settings, key, keep=False)
    if walker.intact:
        head = walker.head
        where = f" (head: seq {head['seq']}, mac {head['mac'][:16]})" if head else ""
        print(f"audit chain intact: {walker.entries} entries{where}")
        return EXIT_OK
    first = walker.first
    print(f"audit chain broken: first bad entry at {first.line()}")
    others = sorted((p for p in walker.problems if p is not first), key=lambda p: p.offset)
    for p in others[:PROBLEMS_LISTED]:
        print(f"  also at {p.line()}", file=sys.stderr)
    if len(others) > PROBLEMS_LISTED:
        print(f"  ... and {len(others) - PROBLEMS_LISTED} more", file=sys.stderr)
    return EXIT_BROKEN


def show(settings, key: bytes, case_id: str | None, limit: int | None, as_json: bool) -> int:
    """Print the entries (about one case, or all), each marked when it breaks the chain (`verify` is the check)."""
    walker, rows = _walk(settings, key, keep=True)
    problems = {p.offset: p for p in walker.problems}
    if case_id:
        rows = [(o, d) for o, d in rows if d and case_id in (d.get("case_id"), d.get("subject"))]
    if limit is not None:
        rows = rows[-limit:] if limit > 0 else []
    for offset, data in rows:
        problem = problems.get(offset)
        if as_json:
            print(json.dumps({"offset": offset, "entry": data, "problem": problem.kind.value if problem else None,
                              "reason": problem.reason if problem else None}, ensure_ascii=False))
            continue
        mark = f"  [{problem.kind.value.upper()}]" if problem else ""
        if data is None:
            print(f"{offset:>7}  {'?':>5}  (not an audit entry){mark}")
            continue
        # A forged entry may hold anything: every field is printed as text.
        at, seq, actor, action, subject = (_text(data.get(k, "")) for k in ("at", "seq", "actor", "action", "subject"))
        print(f"{offset:>7}  {seq:>5}  {at[:19].replace('T', ' ')}  {actor:28}  {action:16}  {subject}  "
              f"{_detail(data.get('detail'))}{mark}".rstrip())
    if not as_json:
        verdict = "intact" if walker.intact else f"broken at {walker.first.line()}"
        print(f"-- {len(rows)} shown; chain {verdict}", file=sys.stderr)
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Load the audit key, then verify or show."""
    from streams import crypto
    from streams.admin import KafkaUnavailable, ensure_topics
    from streams.audit import audit_key
    from streams.settings import get_settings

    settings = get_settings()
    try:
        ensure_topics(settings)
        crypto.start(settings)
        if args.action == "verify":
            return verify(settings, audit_key())
        return show(settings, audit_key(), args.case, args.limit, args.json)
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_KAFKA
