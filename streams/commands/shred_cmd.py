"""`solidarity cases shred CASE_ID --reason TEXT` and `solidarity members shred MEMBER_ID`: erasure now.

Both crypto-shred (SECURITY.md): the subject's data keys are destroyed, so every copy of its personal data in
every topic, changelog, store and backup becomes unreadable at once. A case is shredded by the worker (it folds
the `shredded` event into a tombstone, then destroys the keys); this command records the event and waits until
cases.state.v1 shows the tombstone. A member is removed from members.v1 (a tombstone) and its keys destroyed here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_NO_KAFKA = 0, 1, 2, 3
READ_SECONDS = 60.0
REASON_HELP = "why, kept in the clear on the tombstone and in the audit trail: never personal data"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `cases` (its one action: shred)."""
    p = sub.add_parser("cases", help="erase a case's personal data now (crypto-shredding)")
    csub = p.add_subparsers(dest="action", required=True)
    s = csub.add_parser("shred", help="destroy a case's data keys; the case stays as a tombstone without personal data")
    s.add_argument("case_id", help="the case id (or the id a merged report was given)")
    s.add_argument("--reason", required=True, help=REASON_HELP)
    s.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the worker's tombstone (60)")
    p.set_defaults(run=run_case)


def add_member_parser(msub: argparse._SubParsersAction) -> None:
    """Register `members shred` under the members command."""
    s = msub.add_parser("shred", help="remove a member and destroy its data keys (its contact data is erased)")
    s.add_argument("member_id")
    s.add_argument("--reason", default="erasure request", help=REASON_HELP)
    s.set_defaults(run=run_member)


def _servers(settings) -> list[str]:
    return [s.strip() for s in settings.kafka.bootstrap_servers.split(",") if s.strip()]


def _consumer(settings):
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=_servers(settings), group_id=None, enable_auto_commit=False,
                         client_id=f"{settings.app_id}-cli-shred")


def _partition(consumer, name: str, key: str):
    from kafka import TopicPartition
    from kafka.partitioner.default import murmur2

    parts = consumer.partitions_for_topic(name)
    if not parts:
        return None
    # Kafka's default partitioner (murmur2), which every producer of ours uses: a key's records are in one partition.
    return TopicPartition(name, (murmur2(key.encode()) & 0x7FFFFFFF) % len(parts))


def latest(settings, spec, key: str) -> tuple[bytes | None, int] | None:
    """The latest value of `key` on a compacted topic (None for a tombstone) and the partition's end offset, or
    None when the key has no record. Reads only the key's partition."""
    from streams import topics

    name = topics.full_name(spec, settings.topic_prefix)
    consumer = _consumer(settings)
    try:
        tp = _partition(consumer, name, key)
        if tp is None:
            return None
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        found, wanted = None, key.encode()
        deadline = time.monotonic() + READ_SECONDS
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} partition {tp.partition} not read to its end within {READ_SECONDS:.0f} s")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.key == wanted:
                        found = (record.value, end)
        return found
    finally:
        consumer.close()


def _snapshot(value: bytes | None) -> dict:
    # Only the snapshot's plain parts are read (alias, status, dates): no case needs opening to find it.
    return json.loads(value) if value else {}


def find_case(settings, case_id: str) -> tuple[str, dict, int] | None:
    """(case id, the case's JSON as stored, its partition's end offset) for a case id or a merged report's id."""
    from streams import topics

    for _ in range(3):  # an alias points to the case a report was merged into (never a chain, but be safe)
        found = latest(settings, topics.CASE_STATE, case_id)
        snap = _snapshot(found[0]) if found else {}
        if snap.get("alias_of"):
            case_id = snap["alias_of"]
            continue
        return (case_id, snap["case"], found[1]) if snap.get("case") else None
    return None


def wait_tombstone(settings, case_id: str, since: int, deadline: float) -> dict | None:
    """Follow the case's partition of cases.state.v1 until its snapshot is a tombstone; the case JSON, or None."""
    from streams import topics

    name = topics.full_name(topics.CASE_STATE, settings.topic_prefix)
    consumer = _consumer(settings)
    try:
        tp = _partition(consumer, name, case_id)
        consumer.assign([tp])
        consumer.seek(tp, since)
        wanted = case_id.encode()
        while time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    case = _snapshot(record.value).get("case") if record.key == wanted else None
                    if case and case.get("shredded_at"):
                        return case
        return None
    finally:
        consumer.close()


def shred_case(settings, case_id: str, reason: str, timeout: float) -> int:
    """Record a case's shredded event and wait for the worker's tombstone; the exit code."""
    from schemas.cases import SHRED_REASON_MAX, CaseEvent, CaseEventKind
    from streams import crypto, topics
    from streams.admin import ensure_topics, producer
    from streams.audit import CLI, record_sync
    from streams.ids import new_id

    reason = reason.strip()
    if not 3 <= len(reason) <= SHRED_REASON_MAX:
        print(f"error: --reason must be 3 to {SHRED_REASON_MAX} characters", file=sys.stderr)
        return EXIT_REFUSED
    ensure_topics(settings)
    sealer = crypto.start(settings)
    found = find_case(settings, case_id)
    if found is None:
        print(f"error: no case {case_id} (a report just submitted may take a moment to become a case)",
              file=sys.stderr)
        return EXIT_REFUSED
    target, case, since = found
    if case.get("shredded_at"):
        print(f"case {target} ({case.get('reference')}) was already shredded on {case['shredded_at'][:10]}")
        return EXIT_OK
    event = CaseEvent(event_id=new_id("evt"), case_id=target, kind=CaseEventKind.shredded, actor=CLI, reason=reason,
                      data={"by": "cli"})
    prod = producer(settings)
    try:
        # Audited before it takes effect (the reason is text a person typed: it stays out of the audit trail).
        record_sync(settings, CLI, "case.shred", target, target, producer=prod, event_id=event.event_id, via="cli")
        prod.send(topics.full_name(topics.CASE_EVENTS, settings.topic_prefix), key=target.encode(),
                  value=sealer.dumps(event)).get(timeout=30)
    finally:
        prod.close()
    print(f"shred of case {target} ({case.get('reference')}) recorded; waiting for the worker", file=sys.stderr)
    deadline = time.monotonic() + timeout
    tomb = wait_tombstone(settings, target, since, deadline)
    if tomb is None:
        print(f"error: no worker wrote the tombstone of case {target} within {timeout:.0f} s. The shred is recorded "
              "on cases.events.v1 and a worker applies it when it runs: check `solidarity worker` is up "
              "(and its consumer lag), then run this command again to confirm.", file=sys.stderr)
        return EXIT_TIMEOUT
    subject = f"case:{target}"
    while not sealer.keys.is_shredded(subject) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not sealer.keys.is_shredded(subject):
        print(f"error: case {target} is a tombstone but its data keys are not destroyed yet; the worker retries at "
              "its next retention check (see its log)", file=sys.stderr)
        return EXIT_TIMEOUT
    print(f"shredded case {target} ({tomb.get('reference')}): tombstone written, data keys destroyed "
          f"({tomb.get('report_count') or 0} report(s) erased)")
    return EXIT_OK


def shred_member(settings, member_id: str, reason: str) -> int:
    """Tombstone a member on members.v1 and destroy its data keys; the exit code."""
    from streams import crypto, topics
    from streams.admin import ensure_topics, producer
    from streams.audit import CLI, record_sync

    ensure_topics(settings)
    sealer = crypto.start(settings)
    subject = f"member:{member_id}"
    found = latest(settings, topics.MEMBERS, member_id)
    if found is None or found[0] is None:
        if sealer.keys.is_shredded(subject):
            print(f"member {member_id} was already shredded")
            return EXIT_OK
        print(f"error: no member {member_id}", file=sys.stderr)
        return EXIT_REFUSED
    prod = producer(settings)
    try:
        record_sync(settings, CLI, "member.shred", member_id, producer=prod, via="cli")
        # The tombstone first: the member leaves every worker's list (and every audience) at once.
        prod.send(topics.full_name(topics.MEMBERS, settings.topic_prefix), key=member_id.encode(),
                  value=None).get(timeout=30)
    finally:
        prod.close()
    destroyed = sealer.keys.shred([subject], reason.strip()[:200] or "erasure request")
    print(f"shredded member {member_id}: removed from the member list, {destroyed} data key(s) destroyed")
    return EXIT_OK


def _guarded(work) -> int:
    from kafka.errors import KafkaError

    from streams.admin import KafkaUnavailable
    from streams.crypto import KeyError_

    try:
        return work()
    except (KafkaUnavailable, KafkaError, TimeoutError) as exc:
        print(f"error: Kafka: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NO_KAFKA
    except KeyError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def run_case(args: argparse.Namespace) -> int:
    """Carry out `cases shred`."""
    from streams.settings import get_settings

    return _guarded(lambda: shred_case(get_settings(), args.case_id, args.reason, args.timeout))


def run_member(args: argparse.Namespace) -> int:
    """Carry out `members shred`."""
    from streams.settings import get_settings

    return _guarded(lambda: shred_member(get_settings(), args.member_id, args.reason))
