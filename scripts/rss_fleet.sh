#!/bin/bash
# 10,000-engine replay: server RSS right after, peak, 40 s later; then restart and rebuild.
set -u
BIN=${1:-target/release/rul}
D=$(mktemp -d)
cd "$(dirname "$0")/.."
export CMAPSS_DIR=${CMAPSS_DIR:-../shared/data/cmapss}
DATABASE_URL=sqlite://$D/rul.db GRPC_PORT=50161 HTTP_PORT=8161 $BIN serve > $D/serve.log 2>&1 &
PID=$!
for i in $(seq 1 100); do curl -sf localhost:8161/ready >/dev/null && break; sleep 0.2; done
/usr/bin/time -f "%e s" $BIN replay --subset FD001 --split test --to grpc --rate max --copies 100 --cycles 40 --grpc 127.0.0.1:50161 2>&1 | tail -n 4
grep -E "VmRSS|VmHWM" /proc/$PID/status
sleep 40
echo "40 s later:"; grep -E "VmRSS|VmHWM" /proc/$PID/status
curl -s 'localhost:8161/engines?limit=1' | head -c 300; echo
kill -TERM $PID; wait $PID
DATABASE_URL=sqlite://$D/rul.db GRPC_PORT=50161 HTTP_PORT=8161 $BIN serve > $D/serve2.log 2>&1 &
PID=$!
S=$(date +%s.%N)
for i in $(seq 1 300); do curl -sf localhost:8161/ready >/dev/null && break; sleep 0.05; done
E=$(date +%s.%N); echo "restart ready in $(echo "$E - $S" | bc) s"
grep -E "VmRSS|VmHWM" /proc/$PID/status
kill -TERM $PID; wait $PID
rm -rf $D
