#!/bin/bash
# page_size.sh BUILD PAGE_SIZE [SECS]: WAL bytes per order and the create
# rate of a store of PAGE_SIZE-byte pages (docs/performance.md, "Page
# size"). The bench's 10,000-order store is made as `make bench` makes it,
# rewritten at that page size (PRAGMA page_size; VACUUM), served, and
# loaded by loadgen (C connections x D in flight, default 32 x 2) for SECS
# seconds (8); prints loadgen's line and WAL bytes / orders, with the
# orders a commit, from the server's /metrics. Run the sizes alternately:
# the machine's speed drifts within minutes.
set -euo pipefail
BUILD=${1:?usage: page_size.sh BUILD PAGE_SIZE [SECS]}
PAGE=${2:?usage: page_size.sh BUILD PAGE_SIZE [SECS]}
SECS=${3:-8}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/corder-pagesize.XXXXXX)
trap 'kill "${SRV:-}" 2>/dev/null || true; rm -rf "$TMP"' EXIT
"$BUILD/corder" init --db "$TMP/s.db" --seed "$ROOT/tests/bench/seed.json" >/dev/null
sqlite3 "$TMP/s.db" "PRAGMA journal_mode=DELETE; PRAGMA page_size=$PAGE; VACUUM;
    PRAGMA journal_mode=WAL;" >/dev/null
"$BUILD/prefill" "$TMP/s.db" 10000 "$ROOT/tests/bench/policies" >/dev/null
"$BUILD/corder" serve --db "$TMP/s.db" --policies "$ROOT/tests/bench/policies" \
    --listen 127.0.0.1:0 --http 127.0.0.1:0 >"$TMP/out" 2>"$TMP/err" &
SRV=$!
for _ in $(seq 100); do grep -q 'http on' "$TMP/out" 2>/dev/null && break; sleep 0.05; done
PORT=$(sed -n 's/^corder listening on .*:\([0-9]*\)$/\1/p' "$TMP/out")
HTTP=$(sed -n 's|^corder http on http://.*:\([0-9]*\)/$|\1|p' "$TMP/out")
metric() {
    curl -s "http://127.0.0.1:$HTTP/metrics" | awk -v n="$1" '$1 == n { printf "%.0f", $2 }'
}
OK='corder_requests_total{op="order.create",code="ok"}'
W0=$(metric corder_wal_bytes_total) M0=$(metric "$OK") C0=$(metric corder_batch_size_count)
"$BUILD/loadgen" --port "$PORT" -c "${C:-32}" -d "${D:-2}" -t "$SECS" -w 1 --op create
W1=$(metric corder_wal_bytes_total) M1=$(metric "$OK") C1=$(metric corder_batch_size_count)
echo "page_size=$(sqlite3 "$TMP/s.db" 'PRAGMA page_size') wal_bytes_per_order=$(((W1 - W0) / (M1 - M0)))" \
    "orders_per_commit=$(awk -v a=$((M1 - M0)) -v c=$((C1 - C0)) 'BEGIN { printf "%.1f", a / c }')"
