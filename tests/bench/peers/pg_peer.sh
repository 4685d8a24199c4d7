#!/usr/bin/env bash
# pg_peer.sh: the PostgreSQL peer of `make bench` (BENCH_FULL=1; README.md
# here): pg_orders.sql in a database of a private cluster (tests/lib/pg.sh:
# its own directory, 127.0.0.1 only, fsync=on, synchronous_commit=on), its
# check, and pgbench runs of the bench's order.
#
#   pg_peer.sh start DIR            a private cluster in DIR; prints its URL
#   pg_peer.sh load URL [WARM]      schema + function + reference data (seed.lua
#                                   from SEED, default tests/bench/seed.json), then
#                                   WARM (10000) unmeasured orders, VACUUM ANALYZE,
#                                   CHECKPOINT
#   pg_peer.sh check URL            the order once, amounts and rows checked, then
#                                   bad requests that must write nothing; the last
#                                   line is the order's answer (JSON)
#   pg_peer.sh bench URL CONNS SECS pgbench -M prepared -c CONNS -T SECS; prints
#                                   ops=… ops_per_s=… p50_ms=… p99_ms=… max_ms=…
#   pg_peer.sh stop DIR             stop the cluster, remove DIR
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PGSH=$HERE/../../lib/pg.sh
SEED=${SEED:-$HERE/../seed.json}

die() { echo "pg_peer: $*" >&2; exit 1; }
pgbin() {
    local d
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/pgbench" ] && { echo "$d"; return; }; done
    die "PostgreSQL is not installed"
}
psqlc() { local url=$1; shift; "$(pgbin)/psql" -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }
request() { bash "$HERE/redis_peer.sh" request; }

load() {
    local url=$1 warm=${2:-10000}
    psqlc "$url" -f "$HERE/pg_orders.sql" >/dev/null
    lua5.4 "$HERE/seed.lua" sql "$SEED" | psqlc "$url" >/dev/null
    # Warm-up: a backend caches the plans of the foreign-key checks; made on
    # empty, unanalysed tables they scan, and get slower with every order.
    psqlc "$url" -v req="$(request)" >/dev/null <<<"SELECT count(peer.create_order(:'req'::jsonb)) FROM generate_series(1, $warm);"
    psqlc "$url" -c "VACUUM ANALYZE" -c CHECKPOINT >/dev/null
}

footprint() {
    psqlc "$1" -At -c "SELECT (SELECT count(*) FROM peer.orders), (SELECT count(*) FROM peer.order_lines),
        (SELECT count(*) FROM peer.order_charges), (SELECT count(*) FROM peer.order_payments),
        (SELECT count(*) FROM peer.invoices), (SELECT count(*) FROM peer.txlog),
        (SELECT count(*) FROM peer.outbox)"
}

check() {
    local url=$1 req out num got before bad
    req=$(request)
    out=$(psqlc "$url" -At -v req="$req" <<<"SELECT peer.create_order(:'req'::jsonb);")
    for f in '"shipping": 995' '"deposit": 15179' '"invoiced": 5997' '"paid": 21176' '"balance": 60716'; do
        grep -qF "$f" <<<"$out" || die "check: $f missing in $out"
    done
    num=$(sed -n 's/.*"order": "\([^"]*\)".*/\1/p' <<<"$out")
    got=$(psqlc "$url" -At -F' ' -c "SELECT
        (SELECT count(*) FROM peer.orders WHERE number = '$num' AND deposit = 15179 AND balance = 60716),
        (SELECT count(*) FROM peer.order_lines WHERE number = '$num'),
        (SELECT sum(amount) FROM peer.order_lines WHERE number = '$num'),
        (SELECT count(*) FROM peer.order_charges WHERE number = '$num' AND amount = 995),
        (SELECT count(*) FROM peer.order_payments WHERE number = '$num' AND amount = 21176),
        (SELECT count(*) FROM peer.invoices WHERE number = '$num' AND amount = 5997),
        (SELECT count(*) FROM peer.txlog WHERE number = '$num'),
        (SELECT count(*) FROM peer.outbox WHERE number = '$num')")
    [ "$got" = "1 3 80897 1 1 1 1 1" ] || die "check: the rows of $num: $got"
    before=$(footprint "$url")
    local bads=(
        "${req/P300/P999}"
        "${req/\"home\"/\"moon\"}"
        "${req/21176/21175}"
        "${req/21176/81893}"
        "$(sed 's/"date":"[0-9-]*"/"date":"2020-01-01"/' <<<"$req")"
        "$(sed 's/"date":"[0-9-]*"/"date":"2031-02-30"/' <<<"$req")"
        "${req/\"S002\"/\"S999\"}"
        "${req/C0001/C9999}"
        "${req/\"qty\":3/\"qty\":0}"
        "${req/carryout/teleport}"
    )
    for bad in "${bads[@]}"; do
        if out=$(psqlc "$url" -At -v req="$bad" <<<"SELECT peer.create_order(:'req'::jsonb);" 2>&1); then
            die "check: accepted $bad -> $out"
        fi
    done
    [ "$(footprint "$url")" = "$before" ] || die "check: refused requests wrote rows"
    echo "pg peer check ok: order $num shipping 995 deposit 15179 carry-out invoice 5997 paid 21176 balance 60716; ${#bads[@]} bad requests refused, nothing written" >&2
    psqlc "$url" -At -v req="$req" <<<"SELECT peer.create_order(:'req'::jsonb);"
}

bench() { # URL CONNS SECS
    local url=$1 c=$2 secs=$3 dir n0 n1 out tps
    dir=$(mktemp -d /tmp/corder-pgbench.XXXXXX)
    n0=$(psqlc "$url" -At -c "SELECT count(*) FROM peer.orders")
    out=$(cd "$dir" && "$(pgbin)/pgbench" -n -M prepared -c "$c" -j 2 -T "$secs" -l \
        --log-prefix="$dir/tx" -f "$HERE/pg_create.sql" -D "req=$(request)" "$url" 2>&1) ||
        { rm -rf "$dir"; die "pgbench: $(tail -5 <<<"$out")"; }
    n1=$(psqlc "$url" -At -c "SELECT count(*) FROM peer.orders")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' <<<"$out")
    # -l: one line per transaction, the third field its latency in us
    local done_tx
    done_tx=$(cat "$dir"/tx.* | wc -l)
    [ $((n1 - n0)) -ge "$done_tx" ] || { rm -rf "$dir"; die "$((n1 - n0)) orders written for $done_tx transactions"; }
    cat "$dir"/tx.* | awk '{ print $3 }' | sort -n | awk -v tps="$tps" -v written=$((n1 - n0)) '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "ops=0 ops_per_s=0"; exit }
            k50 = int(0.50 * NR + 0.999999); k99 = int(0.99 * NR + 0.999999)
            printf "ops=%d ops_per_s=%.0f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f orders_written=%d\n",
                NR, tps, v[k50] / 1000, v[k99] / 1000, v[NR] / 1000, written
        }'
    rm -rf "$dir"
}

case "${1:-}" in
start) bash "$PGSH" start "${2:?dir}" ;;
load) load "${2:?url}" "${3:-10000}" ;;
check) check "${2:?url}" ;;
bench) bench "${2:?url}" "${3:?conns}" "${4:?secs}" ;;
stop) bash "$PGSH" stop "${2:?dir}" ;;
*)
    echo "usage: pg_peer.sh start DIR|load URL [WARM]|check URL|bench URL CONNS SECS|stop DIR" >&2
    exit 2
    ;;
esac
