#!/usr/bin/env bash
# make dev: start Kafka (if needed) and the worker with demo data; Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_system.sh --no-browser
BIN=.venv/bin
export SOLIDARITY_DATA_DIR="${SOLIDARITY_DATA_DIR:-$PWD/.local/dev}"
PORT="${SOLIDARITY_WEB__PORT:-6066}"
URL="http://127.0.0.1:${PORT}"
SANDBOX="${SOLIDARITY_TWILIO__BASE_URL:-http://127.0.0.1:8025}"
# The demo's on-call rotation and a 2-minute escalation (deploy/demo/): watch a page nobody acknowledges escalate.
export SOLIDARITY_ESCALATION__SCHEDULES_FILE="${SOLIDARITY_ESCALATION__SCHEDULES_FILE:-$PWD/deploy/demo/oncall.yaml}"
export SOLIDARITY_ESCALATION__POLICIES_FILE="${SOLIDARITY_ESCALATION__POLICIES_FILE:-$PWD/deploy/demo/escalation.yaml}"
REPORTER_PHONE="+50499990001"
pids=()
started_kafka=0

cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping…"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ "$started_kafka" = 1 ] && python3 deploy/kafka/broker.py stop || true
  echo "stopped."
}
trap cleanup INT TERM EXIT

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ] && ! python3 deploy/kafka/broker.py status >/dev/null 2>&1; then
  python3 deploy/kafka/broker.py start >/dev/null
  started_kafka=1
fi
$BIN/solidarity topics ensure
# The development key file (KEKs, blind-index and audit keys) under .local/keys: every personal field is sealed
# with data keys it wraps. Production refuses it: see SECURITY.md.
$BIN/solidarity keys init

mkdir -p .local/logs
$BIN/solidarity sandbox >.local/logs/sandbox.log 2>&1 &
pids+=($!)
$BIN/solidarity worker >.local/logs/worker.log 2>&1 &
pids+=($!)
for _ in $(seq 120); do curl -fs "$URL/healthz" >/dev/null 2>&1 && break; sleep 0.5; done
curl -fs "$URL/healthz" >/dev/null || { echo "worker did not start; see .local/logs/worker.log"; tail -20 .local/logs/worker.log; exit 1; }

REPORTER=$($BIN/solidarity tokens create --role reporter --name demo-reporter --phone "$REPORTER_PHONE" --language es 2>/dev/null)
SECRETARIAT=$($BIN/solidarity tokens create --role secretariat --name demo-secretariat)
METRICS=$($BIN/solidarity tokens create --role metrics --name prometheus)
for _ in $(seq 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SECRETARIAT" "$URL/api/v1/cases")
  [ "$code" = 200 ] && break; sleep 0.5
done
echo "Demo members:"
$BIN/solidarity members import deploy/demo/members.csv
for _ in $(seq 60); do
  n=$(curl -s -H "Authorization: Bearer $SECRETARIAT" "$URL/api/v1/members" | $BIN/python -c 'import json,sys; print(json.load(sys.stdin).get("count", 0))' 2>/dev/null || echo 0)
  [ "$n" -ge 500 ] && break; sleep 0.5
done
echo "Demo reports:"
$BIN/python scripts/demo_reports.py "$URL" "$REPORTER"

cat <<TXT

  Solidarity is running at $URL   (logs: .local/logs/)
  SMS/email sandbox:          $SANDBOX/sandbox/   (every member's phone and mailbox; reply as a member)

  reporter token:    $REPORTER
  secretariat token: $SECRETARIAT
  metrics token:     $METRICS   (curl -H "Authorization: Bearer $METRICS" $URL/metrics)

  curl -H "Authorization: Bearer $SECRETARIAT" $URL/api/v1/cases
  curl -H "Authorization: Bearer $SECRETARIAT" $URL/api/v1/oncall     (who is on call now)
  $URL/healthz

  Paging: the critical demo report paged the primary on call (see the dashboard's "On call now"). Nobody
  answers, so the secondary is paged 2 minutes later. On the sandbox page, reply "ACK <reference>" from the
  primary's phone to stop it; the case history shows every page and the acknowledgement.
  SMS reports: text "ALERTA desaparicion PE Lima: ..." from $REPORTER_PHONE on the sandbox page (a registered
  reporter phone); the service asks for consent, then answers with the reference. "ESTADO <reference>" for news.

  Referral: open the Kenyan or Egyptian demo case (consent "mechanisms"), "Refer to a mechanism", pick the UN
  Special Rapporteur on human rights defenders and "Send by email now": the sandbox's mailbox
  defenders@un-sr-hrd.example.org shows the email with the packet as a PDF (open it from the sandbox page).
  Sign-on letter: verify the Mexican case, "New call to action", kind sign-on letter, fill in the target (any
  name and email, e.g. ministra@gobernacion.example.mx) and approve. Reply FIRMO from a member's phone on the
  sandbox page, or open the "Sign ... with one click" link in a member's mailbox; the action page counts both,
  downloads the letter PDF and "Send it to the target now" delivers it to the target's mailbox.
  Dashboard languages: the switch in the top bar (English, Español, Français, العربية, Português).

  Ctrl-C stops everything.
TXT
wait "${pids[1]}"
