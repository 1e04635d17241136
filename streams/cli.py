"""The `solidarity` command line."""

from __future__ import annotations

import argparse
import sys

from pydantic import ValidationError

from streams.commands import (
    audit_cmd, classify_cmd, keys_cmd, members_cmd, report_cmd, sandbox_cmd, shred_cmd, tokens_cmd, topics_cmd,
    worker_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="solidarity", description="Rapid-response alerts for human rights defenders.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (worker_cmd, topics_cmd, keys_cmd, tokens_cmd, report_cmd, classify_cmd, members_cmd, sandbox_cmd,
                   audit_cmd, shred_cmd):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; a setting that does not validate is named, without a traceback."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except ValidationError as exc:
        if exc.title not in ("Settings", "TwilioSettings", "SenderSettings"):
            raise
        print(f"solidarity: {exc.error_count()} setting(s) not valid:", file=sys.stderr)
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"])
            names = []
            for part in error["loc"][:2]:
                if isinstance(part, int):
                    break
                names.append(str(part).upper())
            env = "SOLIDARITY_" + "__".join(names)
            print(f"  {where} ({env}): {error['msg']}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
