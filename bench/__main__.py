"""`python -m bench [pipeline|fanout|latency|escalation|memory|restart|scaling|drills|failover|all] [options]`:
benchmarks and fault drills."""

from __future__ import annotations

import argparse
import sys


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("what", nargs="*", default=["pipeline", "fanout", "latency", "memory", "restart"],
                   choices=["pipeline", "fanout", "latency", "escalation", "memory", "restart", "scaling", "drills",
                            "failover", "all"])
    p.add_argument("--runs", type=int, default=3, help="repetitions per benchmark (medians are reported)")
    p.add_argument("--reports", type=int, default=50_000, help="pipeline: reports pre-loaded on the intake topic")
    p.add_argument("--members", type=int, default=10_000, help="fan-out: members of the call to action")
    p.add_argument("--throttled-members", type=int, default=2_000,
                   help="fan-out: members for the throttled run through three senders of different limits")
    p.add_argument("--naive-messages", type=int, default=300,
                   help="fan-out: SMS of the naive sequential loop (its rate does not depend on the count)")
    p.add_argument("--api-latency-ms", type=float, default=150.0,
                   help="fan-out: the sandbox's API latency for the naive loop and the pooled Solidarity run")
    p.add_argument("--api-jitter-ms", type=float, default=20.0, help="fan-out: uniform jitter added to the latency")
    p.add_argument("--alerts", type=int, default=200, help="latency: critical reports per load level")
    p.add_argument("--load", type=float, default=1_000.0, help="latency: background reports/s")
    p.add_argument("--escalation-cases", type=int, default=20, help="escalation: critical reports per load level")
    p.add_argument("--escalation-members", type=int, default=10_000, help="escalation: members of the fan-out load")
    p.add_argument("--memory-members", type=int, default=100_000,
                   help="memory: members loaded and fanned out to; restart: members loaded")
    p.add_argument("--settled", type=int, default=1_000_000,
                   help="restart: settled notifications written to the ledger's changelog")
    p.add_argument("--profile", type=int, default=20, help="seconds of py-spy sampling in the last run (0: none)")
    p.add_argument("--kills", type=int, default=10, help="drills: SIGKILLs during the fan-out")
    p.add_argument("--drill-members", type=int, default=2_000, help="drills: members of the killed fan-out")
    p.add_argument("--malformed", type=int, default=10_000, help="drills: malformed reports (API + topic)")
    p.add_argument("--no-broker", action="store_true", help="drills: leave out the broker restart")
    p.add_argument("--scaling-reports", type=int, default=20_000, help="scaling: reports per pipeline run")
    p.add_argument("--scaling-members", type=int, default=5_000, help="scaling: members per fan-out run")
    p.add_argument("--failover-reports", type=int, default=1_000, help="failover: reports while a broker is stopped")
    p.add_argument("--encryption", choices=["on", "off"], default="on", help=(
        "off: workers keep personal fields in the clear, to measure what sealing costs (results saved as -clear)"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run what was asked, in order."""
    args = parse(argv)
    if args.encryption == "off":
        import os
        # Read by the workers the benchmarks start (they inherit the environment) and by this process's sealer.
        os.environ["SOLIDARITY_CRYPTO__ENABLED"] = "false"
    everything = ["pipeline", "fanout", "latency", "escalation", "memory", "restart", "scaling", "drills"]
    what = everything if "all" in args.what else args.what
    for name in what:
        if name == "pipeline":
            from bench.pipeline import main as run
            run(reports=args.reports, runs=args.runs, profile_seconds=args.profile)
        elif name == "fanout":
            from bench.fanout import main as run
            run(members=args.members, throttled_members=args.throttled_members, runs=args.runs,
                profile_seconds=args.profile, naive_messages=args.naive_messages, api_latency_ms=args.api_latency_ms,
                api_jitter_ms=args.api_jitter_ms)
        elif name == "latency":
            from bench.latency import main as run
            run(alerts=args.alerts, load=args.load, runs=args.runs)
        elif name == "escalation":
            from bench.escalation import main as run
            run(cases=args.escalation_cases, members=args.escalation_members, runs=args.runs)
        elif name == "memory":
            from bench.memory import main as run
            run(members=args.memory_members)
        elif name == "restart":
            from bench.restart import main as run
            run(members=args.memory_members, settled=args.settled, runs=args.runs, profile_seconds=args.profile)
        elif name == "drills":
            from bench.drills import main as run
            run(kills=args.kills, members=args.drill_members, malformed=args.malformed, broker=not args.no_broker)
        if name in ("drills", "failover"):  # `bench drills` (make drills) runs the multi-worker drills too
            from bench.failover import main as run
            run(kills=args.kills, members=args.drill_members, reports=args.failover_reports)
        elif name == "scaling":
            from bench.scaling import main as run
            run(reports=args.scaling_reports, members=args.scaling_members)
    return 0


if __name__ == "__main__":
    sys.exit(main())
