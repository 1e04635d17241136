"""`solidarity tokens create|list|revoke|phones`: API tokens, stored hashed on a compacted topic; a reporter
token's phones (as blind indexes) may text reports."""

from __future__ import annotations

import argparse
import secrets
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("tokens", help="create, list or revoke API tokens")
    tsub = p.add_subparsers(dest="action", required=True)
    c = tsub.add_parser("create", help="create a token and print it once")
    c.add_argument("--role", required=True, choices=["reporter", "secretariat", "metrics"])
    c.add_argument("--name", required=True, help="what the token is for, e.g. 'oaxaca-field-team'")
    c.add_argument("--phone", action="append", default=[], metavar="E164",
                   help="reporter tokens: a phone that may text reports and STATUS (repeat for several)")
    c.add_argument("--language", default="en", help="reporter tokens: language of SMS replies (ISO 639-1)")
    ph = tsub.add_parser("phones", help="link or unlink a reporter token's phone numbers (kept as blind indexes)")
    ph.add_argument("token_id")
    ph.add_argument("--add", action="append", default=[], metavar="E164", help="a number to link (repeatable)")
    ph.add_argument("--remove", action="append", default=[], metavar="E164", help="a number to unlink (repeatable)")
    ph.add_argument("--language", help="language of SMS replies to these phones (ISO 639-1)")
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
            if args.phone or args.language != "en":
                if args.role != "reporter":
                    print("error: --phone and --language are for reporter tokens")
                    return 2
                record = linked(settings, record, args.phone, [], args.language)
                if record is None:
                    return 2
        elif args.action == "phones":
            record = current(settings).get(args.token_id)
            if record is None or record.role != "reporter":
                print(f"error: no reporter token with id {args.token_id}")
                return 2
            record = linked(settings, record, args.add, args.remove, args.language)
            if record is None:
                return 2
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
        if record.phones:
            print(f"{record.token_id}: {len(record.phones)} phone(s) may text reports", file=sys.stderr)
        print(token)
    elif args.action == "phones":
        print(f"{record.token_id}: {len(record.phones)} phone(s) linked, replies in {record.language}")
    else:
        print(f"revoked {record.token_id}")
    return 0


def linked(settings, record, add: list[str], remove: list[str], language: str | None):
    """The token record with phones added and removed (by blind index, never the number); None after printing
    an error naming the bad number or language."""
    from pydantic import TypeAdapter, ValidationError

    from schemas.fields import LanguageCode, Phone
    from streams import crypto

    blind = crypto.start(settings).blind
    phones = list(record.phones)
    for flag, numbers in (("--add/--phone", add), ("--remove", remove)):
        for number in numbers:
            try:
                e164 = TypeAdapter(Phone).validate_python(number)
            except ValidationError:
                print(f"error: {flag}: not a phone number in international format (E.164, e.g. +50491236721)")
                return None
            index = blind("phone", e164)
            if flag == "--remove":
                phones = [p for p in phones if p != index]
            elif index not in phones:
                phones.append(index)
    update = {"phones": phones}
    if language:
        try:
            update["language"] = TypeAdapter(LanguageCode).validate_python(language)
        except ValidationError:
            print("error: --language: use an ISO 639-1 code such as es, fr, pt, ar or en")
            return None
    return record.model_copy(update=update)
