#!/usr/bin/env bash
# Contract test of the REST API: runs schemathesis (`st`) against a live `rul serve`, checking that no request gets a
# 5xx and that every answer matches GET /openapi.json (statuses, bodies, content types, auth on /admin/reload).
#
# Usage: .ci/schemathesis.sh <path/to/rul> <model-artifact-dir> [extra `st run` arguments...]
#   e.g. .ci/schemathesis.sh target/release/rul models/fd001
# Without `st` on PATH it skips (exit 0), unless $CI is set: then a missing `st` fails.
# Install it with `pip install schemathesis` (tested with 4.32.5).
# Exit status: st's (0 = no failures); 1 if st passed but the server died or can no longer reload MODEL_PATH;
# 2 for bad usage or a server that never became ready.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() {
  echo "usage: $0 <path/to/rul> <model-artifact-dir> [extra st run arguments...]" >&2
  exit 2
}
[ "$#" -ge 2 ] || usage
[ -x "$1" ] || { echo "schemathesis: $1 is not an executable rul binary" >&2; exit 2; }
[ -d "$2" ] || { echo "schemathesis: $2 is not a model artifact directory" >&2; exit 2; }
rul_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
model_dir="$(cd "$2" && pwd)"
shift 2

if ! command -v st >/dev/null 2>&1; then
  if [ -n "${CI:-}" ]; then
    echo "schemathesis: 'st' is not installed but CI is set; install it with: pip install schemathesis" >&2
    exit 1
  fi
  echo "schemathesis: SKIPPED - 'st' is not installed (pip install schemathesis); set CI=1 to make this an error"
  exit 0
fi
command -v python3 >/dev/null 2>&1 || { echo "schemathesis: python3 is needed to pick a port" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/rul-schemathesis.XXXXXX")"
server_pid=""
st_pid=""
cleanup() {
  if [ -n "$st_pid" ]; then
    kill -TERM "$st_pid" 2>/dev/null || true
    wait "$st_pid" 2>/dev/null || true
  fi
  stop_gracefully "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port (there is a small race until the server binds it; a clash shows up as "never ready").
port="$(free_port)"
token="$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
base="http://127.0.0.1:$port"

# The server runs in the scratch directory, so nothing it or st writes lands in the checkout.
cd "$work"
HOST=127.0.0.1 HTTP_PORT="$port" GRPC_PORT=0 ADMIN_TOKEN="$token" MODEL_PATH="$model_dir" LOG_LEVEL=warn \
  "$rul_bin" serve >"$work/server.log" 2>&1 &
server_pid=$!

ready=""
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    break
  fi
  if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/ready" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "schemathesis: rul serve did not become ready on $base within 60 s; the end of its log:" >&2
    tail -n 40 "$work/server.log" >&2 || true
  else
    echo "schemathesis: rul serve exited before becoming ready; the start of its log:" >&2
    head -n 40 "$work/server.log" >&2 || true
  fi
  exit 2
fi
echo "schemathesis: rul serve ready on $base (model $model_dir)"

# Statuses the schema documents but cannot predict from the request alone, allowed for schema-valid requests:
# - POST /predict: 422 when the readings do not suit the loaded model. Which sensors are required, and their
#   plausible ranges (learned from training data), depend on the model, so a static schema can't express them;
#   refusing an implausible value is intended behaviour, documented as the 422 response.
# - POST /admin/reload: 422 when model_path (schema: an absolute path) holds no loadable artifact; the previous
#   model keeps serving. An empty body or {} reloads MODEL_PATH, which must succeed (200).
# - POST /engines/{engine_id}/readings: 422 for readings the loaded model refuses, as for POST /predict (the fleet
#   store is a SQLite file in the scratch directory). The `{engine_id}` path parameter carries the engine-id rule
#   as a pattern (generated from rul_core's table); Python's `$` also matches before a final newline, which the
#   rule refuses, so PUT /engines/{engine_id} keeps 422 too.
# - POST /alerts/{alert_id}/ack: 422 for a `who` of only whitespace or a `who`/`note` with control characters
#   (the schema gives lengths; JSON Schema has no portable "printable" constraint).
# The bearer token reaches st through its environment (the config's ${...} placeholder), not its command line.
cat >"$work/schemathesis.toml" <<'TOML'
headers = { Authorization = "Bearer ${RUL_SCHEMATHESIS_TOKEN}" }

[[operations]]
include-name = "POST /predict"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "422"]

[[operations]]
include-name = "POST /engines/{engine_id}/readings"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "422"]

[[operations]]
include-name = "PUT /engines/{engine_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "422"]

[[operations]]
include-name = "POST /alerts/{alert_id}/ack"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "422"]

[[operations]]
include-name = "POST /admin/reload"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "422"]
TOML

# Every check runs; none is excluded. GET /events is left out: it is an endless text/event-stream (live fleet
# changes), which st would read until its timeout; crates/rul-server/tests/dashboard.rs tests it. The generation database is off, so each run is independent and writes
# nothing (pass st's --seed as an extra argument to replay a run). st runs in the background so that a signal
# to this script is handled at once (the EXIT trap then stops st and the server).
status=0
RUL_SCHEMATHESIS_TOKEN="$token" st --config-file "$work/schemathesis.toml" run "$base/openapi.json" \
  --checks all \
  --max-examples 25 \
  --generation-database none \
  --exclude-path /events \
  "$@" &
st_pid=$!
wait "$st_pid" || status=$?
st_pid=""

# The reload route must still reload the configured model after the fuzzing (nothing generated may break it).
if ! RUL_SCHEMATHESIS_TOKEN="$token" python3 - "$base/admin/reload" <<'PY'
import os, sys, urllib.request
token = os.environ["RUL_SCHEMATHESIS_TOKEN"]
request = urllib.request.Request(sys.argv[1], method="POST", headers={"Authorization": "Bearer " + token})
with urllib.request.urlopen(request, timeout=60) as answer:
    sys.exit(0 if answer.status == 200 else 1)
PY
then
  echo "schemathesis: reloading MODEL_PATH after the run failed" >&2
  [ "$status" -ne 0 ] || status=1
fi
if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "schemathesis: rul serve exited during the run; its log:" >&2
  tail -n 40 "$work/server.log" >&2 || true
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
