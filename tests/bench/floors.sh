#!/usr/bin/env bash
# tests/bench/floors.sh BUILD: the bench's two floors still measure what
# they claim (ctest bench/floors, the normal build). make bench prints
# wal_floor_bytes_per_order (sqlite_limit --bare: the same rows with no
# index but the keys) and hook_floor_ns (policy_bench running
# tests/bench/hook_floor.lua: the deposit rule on plain Lua tables); the
# README reads the targets against them. A floor that is not below what it
# floors, or a tool that stopped answering, would mislead every run after,
# so this checks, on a small store, with WAL bytes (a count, not a time):
#   - the rows alone write less WAL than the rows with the engine's indexes,
#     and rows cut to a quarter (--shrink 25) less again, at 4 KiB and at
#     1 KiB pages (--page 1024);
#   - policy_bench's plain-Lua call gives the engine's answer (policy_bench
#     checks it and fails otherwise) and prints hook_floor_ns;
#   - sqlite_limit refuses options out of range.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-build}" && pwd)
TMP=$(mktemp -d /tmp/corder-floors.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
value() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
fail() { echo "bench floors: $*" >&2; exit 1; }

"$BUILD/corder" init --db "$TMP/main.db" --seed "$ROOT/tests/bench/seed.json" >/dev/null
"$BUILD/prefill" "$TMP/main.db" 200 "$ROOT/tests/bench/policies" >/dev/null
wal() { value limit_wal_bytes_per_order "$("$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/l.db" 3000 64 "$@")"; }
for page in 4096 1024; do
    FULL=$(wal --page "$page")
    BARE=$(wal --bare --page "$page")
    QUARTER=$(wal --bare --shrink 25 --page "$page")
    echo "bench floors, $page-byte pages: WAL bytes an order: the engine's schema $FULL," \
        "the rows alone $BARE, a quarter of the rows $QUARTER"
    [ -n "$FULL" ] && [ -n "$BARE" ] && [ -n "$QUARTER" ] || fail "sqlite_limit printed no WAL figure"
    [ "$BARE" -lt "$FULL" ] || fail "--bare wrote no less than the engine's schema ($BARE, $FULL)"
    [ "$QUARTER" -lt "$BARE" ] || fail "--shrink 25 wrote no less than --bare ($QUARTER, $BARE)"
done
[ "$(sqlite3 "$TMP/l.db" 'PRAGMA page_size')" = 1024 ] || fail "--page 1024 made no 1 KiB pages"
[ "$(sqlite3 "$TMP/l.db" "SELECT count(*) FROM sqlite_master WHERE type IN ('index', 'trigger')"' AND sql IS NOT NULL')" = 0 ] ||
    fail "--bare left an index or a trigger"
for bad in "--page 1000" "--shrink 0" "--shrink 101" "--frobnicate"; do
    # shellcheck disable=SC2086 # the options are words on purpose
    if "$BUILD/sqlite_limit" "$TMP/main.db" "$TMP/l.db" 10 64 $bad 2>/dev/null; then
        fail "sqlite_limit took $bad"
    fi
done

POL=$(CORDER_ROOT="$ROOT" "$BUILD/policy_bench" 2>/dev/null) || fail "policy_bench failed"
HOOK=$(value hook_ns "$POL")
FLOOR=$(value hook_floor_ns "$POL")
echo "bench floors: one deposit call ${HOOK} ns, the same rule in plain Lua ${FLOOR} ns"
[ -n "$FLOOR" ] && [ "$FLOOR" -gt 0 ] || fail "policy_bench printed no hook_floor_ns"
echo "bench floors: ok"
