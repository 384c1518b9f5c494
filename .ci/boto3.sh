#!/usr/bin/env bash
# SageMaker container contract through an independent client: starts `rul serve --sagemaker` on a free loopback
# port and runs .ci/boto3_invocations.py, which calls it through boto3's sagemaker-runtime client via a loopback
# stand-in of the SageMaker runtime.
#
# Usage: .ci/boto3.sh <path/to/rul> <model-artifact-dir>
# Without boto3 importable it skips (exit 0), unless $CI is set: then a missing boto3 fails.
# Exit status: the script's (0 = every check passed); 2 for bad usage or a server that never answered /ping.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "$#" -eq 2 ] || { echo "usage: $0 <path/to/rul> <model-artifact-dir>" >&2; exit 2; }
[ -x "$1" ] || { echo "boto3: $1 is not an executable rul binary" >&2; exit 2; }
[ -d "$2" ] || { echo "boto3: $2 is not a model artifact directory" >&2; exit 2; }
rul_bin="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
model_dir="$(cd "$2" && pwd)"
script="$(cd "$(dirname "$0")" && pwd)/boto3_invocations.py"

if ! python3 -c 'import boto3' 2>/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "boto3: not importable but CI is set; install it with: pip install boto3" >&2
    exit 1
  fi
  echo "boto3: SKIPPED - boto3 is not installed (pip install boto3); set CI=1 to make this an error"
  exit 0
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rul-boto3.XXXXXX")"
server_pid=""
cleanup() {
  stop_gracefully "$server_pid"
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
base="http://127.0.0.1:$port"
cd "$work"
# Container mode as the image runs it (RUL_SAGEMAKER=1), on a free port; no AWS credentials are involved.
env -u MODEL_PATH -u HTTP_PORT -u SAGEMAKER_ENDPOINT RUL_SAGEMAKER=1 HOST=127.0.0.1 GRPC_PORT=0 LOG_LEVEL=warn \
  "$rul_bin" serve --port "$port" --model "$model_dir" >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 60))
until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/ping" 2>/dev/null; do
  if ! kill -0 "$server_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
    echo "boto3: rul serve --sagemaker never answered /ping on $base; its log:" >&2
    tail -n 40 "$work/server.log" >&2 || true
    exit 2
  fi
  sleep 0.5
done
echo "boto3: rul serve --sagemaker ready on $base (model $model_dir)"
python3 "$script" "$base"
