#!/usr/bin/env bash
# redis_peer.sh: the Redis peer of `make bench` (README.md here): a private
# redis-server with durable settings, the function library redis_orders.lua,
# its check, and redis-benchmark runs of the bench's order.
#
#   redis_peer.sh request            the request JSON (dates from today)
#   redis_peer.sh start DIR          redis-server in DIR on a free port (DIR/port):
#                                    --appendonly yes --appendfsync always --save ''
#   redis_peer.sh load DIR           reference data (seed.lua from SEED, default
#                                    tests/bench/seed.json) + FUNCTION LOAD
#   redis_peer.sh warm DIR N         N orders at 32 connections, unmeasured; prints
#                                    ops_per_s= (the rate, to size a timed run)
#   redis_peer.sh check DIR          the order once, its amounts and keys checked,
#                                    then bad requests that must write nothing;
#                                    the last line is the order's answer (JSON)
#   redis_peer.sh bench DIR CONNS N  N orders at CONNS connections; prints one line
#                                    ops=… ops_per_s=… p50_ms=… p99_ms=… max_ms=…
#   redis_peer.sh ping DIR           redis-benchmark -t ping_mbulk -c 32; prints ping_per_s=…
#   redis_peer.sh stop DIR           SHUTDOWN, then the process is gone
#   redis_peer.sh selftest           start, load, check, stop in a temp dir
#                                    (exit 77 when redis-server is not installed)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SEED=${SEED:-$HERE/../seed.json}

die() { echo "redis_peer: $*" >&2; exit 1; }
port() { cat "$1/port"; }
rcli() { local d=$1; shift; redis-cli -h 127.0.0.1 -p "$(port "$d")" "$@"; }

request() {
    local ship pick
    ship=$(date -u -d '+45 days' +%F)
    pick=$(date -u -d '+40 days' +%F)
    printf '{"store":"S001","customer":"C0001","type":"order","lines":[{"item":"P100","qty":1,"delivery":{"mode":"ship","address":"home","date":"%s"}},{"item":"P200","qty":2,"delivery":{"mode":"pickup","store":"S002","date":"%s"}},{"item":"P300","qty":3,"delivery":{"mode":"carryout"}}],"payments":[{"tender":"card","amount":21176}]}\n' "$ship" "$pick"
}

free_port() {
    local p=$1
    while ss -Htln "( sport = :$p )" | grep -q .; do p=$((p + 1)); done
    echo "$p"
}

start() {
    local dir=$1 p
    command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server redis-tools)"
    mkdir -p "$dir"
    p=$(free_port $((56400 + RANDOM % 2000)))
    echo "$p" >"$dir/port"
    redis-server --bind 127.0.0.1 --port "$p" --dir "$dir" --appendonly yes \
        --appendfsync always --save '' --daemonize yes --pidfile "$dir/redis.pid" \
        --logfile "$dir/redis.log"
    for _ in $(seq 1 100); do
        [ "$(rcli "$dir" ping 2>/dev/null)" = PONG ] && break
        sleep 0.05
    done
    [ "$(rcli "$dir" ping 2>/dev/null)" = PONG ] || die "redis-server did not start: $(tail -3 "$dir/redis.log")"
    echo "$p"
}

load() {
    local dir=$1 r
    lua5.4 "$HERE/seed.lua" redis "$SEED" | rcli "$dir" >/dev/null
    r=$(rcli "$dir" -x function load replace <"$HERE/redis_orders.lua")
    [ "$r" = corder_bench_peer ] || die "FUNCTION LOAD: $r"
}

# CSV of redis-benchmark: "test","rps","avg_latency_ms","min","p50","p95","p99","max"
csv_line() {
    tr -d '\r' | tail -1 | awk -F'","' '{ gsub(/"/, "", $NF); print $(NF-6), $(NF-3), $(NF-1), $NF, $(NF-2) }'
}

bench() { # DIR CONNS N
    local dir=$1 c=$2 n=$3 s0 s1 out rps p50 p99 max p95
    s0=$(rcli "$dir" get counter:order:S001)
    out=$(redis-benchmark -h 127.0.0.1 -p "$(port "$dir")" -c "$c" -n "$n" --csv \
        FCALL create_order 0 "$(request)" 2>&1) || die "redis-benchmark: $out"
    s1=$(rcli "$dir" get counter:order:S001)
    [ $((${s1:-0} - ${s0:-0})) = "$n" ] ||
        die "$((${s1:-0} - ${s0:-0})) orders written for $n requests: $(tail -2 <<<"$out")"
    read -r rps p50 p99 max p95 < <(csv_line <<<"$out")
    echo "ops=$n ops_per_s=$(printf '%.0f' "$rps") p50_ms=$p50 p95_ms=$p95 p99_ms=$p99 max_ms=$max"
}

warm() { # DIR N
    local line
    line=$(bench "$1" 32 "$2")
    echo "ops_per_s=$(sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p' <<<"$line")"
}

ping() {
    local rps
    rps=$(redis-benchmark -h 127.0.0.1 -p "$(port "$1")" -t ping_mbulk -c 32 -n 200000 -q 2>/dev/null |
        tr '\r' '\n' | sed -n 's/^PING_MBULK: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
    echo "ping_per_s=$(printf '%.0f' "${rps:-0}")"
}

# What the check counts before and after the bad requests: nothing may move.
footprint() {
    echo "$(rcli "$1" dbsize) $(rcli "$1" get counter:order:S001) $(rcli "$1" get counter:invoice:S001)" \
        "$(rcli "$1" xlen txlog) $(rcli "$1" llen outbox:S001)"
}

check() {
    local dir=$1 req out num inv before bad
    req=$(request)
    out=$(rcli "$dir" fcall create_order 0 "$req")
    for f in '"shipping":995' '"deposit":15179' '"invoiced":5997' '"paid":21176' '"balance":60716'; do
        grep -qF "$f" <<<"$out" || die "check: $f missing in $out"
    done
    num=$(sed -n 's/.*"order":"\([^"]*\)".*/\1/p' <<<"$out")
    inv=$(sed -n 's/.*"invoice":\([0-9]*\).*/\1/p' <<<"$out")
    [ "$(rcli "$dir" exists "order:$num" "order:$num:line:1" "order:$num:line:2" "order:$num:line:3" \
        "order:$num:charge:1" "order:$num:payment:1" "invoice:S001:$inv")" = 7 ] ||
        die "check: keys of $num missing"
    [ "$(rcli "$dir" hget "order:$num:line:1" unit_price)" = 49900 ] || die "check: the price of P100"
    [ "$(rcli "$dir" hget "order:$num:line:2" amount)" = 25000 ] || die "check: line 2's amount"
    [ "$(rcli "$dir" hget "order:$num:charge:1" amount)" = 995 ] || die "check: the shipping charge"
    [ "$(rcli "$dir" hget "invoice:S001:$inv" amount)" = 5997 ] || die "check: the carry-out invoice"
    [ "$(rcli "$dir" hget "order:$num" deposit)" = 15179 ] || die "check: the deposit"
    [ "$(rcli "$dir" xrevrange txlog + - count 1 | grep -c "$num")" -ge 1 ] || die "check: the log entry"
    [ "$(rcli "$dir" lindex outbox:S001 -1 | grep -c "\"order\":\"$num\"")" = 1 ] || die "check: the outbox event"
    before=$(footprint "$dir")
    local bads=(
        "${req/P300/P999}"                                               # unknown item
        "${req/\"home\"/\"moon\"}"                                       # unknown address
        "${req/21176/21175}"                                             # 1 short of what is due
        "${req/21176/81893}"                                             # 1 over the order total
        "$(sed 's/"date":"[0-9-]*"/"date":"2020-01-01"/' <<<"$req")"     # a past date
        "$(sed 's/"date":"[0-9-]*"/"date":"2031-02-30"/' <<<"$req")"     # no such day
        "${req/\"S002\"/\"S999\"}"                                       # unknown pickup store
        "${req/C0001/C9999}"                                             # unknown customer
        "${req/\"qty\":3/\"qty\":0}"                                     # qty 0
        "${req/carryout/teleport}"                                       # no such mode
        '{"store":"S001"'                                                # not JSON
    )
    for bad in "${bads[@]}"; do
        out=$(rcli "$dir" fcall create_order 0 "$bad" 2>&1 || true)
        grep -q '^REFUSED' <<<"$out" || die "check: accepted $bad -> $out"
    done
    [ "$(footprint "$dir")" = "$before" ] || die "check: refused requests wrote something ($before -> $(footprint "$dir"))"
    echo "redis peer check ok: order $num shipping 995 deposit 15179 carry-out invoice 5997 paid 21176 balance 60716; ${#bads[@]} bad requests refused, nothing written" >&2
    rcli "$dir" fcall create_order 0 "$req"
}

stop() {
    local dir=$1 pid
    [ -f "$dir/redis.pid" ] || return 0
    pid=$(cat "$dir/redis.pid")
    rcli "$dir" shutdown nosave >/dev/null 2>&1 || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
    rm -f "$dir/redis.pid"
}

selftest() {
    command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
        { echo "redis_peer: redis-server not installed; skipped" >&2; exit 77; }
    SELFTEST_DIR=$(mktemp -d /tmp/corder-redis-peer.XXXXXX)
    trap 'stop "$SELFTEST_DIR"; rm -rf "$SELFTEST_DIR"' EXIT
    start "$SELFTEST_DIR" >/dev/null
    load "$SELFTEST_DIR"
    check "$SELFTEST_DIR"
}

case "${1:-}" in
request) request ;;
start) start "${2:?dir}" ;;
load) load "${2:?dir}" ;;
warm) warm "${2:?dir}" "${3:?n}" ;;
check) check "${2:?dir}" ;;
bench) bench "${2:?dir}" "${3:?conns}" "${4:?n}" ;;
ping) ping "${2:?dir}" ;;
stop) stop "${2:?dir}" ;;
selftest) selftest ;;
*)
    echo "usage: redis_peer.sh request|start DIR|load DIR|warm DIR N|check DIR|bench DIR CONNS N|ping DIR|stop DIR|selftest" >&2
    exit 2
    ;;
esac
