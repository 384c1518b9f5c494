#!/usr/bin/env bash
# Memory under many large gRPC messages: starts `rul serve` on free loopback ports with a scratch SQLite store,
# runs `rul bench burst` against it (32 connections x 32 concurrent PredictRUL calls of ~4 MB, 2 rounds), prints
# the report (answers by status, server RSS before / peak / at end / after settling), then stops the server.
#
# Usage: scripts/burst.sh [RUL_BINARY] [VAR=value ...]   e.g. scripts/burst.sh target/release/rul MAX_INFLIGHT_BYTES=33554432
set -euo pipefail
bin=${1:-target/debug/rul}
shift || true
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http=$(port)
grpc=$(port)
env "$@" DATABASE_URL="sqlite://$scratch/rul.db" HOST=127.0.0.1 HTTP_PORT="$http" GRPC_PORT="$grpc" LOG_LEVEL=warn \
  "$bin" serve --model-path models/fd001 >"$scratch/log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$http/ready" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$scratch/log"; exit 1; }
  sleep 0.1
done
"$bin" bench burst --grpc "127.0.0.1:$grpc" --server-pid "$pid" --settle-secs "${SETTLE_SECS:-35}"
kill -TERM "$pid"
wait "$pid"
