"""`solidarity tokens create|list|revoke`: API tokens, stored hashed on a compacted topic."""

from __future__ import annotations

import argparse
import secrets


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("tokens", help="create, list or revoke API tokens")
    tsub = p.add_subparsers(dest="action", required=True)
    c = tsub.add_parser("create", help="create a token and print it once")
    c.add_argument("--role", required=True, choices=["reporter", "secretariat", "metrics"])
    c.add_argument("--name", required=True, help="what the token is for, e.g. 'oaxaca-field-team'")
    tsub.add_parser("list", help="list tokens (never the tokens themselves)")
    r = tsub.add_parser("revoke", help="revoke a token by id")
    r.add_argument("token_id")
    p.set_defaults(run=run)


def current(settings) -> dict[str, "TokenRecord"]:  # noqa: F821
    """The latest record of every token, read from the compacted topic."""
    from schemas.audit import TokenRecord
    from streams import topics
    from streams.admin import read_all

    latest = {}
    for _key, value in read_all(settings, topics.TOKENS):
        record = TokenRecord.model_validate_json(value)
        latest[record.token_id] = record
    return latest


def run(args: argparse.Namespace) -> int:
    """Carry out the token action."""
    from schemas.audit import TokenRecord
    from streams import topics
    from streams.admin import KafkaUnavailable, ensure_topics, producer
    from streams.audit import CLI, record_sync
    from streams.ids import hash_token, new_id
    from streams.settings import get_settings

    settings = get_settings()
    try:
        ensure_topics(settings)
        if args.action == "list":
            for rec in current(settings).values():
                state = "revoked" if rec.revoked else "active"
                print(f"{rec.token_id}  {rec.role:11}  {state:7}  {rec.created_at:%Y-%m-%d}  {rec.name}")
            return 0
        name = topics.full_name(topics.TOKENS, settings.topic_prefix)
        if args.action == "create":
            token = f"sol_{args.role[:3]}_{secrets.token_urlsafe(32)}"
            record = TokenRecord(token_id=new_id("tok"), name=args.name, role=args.role, token_hash=hash_token(token))
        else:
            record = current(settings).get(args.token_id)
            if record is None:
                print(f"error: no token with id {args.token_id}")
                return 2
            record = record.model_copy(update={"revoked": True})
        prod = producer(settings)
        # Audited first (by id and role: a token's name is free text), then published.
        record_sync(settings, CLI, f"token.{args.action}", record.token_id, producer=prod, role=record.role)
        prod.send(name, key=record.token_id.encode(), value=record.model_dump_json().encode()).get(timeout=30)
        prod.close()
    except KafkaUnavailable as exc:
        print(f"error: {exc}")
        return 1
    if args.action == "create":
        print(token)
    else:
        print(f"revoked {record.token_id}")
    return 0
