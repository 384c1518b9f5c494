#!/usr/bin/env bash
# Side by side with the Python peer (../shared/peers: grpcio + ONNX Runtime serving the seed's LSTM), same run,
# same client (h2load), same 50 readings: gRPC PredictRUL with 1 request in flight and with 64, and REST /predict
# the same way. Our side serves MODEL (the plan's LSTM trained with scripts/plan_lstm.toml for a like-for-like
# comparison) with the prediction cache off and a scratch SQLite store. Prints one line per run.
#
# Usage: scripts/peer_compare.sh RUL_BINARY MODEL_DIR [REQUESTS]
# Needs: h2load (apt-get install nghttp2-client); the peer's virtual environment at $PEER_VENV (default
# ~/.peer-venv: python3 -m venv ~/.peer-venv && ~/.peer-venv/bin/pip install fastapi uvicorn onnxruntime numpy
# grpcio grpcio-tools); CMAPSS_DIR (default ../shared/data/cmapss).
set -euo pipefail
bin=$1
model=$2
requests=${3:-20000}
venv=${PEER_VENV:-$HOME/.peer-venv}
root=$(cd "$(dirname "$0")/.." && pwd)
peers=${PEERS_DIR:-$root/../shared/peers}
cmapss=${CMAPSS_DIR:-$root/../shared/data/cmapss}
scratch=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_grpc() { # url body: until a call answers grpc-status 0
  for _ in $(seq 1 300); do
    if curl -s --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' --data-binary "@$2" \
      -D - -o /dev/null "$1" 2>/dev/null | grep -q '^grpc-status: 0'; then return 0; fi
    sleep 0.1
  done
  echo "no successful gRPC answer from $1" >&2
  return 1
}

"$venv/bin/python" "$root/scripts/peer_bodies.py" "$cmapss" "$root/proto/rul/v1/prediction.proto" \
  "$peers/prediction.proto" "$scratch/bodies"

peer_grpc=$(port)
peer_http=$(port)
(cd "$peers" && MODEL_ONNX="$peers/seed_fd001_w50.onnx" CMAPSS_DIR="$cmapss" TARGET_SCALE=125 \
  exec "$venv/bin/python" grpc_ort.py "$peer_grpc" >"$scratch/peer_grpc.log" 2>&1) &
pids+=($!)
(cd "$peers" && MODEL_ONNX="$peers/seed_fd001_w50.onnx" CMAPSS_DIR="$cmapss" TARGET_SCALE=125 \
  exec "$venv/bin/uvicorn" fastapi_ort:app --host 127.0.0.1 --port "$peer_http" --log-level warning \
  >"$scratch/peer_http.log" 2>&1) &
pids+=($!)
our_grpc=$(port)
our_http=$(port)
started=$(date +%s.%N)
DATABASE_URL="sqlite://$scratch/rul.db" HOST=127.0.0.1 HTTP_PORT="$our_http" GRPC_PORT="$our_grpc" LOG_LEVEL=warn \
  CACHE_CAPACITY=0 "$bin" serve --model-path "$model" >"$scratch/ours.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 3000); do
  curl -sf "http://127.0.0.1:$our_http/ready" >/dev/null && break
  kill -0 "${pids[2]}" 2>/dev/null || { cat "$scratch/ours.log" >&2; exit 1; }
  sleep 0.01
done
echo "ours: start to ready $(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 3))" \
  "$started" "$(date +%s.%N)") s (polled every 10 ms)"
ours_url="http://127.0.0.1:$our_grpc/rul.v1.PredictionService/PredictRUL"
peer_url="http://127.0.0.1:$peer_grpc/PredictionService/PredictRUL"
wait_grpc "$ours_url" "$scratch/bodies/ours.grpc" || { cat "$scratch/ours.log" >&2; exit 1; }
wait_grpc "$peer_url" "$scratch/bodies/peer.grpc" || { cat "$scratch/peer_grpc.log" >&2; exit 1; }
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$peer_http/health" >/dev/null && break; sleep 0.1; done

# One h2load run, one line: side, transport, requests in flight, requests/s, mean latency, succeeded, failed.
# gRPC spreads the in-flight requests over up to 8 HTTP/2 connections; REST uses one HTTP/1.1 connection each.
run() { # side transport url body in_flight
  local side=$1 transport=$2 url=$3 body=$4 inflight=$5 args
  if [ "$transport" = grpc ]; then
    local conns=$((inflight < 8 ? inflight : 8))
    args=(-c "$conns" -m $((inflight / conns)) -H 'content-type: application/grpc' -H 'te: trailers')
  else
    args=(--h1 -c "$inflight" -m 1 -H 'content-type: application/json')
  fi
  local out
  out=$(h2load -n "$requests" "${args[@]}" -d "$body" "$url" 2>&1)
  printf '%-4s %-4s in flight %-3s %10s req/s  mean %-8s  %s\n' "$side" "$transport" "$inflight" \
    "$(awk '/^finished in/ {print $4}' <<<"$out")" "$(awk '/^time for request:/ {print $6}' <<<"$out")" \
    "$(grep '^requests:' <<<"$out" | cut -d, -f4-5)"
}
for round in 1 2; do
  echo "round $round"
  for inflight in 1 64; do
    run ours grpc "$ours_url" "$scratch/bodies/ours.grpc" "$inflight"
    run peer grpc "$peer_url" "$scratch/bodies/peer.grpc" "$inflight"
    run ours rest "http://127.0.0.1:$our_http/predict" "$scratch/bodies/predict.json" "$inflight"
    run peer rest "http://127.0.0.1:$peer_http/predict" "$scratch/bodies/predict.json" "$inflight"
  done
done
grep -E '^(VmRSS|VmHWM)' /proc/"${pids[2]}"/status | tr -s ' \t' ' ' | sed 's/^/ours after the runs: /'
# Answers that were not a success on our side (h2load counts HTTP 200, and gRPC errors travel in trailers).
curl -s "http://127.0.0.1:$our_http/metrics" | grep -E '^rul_requests_total' | grep -v -E 'status="(OK|ok|0|200)"' \
  | sed 's/^/ours non-success: /' || true
