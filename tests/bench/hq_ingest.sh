#!/usr/bin/env bash
# tests/bench/hq_ingest.sh BUILD: HQ ingest for `make bench` (SPEC C1): 50
# stores upload at once (tests/bench/hq_ingest: one connection per store,
# batches of 100 events of a ~1 KB order document, each batch waiting for
# its acknowledgement), to
#   sqlite   one HQ process on SQLite
#   pg       one HQ process on PostgreSQL (a private cluster, tests/lib/pg.sh)
#   pg x2    two HQ processes on the same PostgreSQL database
# and reports events/s and the p99 of a batch's acknowledgement for each.
# Env: BENCH_HQ_STORES (50), BENCH_HQ_BATCHES (10), BENCH_HQ_EVENTS (100).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
STORES=${BENCH_HQ_STORES:-50}
BATCHES=${BENCH_HQ_BATCHES:-10}
EVENTS=${BENCH_HQ_EVENTS:-100}
TMP=$(mktemp -d /tmp/corder-hqbench.XXXXXX)
chmod 711 "$TMP" # the user postgres runs the cluster in it
PIDS=()
log() { printf '[bench %s] %s\n' "$(date -u +%T)" "$*" >&2; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
    PIDS=()
    bash "$ROOT/tests/lib/pg.sh" stop "$TMP/pg" >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

serve() { # OUT ARGS...: starts an HQ; its port in $PORT (not a subshell: PIDS must stay)
    local out=$1
    shift
    "$BUILD/corder" serve --role hq --hq-token bench --listen 127.0.0.1:0 \
        --policies "$ROOT/policies" "$@" >"$out" 2>"$out.err" &
    PIDS+=($!)
    for _ in $(seq 100); do
        grep -q listening "$out" 2>/dev/null && break
        sleep 0.1
    done
    PORT=$(sed -n 's/^corder listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$out")
    [ -n "$PORT" ] || { cat "$out.err" >&2; exit 1; }
}

run() { # LABEL ADDRS
    local line
    line=$("$BUILD/hq_ingest" "$2" bench "$STORES" "$BATCHES" "$EVENTS")
    log "hq ingest $1: $line"
    printf '%-10s %s\n' "$1" "$line"
}

"$BUILD/corder" init --db "$TMP/hq.db" --seed "$ROOT/examples/seed.json" >/dev/null
serve "$TMP/sqlite.out" --db "$TMP/hq.db"
run sqlite "127.0.0.1:$PORT"

bash "$ROOT/tests/lib/pg.sh" start "$TMP/pg" >/dev/null
url=$(bash "$ROOT/tests/lib/pg.sh" createdb "$TMP/pg" hq1)
"$BUILD/corder" init --hq-db "$url" --seed "$ROOT/examples/seed.json" >/dev/null
serve "$TMP/pg1.out" --hq-db "$url"
run pg "127.0.0.1:$PORT"

url=$(bash "$ROOT/tests/lib/pg.sh" createdb "$TMP/pg" hq2)
"$BUILD/corder" init --hq-db "$url" --seed "$ROOT/examples/seed.json" >/dev/null
serve "$TMP/pg2a.out" --hq-db "$url"
p1=$PORT
serve "$TMP/pg2b.out" --hq-db "$url"
run "pg x2" "127.0.0.1:$p1,127.0.0.1:$PORT"
kept=$(psql -X -At "$url" -c "SELECT count(*) FROM hq_events")
# (the HQs are stopped before their cluster, by cleanup)
log "pg x2: $kept events kept (expected $((STORES * BATCHES * EVENTS)))"
