"""`solidarity sandbox`: the Twilio-compatible SMS gateway and SMTP sink, wired to this deployment's settings."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register the subcommand."""
    p = sub.add_parser("sandbox", help="run the SMS/email sandbox for development and drills")
    p.add_argument("--faults", default=None, help='initial faults as JSON, e.g. {"error_rate": 0.2}')
    p.add_argument("--seed", type=int, default=0, help="seed of the fault generator")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve the sandbox on the ports the worker's settings point at, until Ctrl-C."""
    from urllib.parse import urlparse

    from sandbox.server import main as sandbox_main
    from streams.settings import get_settings

    s = get_settings()
    api = urlparse(s.twilio.base_url)
    argv = ["--host", api.hostname or "127.0.0.1", "--http-port", str(api.port or 8025),
            "--smtp-port", str(s.smtp.port), "--account-sid", s.twilio.account_sid,
            "--auth-token", s.twilio.auth_token.get_secret_value(),
            "--inbound-webhook-url", f"{s.web.public_url.rstrip('/')}/webhooks/twilio/sms", "--seed", str(args.seed)]
    if args.faults:
        argv += ["--faults", args.faults]
    print(f"sandbox: {s.twilio.base_url}/sandbox/  (SMTP 127.0.0.1:{s.smtp.port})", flush=True)
    sandbox_main(argv)
    return 0
