#!/usr/bin/env bash
# tests/bench/run.sh BUILD: `make bench`. Drives a live `corder serve` over TCP
# with tests/bench/loadgen (order.create of the peers' 3-line hybrid order under
# the default policy, durable settings), and measures in the same run what
# bounds it:
#   storage  the same rows straight into SQLite (sqlite_limit), same durability
#   network  `ping` through corder vs redis-benchmark ping_mbulk on a local Redis
#   policy   hook_ns / reload_us (policy_bench)
# plus a scaling table (1, 8, 32, 128 connections) on a store that already holds
# 10,000 orders, and with BENCH_FULL=1 the same on 1,000,000 orders plus 1,000
# connections (the RSS target); finding (F12): order.find with q on a store
# of 1,000,000 orders and 100,000 customers (find_bench; BENCH_FIND=0 skips it,
# BENCH_FIND_ORDERS sets the size); then HQ ingest (tests/bench/hq_ingest.sh: 50
# stores uploading at once to HQ on SQLite, on PostgreSQL, and to two HQ
# processes on one PostgreSQL; BENCH_HQ=0 skips it). The last line is the summary:
#   orders_per_s=… p50_ms=… p99_ms=… ping_per_s=… ping_vs_redis=…
#   create_vs_sqlite_limit=… hook_ns=… reload_us=… rss_mb=…
#   wal_bytes_per_order=… (sqlite_limit) find_wal_bytes_per_order=… (what
#   F12's per-order indexes add: sqlite_limit less its --no-find-index run)
#   find_q_ms=… find_made_up_ms=… find_answer50_ms=… (find_bench.c)
# Env: BENCH_SECS (10, the main run), BENCH_SCALE_SECS (5), BENCH_CONNS (32),
#      BENCH_DEPTH (2), BENCH_FULL (0), BENCH_KEEP (0: remove the temp dir).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
SECS=${BENCH_SECS:-10}
SCALE_SECS=${BENCH_SCALE_SECS:-5}
CONNS=${BENCH_CONNS:-32}
DEPTH=${BENCH_DEPTH:-2}
FULL=${BENCH_FULL:-0}
TMP=$(mktemp -d /tmp/corder-bench.XXXXXX)
SRV_PID= REDIS_PID=

log() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*" >&2; }
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null || true
    [ -n "$REDIS_PID" ] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null || true
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT

for t in corder loadgen sqlite_limit prefill policy_bench find_bench hq_ingest; do
    [ -x "$BUILD/$t" ] || { echo "bench: $BUILD/$t missing; run make first" >&2; exit 1; }
done
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    log "installing redis-server and redis-tools (Debian) for the network baseline"
    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
fi

# value KEY LINE: the value of KEY=… in a line of key=value pairs.
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf (b > 0 ? "%.2f" : "-"), a / b }'; }
free_port() {
    local p=$1
    while ss -Htln "( sport = :$p )" | grep -q .; do p=$((p + 1)); done
    echo "$p"
}

# ---- the machine ----
fsync_cost() {
    local pgt=/usr/lib/postgresql/15/bin/pg_test_fsync
    if [ -x "$pgt" ]; then
        "$pgt" -s 1 -f "$TMP/fsync.tmp" 2>/dev/null |
            awk '$1 == "fdatasync" { print $4 " us (8 kB write + fdatasync, pg_test_fsync)"; exit }'
    else
        local t0 t1
        t0=$(date +%s%N)
        dd if=/dev/zero of="$TMP/fsync.tmp" bs=8k count=500 oflag=dsync status=none
        t1=$(date +%s%N)
        echo "$(((t1 - t0) / 500000)) us (8 kB write + O_DSYNC, dd)"
    fi
    rm -f "$TMP/fsync.tmp"
}
log "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), fsync $(fsync_cost)"

# ---- a server on a prefilled store ----
start_server() { # DB
    "$BUILD/corder" serve --db "$1" --policies "$ROOT/policies" --listen 127.0.0.1:0 \
        >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SRV_PID=$!
    for _ in $(seq 1 200); do
        grep -q listening "$TMP/serve.out" 2>/dev/null && break
        sleep 0.05
    done
    PORT=$(sed -n 's/^corder listening on .*:\([0-9]*\)$/\1/p' "$TMP/serve.out")
    [ -n "$PORT" ] || { cat "$TMP/serve.err" >&2; exit 1; }
}
stop_server() {
    kill "$SRV_PID" && wait "$SRV_PID" || true
    SRV_PID=
}
rss_mb() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SRV_PID/status"; }
make_store() { # DB N
    rm -f "$1" "$1-wal" "$1-shm"
    "$BUILD/corder" init --db "$1" --seed "$ROOT/examples/seed.json" >/dev/null
    "$BUILD/prefill" "$1" "$2" "$ROOT/policies" >/dev/null
}
load() { # CONNS DEPTH SECS [OP]
    "$BUILD/loadgen" --port "$PORT" -c "$1" -d "$2" -t "$3" -w 1 --op "${4:-create}"
}

declare -A TABLE
scale() { # LABEL N
    local db="$TMP/scale_$1.db"
    log "prefilling $2 orders"
    make_store "$db" "$2"
    start_server "$db"
    local c out
    for c in 1 8 32 128; do
        out=$(load "$c" "$DEPTH" "$SCALE_SECS")
        log "$1 store: $out"
        TABLE[$1,$c]="$(value ops_per_s "$out") / $(value p99_ms "$out")"
    done
    if [ "$1" = 1M ]; then
        out=$(load 1000 1 "$SCALE_SECS")
        log "1M store, 1000 connections: $out rss_mb=$(rss_mb)"
        TABLE[1M,1000]="$(value ops_per_s "$out") / $(value p99_ms "$out")"
        RSS_1M=$(rss_mb)
    fi
    stop_server
}

# ---- 1. the main run: order.create, CONNS connections, on 10k orders ----
make_store "$TMP/main.db" 10000
start_server "$TMP/main.db"
log "order.create: $CONNS connections, depth $DEPTH, ${SECS}s"
MAIN=$(load "$CONNS" "$DEPTH" "$SECS")
log "$MAIN"
RSS=$(rss_mb)
# ---- network: ping through corder ----
PING=$(load 32 1 5 ping)
log "$PING"
stop_server

# ---- storage limit: the same rows, same durability, group-commit batches ----
BATCH=$((CONNS * DEPTH))
LIMIT=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 100000 "$BATCH")
log "$LIMIT"
# what F12's indexes (order_numbers, order_pickups) add to every order's WAL
NOFIND=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 20000 "$BATCH" --no-find-index)
log "without the find indexes: $NOFIND"
WALO=$(value wal_bytes_per_order "$LIMIT")
FINDWAL=$((WALO - $(value wal_bytes_per_order "$NOFIND")))
log "find indexes: $FINDWAL WAL bytes per order"

# ---- network baseline: Redis ping_mbulk on loopback ----
RPORT=$(free_port 56379)
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$TMP" \
    >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
for _ in $(seq 1 100); do
    redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break
    sleep 0.05
done
REDIS=$(redis-benchmark -p "$RPORT" -t ping_mbulk -c 32 -n 200000 -q 2>/dev/null | tr '\r' '\n' |
    sed -n 's/^PING_MBULK: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
kill "$REDIS_PID" && wait "$REDIS_PID" 2>/dev/null || true
REDIS_PID=
log "redis ping_mbulk -c 32: $REDIS requests/s"

# ---- policy ----
POL=$(CORDER_ROOT="$ROOT" "$BUILD/policy_bench" 2>/dev/null)
log "$POL"

# ---- finding (F12): a q search on 1,000,000 orders and 100,000 customers ----
FINDQ=- FINDMADE=- FINDANS=-
if [ "${BENCH_FIND:-1}" = 1 ]; then
    FN=${BENCH_FIND_ORDERS:-1000000}
    log "prefilling $FN orders over 100000 customers for find_bench"
    rm -f "$TMP/find.db" "$TMP/find.db-wal" "$TMP/find.db-shm"
    "$BUILD/corder" init --db "$TMP/find.db" --seed "$ROOT/examples/seed.json" >/dev/null
    "$BUILD/prefill" "$TMP/find.db" "$FN" "$ROOT/policies" --customers 100000 >/dev/null
    FIND=$("$BUILD/find_bench" "$TMP/find.db" "$ROOT/policies" 100000)
    while IFS= read -r l; do log "$l"; done <<<"$FIND"
    FINDQ=$(value find_q_ms "$(tail -1 <<<"$FIND")")
    FINDMADE=$(value find_made_up_ms "$(tail -1 <<<"$FIND")")
    FINDANS=$(value find_answer50_ms "$(tail -1 <<<"$FIND")")
    rm -f "$TMP/find.db" "$TMP/find.db-wal" "$TMP/find.db-shm"
fi

# ---- scaling ----
scale 10k 10000
if [ "$FULL" = 1 ]; then scale 1M 1000000; fi
{
    echo
    echo "order.create, depth $DEPTH, ${SCALE_SECS}s each: orders/s / p99 ms"
    printf '%-12s %-22s %-22s\n' connections "10k orders in store" "1M orders in store"
    for c in 1 8 32 128 1000; do
        [ "$c" = 1000 ] && [ "$FULL" != 1 ] && continue
        printf '%-12s %-22s %-22s\n' "$c" "${TABLE[10k,$c]:--}" "${TABLE[1M,$c]:-(BENCH_FULL=1)}"
    done
    [ "$FULL" = 1 ] && echo "rss with 1M orders and 1000 connections: ${RSS_1M} MiB"
    echo
} >&2

# ---- HQ ingest (SPEC C1): 50 stores uploading at once; BENCH_HQ=0 skips ----
if [ "${BENCH_HQ:-1}" = 1 ]; then
    {
        echo "HQ ingest, 50 stores at once, batches of ${BENCH_HQ_EVENTS:-100} events:"
        bash "$ROOT/tests/bench/hq_ingest.sh" "$BUILD"
        echo
    } >&2
fi

OPS=$(value ops_per_s "$MAIN")
PINGS=$(value ops_per_s "$PING")
echo "orders_per_s=$OPS p50_ms=$(value p50_ms "$MAIN") p99_ms=$(value p99_ms "$MAIN")" \
    "ping_per_s=$PINGS ping_vs_redis=$(ratio "$PINGS" "${REDIS:-0}")" \
    "create_vs_sqlite_limit=$(ratio "$OPS" "$(value limit_orders_per_s "$LIMIT")")" \
    "hook_ns=$(value hook_ns "$POL") reload_us=$(value reload_us "$POL") rss_mb=$RSS" \
    "wal_bytes_per_order=$WALO find_wal_bytes_per_order=$FINDWAL find_q_ms=$FINDQ" \
    "find_made_up_ms=$FINDMADE find_answer50_ms=$FINDANS"
