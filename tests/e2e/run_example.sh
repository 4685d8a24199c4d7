#!/bin/sh
# run_example.sh: starts a corder server on a fresh database and runs one
# example client against it (ctest examples/*).
#   run_example.sh CORDER_BIN SEED POLICIES CLIENT-COMMAND...
# The client command gets the port as its last argument.
set -u
bin=$1 seed=$2 policies=$3
shift 3
dir=$(mktemp -d /tmp/corder-example.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

"$bin" init --db "$dir/t.db" --seed "$seed" >/dev/null || exit 1
"$bin" serve --db "$dir/t.db" --listen 127.0.0.1:0 --policies "$policies" >"$dir/out" 2>"$dir/err" &
pid=$!
port=
for _ in $(seq 200); do
    port=$(sed -n 's/^corder listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$dir/out" 2>/dev/null)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/err" >&2; exit 1; }
    sleep 0.05
done
[ -n "$port" ] || { echo "run_example: server did not start" >&2; exit 1; }

"$@" "$port"
rc=$?
kill -TERM "$pid"
wait "$pid"
src=$?
pid=
[ "$src" -eq 0 ] || { echo "run_example: server exited $src" >&2; cat "$dir/err" >&2; exit 1; }
exit $rc
