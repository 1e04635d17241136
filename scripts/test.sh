#!/usr/bin/env bash
# Start Kafka if needed (and stop it afterwards if we started it), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system.sh
started=0
if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] && ! python3 deploy/kafka/broker.py status >/dev/null 2>&1; then
  python3 deploy/kafka/broker.py start >/dev/null
  started=1
fi
cleanup() { [ "$started" = 1 ] && python3 deploy/kafka/broker.py stop >/dev/null || true; }
trap cleanup EXIT
# Every worker the tests start seals with the development key file (made once, before workers race to make it).
.venv/bin/solidarity keys init >/dev/null
# The 25 slowest tests are listed at the end: make test must stay well under 30 minutes.
.venv/bin/pytest -p no:cacheprovider --durations=25 "$@"
