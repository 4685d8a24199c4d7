#!/usr/bin/env bash
# tests/bench/run.sh BUILD: `make bench`. Drives a live `corder serve` over TCP
# with tests/bench/loadgen (order.create of the peers' 3-line order on the
# bench store: tests/bench/seed.json, policy tests/bench/policies/peers.lua;
# durable settings) and measures in the same run, side by side:
#   peer     the same order as a Redis Function (tests/bench/peers/), on a
#            redis-server this script starts (appendfsync always), in turns:
#            corder, Redis, corder; with BENCH_FULL=1 also as a PostgreSQL
#            function (pgbench -M prepared, a private cluster)
#   fairness 1,000 connections with 1 request in flight each
#   kill -9  the server killed under that load, restarted: every order it
#            acknowledged must be there
#   storage  the same rows straight into SQLite (sqlite_limit), same durability
#   WAL      corder's own WAL bytes per order (corder_wal_bytes_total on
#            /metrics, before and after the turns)
#   network  `ping` through corder vs redis-benchmark ping_mbulk on the peer
#   policy   hook_ns / hook_floor_ns / reload_us (policy_bench)
# then a scaling table (1, 8, 32, 128 connections) on a store of 10,000
# orders, with BENCH_FULL=1 the same on 1,000,000 orders plus 1,000
# connections (the RSS target); finding (F12): order.find with q on a store
# of 1,000,000 orders and 100,000 customers (find_bench; BENCH_FIND=0 skips it,
# BENCH_FIND_ORDERS sets the size); then HQ ingest (tests/bench/hq_ingest.sh;
# BENCH_HQ=0 skips it). The last line is the summary, key=value pairs:
#   orders_per_s p50_ms p99_ms       corder, 32 conns x 2 in flight: the mean
#                                    rate of its two turns, the higher p50/p99
#   peer_orders_per_s peer_p99_ms vs_redis_peer   the Redis peer, -c 32; ratio
#   conns1000_orders_per_s conns1000_p99_ms conns1000_vs_32 conns1000_starved
#   conns1000_wal_bytes_per_order    WAL bytes per order in that run (bigger batches)
#   kill9_acked kill9_lost           kill -9 under load (1,000 connections):
#                                    orders acknowledged before the kill, and
#                                    how many of them the restarted store lacks
#   wal_bytes_per_order              corder's WAL bytes / orders it created
#   wal_pages_per_commit             pages a commit in the -wal file's last
#                                    generation (wal_pages logs them by B-tree)
#   loop_cpu_pct ckpt_cpu_pct sync_cpu_pct   the server's loop, checkpoint
#                                    and WAL sync threads in the turns, % of a core
#   limit_orders_per_s create_vs_sqlite_limit   the storage limit, the mean
#                                    of a run just before turn 1 and one just
#                                    after turn 2; orders_per_s divided by it
#   limit_wal_bytes_per_order find_wal_bytes_per_order
#   wal_floor_bytes_per_order wal_floor1000_bytes_per_order   the same rows
#                                    with no index but the keys, at the
#                                    limit's batch and at 1,000 a commit
#   hook_ns hook_floor_ns            one deposit hook call; the same rule on
#                                    the same tables built by plain Lua
#   reload_us ping_per_s ping_vs_redis rss_mb
#   find_q_ms find_made_up_ms find_answer50_ms
#   BENCH_FULL=1: pg_peer_orders_per_s pg_peer_p99_ms vs_pg_peer
#                 orders_per_s_1m create_1m_vs_10k rss_1m_mb   (the 1M and
#                 10k stores in alternating turns at 32 x 2, after the tables)
# Env: BENCH_SECS (10, each turn), BENCH_SCALE_SECS (5), BENCH_CONNS (32),
#      BENCH_DEPTH (2), BENCH_C1000_SECS (5), BENCH_KILL_AFTER (2, seconds of
#      load before the kill), BENCH_FULL (0), BENCH_KEEP (0:
#      remove the temp dir), BENCH_HOOKS (0; 1: the bench store's policy is
#      policies/default.lua with the peers' two parameters, every hook
#      written out in Lua, instead of peers.lua's parameters alone).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
SECS=${BENCH_SECS:-10}
SCALE_SECS=${BENCH_SCALE_SECS:-5}
CONNS=${BENCH_CONNS:-32}
DEPTH=${BENCH_DEPTH:-2}
C1000_SECS=${BENCH_C1000_SECS:-5}
FULL=${BENCH_FULL:-0}
SEED=$ROOT/tests/bench/seed.json
POLICIES=$ROOT/tests/bench/policies
PEERS=$ROOT/tests/bench/peers
TMP=$(mktemp -d /tmp/corder-bench.XXXXXX)
chmod 711 "$TMP" # the user postgres runs the PostgreSQL peer's cluster in it
SRV_PID=
if [ "${BENCH_HOOKS:-0}" = 1 ]; then
    POLICIES=$TMP/policies
    mkdir -p "$POLICIES"
    sed -e 's/^\(  default_deposit_pct *= *\)10,/\120,/' \
        -e 's/^\(  default_shipping_charge *= *\)0,/\1995,/' \
        "$ROOT/policies/default.lua" >"$POLICIES/peers.lua"
    [ "$(grep -cE '^  default_(deposit_pct *= *20|shipping_charge *= *995),' "$POLICIES/peers.lua")" = 2 ] ||
        { echo "bench: BENCH_HOOKS: policies/default.lua's parameters moved" >&2; exit 1; }
fi

log() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*" >&2; }
cleanup() {
    [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null || true
    bash "$PEERS/redis_peer.sh" stop "$TMP/redis" 2>/dev/null || true
    [ -d "$TMP/pg" ] && bash "$PEERS/pg_peer.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
    [ "${BENCH_KEEP:-0}" = 1 ] || rm -rf "$TMP"
}
trap cleanup EXIT

for t in corder loadgen sqlite_limit prefill policy_bench find_bench hq_ingest wal_pages; do
    [ -x "$BUILD/$t" ] || { echo "bench: $BUILD/$t missing; run make first" >&2; exit 1; }
done
command -v sqlite3 >/dev/null || { echo "bench: the sqlite3 command is missing (apt-get install sqlite3)" >&2; exit 1; }
if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    log "installing redis-server and redis-tools (Debian) for the Redis peer"
    apt-get update -qq && apt-get install -y -qq redis-server redis-tools >/dev/null
fi

# value KEY LINE: the value of KEY=… in a line of key=value pairs.
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
ratio() { quotient "$1" "$2" "%.2f"; }
# quotient A B FORMAT: A / B printed with FORMAT, "-" when B is 0
quotient() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf (b > 0 ? f : "-"), a / b }'; }
mean() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a + b) / 2 }'; }
higher() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

# ---- the machine ----
fsync_cost() {
    local pgt
    pgt=$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | head -1)
    if [ -n "$pgt" ]; then
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
log "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), fsync $(fsync_cost), load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- a server on a prefilled store ----
start_server() { # DB: listens on a free port ($PORT), HTTP metrics on another ($HPORT)
    "$BUILD/corder" serve --db "$1" --policies "$POLICIES" --listen 127.0.0.1:0 \
        --http 127.0.0.1:0 >"$TMP/serve.out" 2>"$TMP/serve.err" &
    SRV_PID=$!
    for _ in $(seq 1 200); do
        grep -q '^corder http on' "$TMP/serve.out" 2>/dev/null && break
        sleep 0.05
    done
    PORT=$(sed -n 's/^corder listening on .*:\([0-9]*\)$/\1/p' "$TMP/serve.out")
    HPORT=$(sed -n 's|^corder http on http://.*:\([0-9]*\)/$|\1|p' "$TMP/serve.out")
    [ -n "$PORT" ] && [ -n "$HPORT" ] || { cat "$TMP/serve.err" >&2; exit 1; }
}
stop_server() {
    kill "$SRV_PID" && wait "$SRV_PID" || true
    SRV_PID=
}
rss_mb() { awk '/^VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$SRV_PID/status"; }
# cpu_ticks: clock ticks used so far by the server's loop (its main thread),
# its checkpoint thread, its WAL sync thread and its sender thread (named by
# the server), and the time: "loop ckpt sync send nanoseconds". Two of them
# make cpu_split.
cpu_ticks() {
    local t v loop=0 ckpt=0 sync=0 send=0
    for t in /proc/"$SRV_PID"/task/*; do
        v=$(awk '{ print $14 + $15 }' "$t/stat" 2>/dev/null) || continue
        case "$(cat "$t/comm" 2>/dev/null)" in
        corder-ckpt) ckpt=$((ckpt + v)) ;;
        corder-walsync) sync=$((sync + v)) ;;
        corder-send) send=$((send + v)) ;;
        *) if [ "${t##*/}" = "$SRV_PID" ]; then loop=$((loop + v)); fi ;;
        esac
    done
    echo "$loop $ckpt $sync $send $(date +%s%N)"
}
# cpu_split "BEFORE" "AFTER" ...: each thread's share of one core over the
# intervals (pairs of cpu_ticks), in %: "loop ckpt sync send"
cpu_split() {
    printf '%s\n' "$@" | awk -v hz="$(getconf CLK_TCK)" '
        { for (i = 1; i <= 5; i++) v[NR % 2, i] = $i }
        NR % 2 == 0 { for (i = 1; i <= 4; i++) d[i] += v[0, i] - v[1, i]; ns += v[0, 5] - v[1, 5] }
        END { s = ns / 1e9 * hz; printf "%.0f %.0f %.0f %.0f", 100 * d[1] / s, 100 * d[2] / s, 100 * d[3] / s, 100 * d[4] / s }'
}
# settle: waits (at most 15 s) until the server's checkpoint and WAL sync
# threads have used no CPU for 300 ms, then until the kernel has written
# out every dirty page (sync): after a turn the checkpoint thread copies the
# turn's WAL into the database for a while, and the kernel writes back the
# gigabytes the turn wrote, and what runs next (the peer's turn, the storage
# limit) would share the disk and a core with both. In one run without the
# sync, the limit measured after turn 2 ran at 21,896/s against 35,836
# before turn 1, which flattered the ratio (0.77).
settle() {
    local a b i
    a=$(cpu_ticks | cut -d' ' -f2-3)
    for i in $(seq 1 50); do
        sleep 0.3
        b=$(cpu_ticks | cut -d' ' -f2-3)
        [ "$a" = "$b" ] && break
        a=$b
    done
    sync
}
# metric NAME: a sample of the server's /metrics (name with its labels, exact).
metric() {
    local page
    page=$(
        exec 3<>"/dev/tcp/127.0.0.1/$HPORT"
        printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
        cat <&3
    )
    awk -v n="$1" '$1 == n { printf "%.0f", $2; found = 1 } END { if (!found) print 0 }' <<<"$page"
}
make_store() { # DB N
    rm -f "$1" "$1-wal" "$1-shm"
    "$BUILD/corder" init --db "$1" --seed "$SEED" >/dev/null
    "$BUILD/prefill" "$1" "$2" "$POLICIES" >/dev/null
    # the prefill's pages out to disk now: 1,000,000 orders are 3 GB the
    # kernel would otherwise write back during the turns, behind their fsyncs
    sync
}
load() { # CONNS DEPTH SECS [OP]
    "$BUILD/loadgen" --port "$PORT" -c "$1" -d "$2" -t "$3" -w 1 --op "${4:-create}"
}

declare -A TABLE
scale() { # LABEL N
    local db="$TMP/scale_$1.db"
    log "prefilling $2 orders"
    make_store "$db" "$2"
    # a copy as prefilled, for the alternating turns below (its turns here
    # add some 300,000 orders to it)
    [ "$1" = 10k ] && cp "$db" "$TMP/scale_10k.tpl.db"
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

# ---- the store, and the Redis peer beside it ----
log "prefilling 10000 orders (tests/bench/seed.json, policy peers)"
make_store "$TMP/main.db" 10000
start_server "$TMP/main.db"
# corder charges what the peers charge (tests/bench/peers/README.md)
FIRST=$(CORDER_PIN=1234 "$BUILD/corder" call --connect "127.0.0.1:$PORT" --login S001:1001 \
    order.get '{"number":"S001-000001"}' | tr -d ' \n')
for f in '"code":"SHIP","kind":"shipping","amount":995' '"required":15179' '"paid":21176' \
    '"balance":60716' '"kind":"carryout"'; do
    grep -qF "$f" <<<"$FIRST" || { echo "bench: corder's order lacks $f: $FIRST" >&2; exit 1; }
done
RP() { bash "$PEERS/redis_peer.sh" "$@"; }
RPORT=$(RP start "$TMP/redis")
RP load "$TMP/redis"
log "$(RP check "$TMP/redis" 2>&1 >/dev/null)"
WARM=$(RP warm "$TMP/redis" 10000)
log "redis peer: $(redis-server --version | cut -d' ' -f1-3) on port $RPORT, appendonly yes," \
    "appendfsync always, save ''; checked; 10000 warm-up orders at $(value ops_per_s "$WARM")/s"
# the peer's turn takes about as long as corder's: as many orders as the
# warm-up's rate gives in SECS
PEER_N=$(awk -v r="$(value ops_per_s "$WARM")" -v s="$SECS" 'BEGIN { n = int(r * s); print (n < 2000 ? 2000 : n) }')

# ---- network: ping through corder, then through redis-server ----
# Before the order turns: after them the server's WAL holds some hundred MB
# that the checkpoint thread copies for a while, and that copy (a core and
# the disk) is not what ping measures.
PING=$(load 32 1 5 ping)
log "$PING"
REDIS=$(value ping_per_s "$(RP ping "$TMP/redis")")
log "redis ping_mbulk -c 32: $REDIS requests/s"

# ---- 1. the turns: corder, the Redis peer, corder (CONNS connections) ----
CREATED='corder_requests_total{op="order.create",code="ok"}' # order.creates answered ok
WAL0=$(metric corder_wal_bytes_total)
MADE0=$(metric "$CREATED")
COMMITS0=$(metric corder_batch_size_count)
ANSWERS0=$(metric corder_batch_size_sum)
# The storage limit just before turn 1 and just after turn 2, each once the
# server's checkpoint has caught up: the machine's speed swings by a third
# within minutes, so a limit measured apart from the turns measured the
# machine as much as corder (the ratio ran 0.48-0.67 over four runs).
limit_now() { # and its dirty pages out before what comes next
    "$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit_t.db" 30000 $((CONNS * DEPTH))
    sync
}
settle
LIMIT_BEFORE=$(limit_now)
log "storage limit before turn 1: $LIMIT_BEFORE"
log "corder turn 1: order.create, $CONNS connections, depth $DEPTH, ${SECS}s"
CPU0=$(cpu_ticks)
TURN1=$(load "$CONNS" "$DEPTH" "$SECS")
CPU1=$(cpu_ticks)
log "$TURN1"
settle
log "redis peer turn: redis-benchmark -c $CONNS -n $PEER_N FCALL create_order 0 '<the order>'"
PEER=$(RP bench "$TMP/redis" "$CONNS" "$PEER_N")
log "$PEER"
log "corder turn 2"
CPU2=$(cpu_ticks)
TURN2=$(load "$CONNS" "$DEPTH" "$SECS")
CPU3=$(cpu_ticks)
log "$TURN2"
WAL1=$(metric corder_wal_bytes_total)
MADE1=$(metric "$CREATED")
settle
LIMIT_AFTER=$(limit_now)
log "storage limit after turn 2: $LIMIT_AFTER"
LIMIT_NEAR=$(mean "$(value limit_orders_per_s "$LIMIT_BEFORE")" "$(value limit_orders_per_s "$LIMIT_AFTER")")
COMMITS1=$(metric corder_batch_size_count)
ANSWERS1=$(metric corder_batch_size_sum)
OPS=$(mean "$(value ops_per_s "$TURN1")" "$(value ops_per_s "$TURN2")")
P50=$(higher "$(value p50_ms "$TURN1")" "$(value p50_ms "$TURN2")")
P99=$(higher "$(value p99_ms "$TURN1")" "$(value p99_ms "$TURN2")")
WALO=$(quotient $((WAL1 - WAL0)) $((MADE1 - MADE0)) "%.0f")
log "corder: $((MADE1 - MADE0)) orders created in the turns (loadgen counted" \
    "$(($(value ops "$TURN1") + $(value ops "$TURN2"))) inside its windows)," \
    "$((WAL1 - WAL0)) WAL bytes: $WALO per order; $((COMMITS1 - COMMITS0)) group commits of" \
    "$(quotient $((ANSWERS1 - ANSWERS0)) $((COMMITS1 - COMMITS0)) "%.1f")" \
    "requests on average"
read -r LOOPCPU CKPTCPU SYNCCPU _ <<<"$(cpu_split "$CPU0" "$CPU1" "$CPU2" "$CPU3")"
log "corder's threads in the turns, % of one core: the loop $LOOPCPU, the checkpoint" \
    "thread $CKPTCPU, the WAL sync thread $SYNCCPU (the loop near 100: the rate is its CPU)"
# The WAL's current generation (the last commits of turn 2), page by page.
WALPAGES=$("$BUILD/wal_pages" "$TMP/main.db" 2>&1 || true)
log "WAL pages per commit by B-tree (wal_pages, the -wal file's current generation): $WALPAGES"

# ---- 1,000 connections, 1 request in flight each ----
log "1000 connections, depth 1, ${C1000_SECS}s"
CWAL0=$(metric corder_wal_bytes_total)
CMADE0=$(metric "$CREATED")
CCOMMITS0=$(metric corder_batch_size_count)
CPU4=$(cpu_ticks)
C1000=$(load 1000 1 "$C1000_SECS")
CPU5=$(cpu_ticks)
log "$C1000"
read -r LOOPCPU1K CKPTCPU1K SYNCCPU1K SENDCPU1K <<<"$(cpu_split "$CPU4" "$CPU5")"
log "corder's threads at 1000 connections, % of one core: the loop $LOOPCPU1K, the" \
    "checkpoint thread $CKPTCPU1K, the WAL sync thread $SYNCCPU1K, the sender thread $SENDCPU1K"
# the same WAL figure with the batches 1,000 connections make
CWAL1=$(metric corder_wal_bytes_total)
CMADE1=$(metric "$CREATED")
CCOMMITS1=$(metric corder_batch_size_count)
C1000WAL=$(quotient $((CWAL1 - CWAL0)) $((CMADE1 - CMADE0)) "%.0f")
log "1000 connections: $C1000WAL WAL bytes per order," \
    "$(quotient $((CMADE1 - CMADE0)) $((CCOMMITS1 - CCOMMITS0)) "%.1f") orders a commit"
RSS=$(rss_mb)

# ---- kill -9 under load: every acknowledged order survives ----
# 1,000 connections again, loadgen writing down the number of every order
# it got an ok answer for (--acked); the server is killed with SIGKILL
# after KILL_AFTER seconds, started again on the same database (which
# recovers its WAL), and the numbers are looked up there.
KILL_AFTER=${BENCH_KILL_AFTER:-2}
log "kill -9 under load: 1000 connections, depth 1, the server killed after ${KILL_AFTER}s"
"$BUILD/loadgen" --port "$PORT" -c 1000 -d 1 -t 120 -w 0 --acked "$TMP/acked" >"$TMP/kill.out" 2>&1 &
LG_PID=$!
sleep "$KILL_AFTER"
kill -9 "$SRV_PID"
wait "$SRV_PID" 2>/dev/null || true
SRV_PID=
wait "$LG_PID" || { cat "$TMP/kill.out" >&2; exit 1; }
KACKED=$(value acked "$(cat "$TMP/kill.out")")
start_server "$TMP/main.db"
KLOST=$({
    echo "CREATE TEMP TABLE acked(number TEXT PRIMARY KEY); BEGIN;"
    sed "s/^[A-Za-z0-9-]*$/INSERT INTO acked VALUES('&');/" "$TMP/acked"
    echo "COMMIT; SELECT count(*) FROM acked a WHERE NOT EXISTS"
    echo " (SELECT 1 FROM orders o WHERE o.number = a.number);"
} | sqlite3 "$TMP/main.db")
log "kill -9 under load: $KACKED orders acknowledged before the kill, $KLOST of them lost" \
    "($(tr '\n' ' ' <"$TMP/kill.out"))"

stop_server
RP stop "$TMP/redis"

# ---- storage limit: the same rows, same durability, group-commit batches ----
BATCH=$((CONNS * DEPTH))
LIMIT=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 100000 "$BATCH")
log "$LIMIT"
# what F12's indexes (order_numbers, order_pickups) add to every order's WAL
NOFIND=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 20000 "$BATCH" --no-find-index)
log "without the find indexes: $NOFIND"
LIMITWAL=$(value limit_wal_bytes_per_order "$LIMIT")
FINDWAL=$((LIMITWAL - $(value limit_wal_bytes_per_order "$NOFIND")))
log "find indexes: $FINDWAL WAL bytes per order"
# The floor under any layout that keeps an order's document and log entry as
# they are: the same rows with no index or trigger but the keys (--bare), at
# this batch and at 1,000 orders a commit (docs/performance.md, "The floors")
FLOOR=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 20000 "$BATCH" --bare)
FLOOR1000=$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/limit.db" 20000 1000 --bare)
log "the rows alone ($BATCH a commit): $FLOOR"
log "the rows alone (1000 a commit): $FLOOR1000"
WALFLOOR=$(value limit_wal_bytes_per_order "$FLOOR")
WALFLOOR1000=$(value limit_wal_bytes_per_order "$FLOOR1000")

# ---- policy ----
# The storage limit's last run leaves some hundred MB of dirty pages that the
# kernel writes back for seconds: out to disk first, so that a core is free.
sync
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

# 1M against 10k in alternating turns (10k, 1M, three times; 32 x 2,
# BENCH_SCALE_SECS each): the two tables above run a minute apart, with a
# 30 s prefill between them, and a machine that slows in that minute (a
# shared VM does) would count as the store's size. The 10k store starts as
# prefilled each turn; the 1M store grows by a few percent over the three.
# Sets O1M_ALT (the mean rate of the 1M turns) and ALT_RATIO (÷ the 10k's).
alternate() {
    local i s out sum10=0 sum1m=0
    for i in 1 2 3; do
        for s in 10k 1M; do
            local db="$TMP/scale_1M.db"
            if [ "$s" = 10k ]; then
                db="$TMP/alt_10k.db"
                rm -f "$db" "$db-wal" "$db-shm"
                cp "$TMP/scale_10k.tpl.db" "$db"
            fi
            sync # the last turn's checkpoint and this copy out to disk first
            start_server "$db"
            out=$(load "$CONNS" "$DEPTH" "$SCALE_SECS")
            stop_server
            log "alternating turn $i, $s store: $out"
            if [ "$s" = 10k ]; then
                sum10=$((sum10 + $(value ops_per_s "$out")))
            else
                sum1m=$((sum1m + $(value ops_per_s "$out")))
            fi
        done
    done
    O1M_ALT=$((sum1m / 3))
    ALT_RATIO=$(ratio "$sum1m" "$sum10")
    log "alternating: 1M store $O1M_ALT/s, 10k store $((sum10 / 3))/s: $ALT_RATIO"
}

# ---- scaling ----
scale 10k 10000
if [ "$FULL" = 1 ]; then
    scale 1M 1000000
    alternate
fi
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

# ---- the PostgreSQL peer (BENCH_FULL=1) ----
FULLKEYS=
if [ "$FULL" = 1 ]; then
    PGURL=$(bash "$PEERS/pg_peer.sh" start "$TMP/pg")
    log "postgresql peer: $PGURL, loading + 10000 warm-up orders"
    bash "$PEERS/pg_peer.sh" load "$PGURL" 10000
    bash "$PEERS/pg_peer.sh" check "$PGURL" >/dev/null
    log "postgresql peer turn: pgbench -M prepared -c $CONNS -j 2 -T $SECS"
    PG=$(bash "$PEERS/pg_peer.sh" bench "$PGURL" "$CONNS" "$SECS")
    log "$PG"
    bash "$PEERS/pg_peer.sh" stop "$TMP/pg"
    FULLKEYS="pg_peer_orders_per_s=$(value ops_per_s "$PG") pg_peer_p99_ms=$(value p99_ms "$PG")"
    FULLKEYS+=" vs_pg_peer=$(ratio "$OPS" "$(value ops_per_s "$PG")") orders_per_s_1m=$O1M_ALT"
    FULLKEYS+=" create_1m_vs_10k=$ALT_RATIO rss_1m_mb=$RSS_1M"
fi

# ---- HQ ingest (SPEC C1): 50 stores uploading at once; BENCH_HQ=0 skips ----
if [ "${BENCH_HQ:-1}" = 1 ]; then
    {
        echo "HQ ingest, 50 stores at once, batches of ${BENCH_HQ_EVENTS:-100} events:"
        bash "$ROOT/tests/bench/hq_ingest.sh" "$BUILD"
        echo
    } >&2
fi

PINGS=$(value ops_per_s "$PING")
C1000OPS=$(value ops_per_s "$C1000")
echo "orders_per_s=$OPS p50_ms=$P50 p99_ms=$P99" \
    "peer_orders_per_s=$(value ops_per_s "$PEER") peer_p99_ms=$(value p99_ms "$PEER")" \
    "vs_redis_peer=$(ratio "$OPS" "$(value ops_per_s "$PEER")")" \
    "conns1000_orders_per_s=$C1000OPS conns1000_p99_ms=$(value p99_ms "$C1000")" \
    "conns1000_vs_32=$(ratio "$C1000OPS" "$OPS") conns1000_starved=$(value starved "$C1000")" \
    "conns1000_wal_bytes_per_order=$C1000WAL kill9_acked=$KACKED kill9_lost=$KLOST" \
    "wal_bytes_per_order=$WALO wal_pages_per_commit=$(value wal_pages_per_commit "$WALPAGES")" \
    "limit_wal_bytes_per_order=$LIMITWAL wal_floor_bytes_per_order=$WALFLOOR" \
    "wal_floor1000_bytes_per_order=$WALFLOOR1000" \
    "loop_cpu_pct=$LOOPCPU ckpt_cpu_pct=$CKPTCPU sync_cpu_pct=$SYNCCPU" \
    "limit_orders_per_s=$LIMIT_NEAR create_vs_sqlite_limit=$(ratio "$OPS" "$LIMIT_NEAR")" \
    "hook_ns=$(value hook_ns "$POL") hook_floor_ns=$(value hook_floor_ns "$POL")" \
    "reload_us=$(value reload_us "$POL")" \
    "ping_per_s=$PINGS ping_vs_redis=$(ratio "$PINGS" "${REDIS:-0}") rss_mb=$RSS" \
    "find_wal_bytes_per_order=$FINDWAL find_q_ms=$FINDQ find_made_up_ms=$FINDMADE" \
    "find_answer50_ms=$FINDANS hooks=${BENCH_HOOKS:-0}${FULLKEYS:+ $FULLKEYS}"
