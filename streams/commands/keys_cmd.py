"""`solidarity keys init|status|rotate`: the key file, the data keys it wraps, and rotating the KEK."""

from __future__ import annotations

import argparse
import sys
import time


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("keys", help="create the key file, show the data keys, rotate the key-encryption key")
    ksub = p.add_subparsers(dest="action", required=True)
    i = ksub.add_parser("init", help="create the key file (a KEK, the blind-index key, the audit key) if missing")
    i.add_argument("--file", help="where (default: SOLIDARITY_CRYPTO__KEY_FILE, or .local/keys/dev-keys.json)")
    ksub.add_parser("status", help="the KEKs known and how many data keys each wraps")
    r = ksub.add_parser("rotate", help="add a new KEK, re-wrap every data key with it, then retire the old ones")
    r.add_argument("--keep-old", action="store_true", help="keep the old KEKs in the key file after the re-wrap")
    r.add_argument("--add-only", action="store_true", help=(
        "only add the next KEK (not yet used to wrap): give the key file to every worker, then run rotate again "
        "(workers on several hosts: each must be able to open keys wrapped by the new KEK before any is)"))
    r.add_argument("--finish", action="store_true", help=(
        "add no KEK: re-wrap what is still under an old KEK with the primary, then retire the old ones (after a "
        "`--keep-old` rotation, once every worker has the new key file)"))
    r.add_argument("--grace", type=float, default=5.0,
                   help="seconds to wait for running workers to pick the new KEK up before the last pass (5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from streams.crypto.keyring import KeyError_, init_key_file
    from streams.settings import get_settings

    settings = get_settings()
    if args.action == "init":
        path = Path(args.file) if args.file else settings.key_file
        if init_key_file(path):
            print(f"created {path} (owner-only). Back it up somewhere safe: without it nothing sealed can be read.")
        else:
            print(f"{path} already exists; left unchanged")
        return 0
    try:
        if args.action == "status":
            return status(settings)
        return rotate(settings, keep_old=args.keep_old, grace=args.grace, add_only=args.add_only, finish=args.finish)
    except KeyError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _start(settings):
    from streams import crypto
    from streams.admin import ensure_topics

    ensure_topics(settings)
    return crypto.start(settings)


def status(settings) -> int:
    from collections import Counter

    sealer = _start(settings)
    ring, keys = sealer.keys.ring, sealer.keys
    by_kek = Counter(wk.kek_id for wk in keys.keys())
    print(f"key file: {ring.path or '(environment secret or KMS)'}")
    for kek_id in sorted(set(ring.keks) | set(by_kek)):
        mark = " (primary)" if kek_id == ring.primary.kek_id else "" if kek_id in ring.keks else " (NOT KNOWN HERE)"
        print(f"  KEK {kek_id}{mark}: wraps {by_kek.get(kek_id, 0)} data keys")
    kinds = Counter(s.split(":", 1)[0] for s in keys.subjects())
    print(f"data keys: {len(keys.keys())} for {len(keys.subjects())} subjects "
          f"({', '.join(f'{n} {k}' for k, n in sorted(kinds.items())) or 'none'}); shredded: {len(keys.shredded())}")
    return 0


def rotate(settings, keep_old: bool, grace: float, add_only: bool = False, finish: bool = False) -> int:
    """Add a KEK (or take the one added by --add-only), re-wrap every data key with it (twice: workers may make keys
    meanwhile), retire the old ones."""
    import secrets
    from datetime import datetime, timezone

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from streams.crypto.keyring import KeyError_, _b64, read_key_file, write_key_file

    if settings.crypto.kek is not None or settings.crypto.kms:
        raise KeyError_("rotation re-writes the key file; with SOLIDARITY_CRYPTO__KEK or a KMS, rotate the key "
                        "there (the KMS keeps old versions for reading) and run `solidarity keys rotate` with a "
                        "key file holding both")
    import json
    path = settings.key_file
    read_key_file(path)  # a clear error if it is missing or broken
    content = json.loads(path.read_text())
    waiting = [k["id"] for k in content["keks"] if k.get("next")]
    if finish:
        new_id = content["primary"]
    elif waiting:
        new_id = waiting[-1]
    else:
        new_id = f"kek-{datetime.now(timezone.utc):%Y%m%d}-{secrets.token_hex(4)}"
        content["keks"].append({"id": new_id, "key": _b64(secrets.token_bytes(32)), "next": True,
                                "created_at": datetime.now(timezone.utc).isoformat()})
    if add_only:
        write_key_file(path, content)
        print(f"added KEK {new_id}, not used yet: copy {path} to every worker, then run `solidarity keys rotate`")
        return 0
    old_ids = [k["id"] for k in content["keks"] if k["id"] != new_id]
    for k in content["keks"]:
        k.pop("next", None)
    content["primary"] = new_id
    write_key_file(path, content)
    print(f"KEK {new_id} is primary; old ones still open data keys until the re-wrap is done")
    sealer = _start(settings)
    keys = sealer.keys
    keys.ring.reload()
    console = Console(stderr=True)
    total = 0
    for attempt in (1, 2):
        todo = sum(1 for wk in keys.keys() if wk.kek_id != new_id)
        with Progress(TextColumn(f"re-wrapping data keys (pass {attempt})"), BarColumn(), MofNCompleteColumn(),
                      console=console, transient=not console.is_terminal) as progress:
            task = progress.add_task("rewrap", total=todo)
            total += keys.rewrap(progress=lambda n: progress.advance(task, n))
        if attempt == 1:
            # Running workers stat the key file before each key they make; give them time to switch.
            time.sleep(grace)
    left = [wk for wk in keys.keys() if wk.kek_id != new_id]
    if left:
        print(f"error: {len(left)} data keys are still wrapped by an old KEK; the old KEKs are kept", file=sys.stderr)
        return 1
    if not keep_old:
        content["keks"] = [k for k in content["keks"] if k["id"] == new_id]
        write_key_file(path, content)
    _audit(settings, new_id, old_ids, total, keep_old)
    print(f"re-wrapped {total} data keys with {new_id}; "
          + ("old KEKs kept" if keep_old else f"retired {', '.join(old_ids)}"))
    return 0


def _audit(settings, new_id: str, old_ids: list[str], count: int, kept: bool) -> None:
    try:
        from streams.audit import record_sync
    except ImportError:  # the audit trail is not part of this build
        return
    record_sync(settings, "cli", "keys.rotate", new_id, rewrapped=count, retired=[] if kept else old_ids)
