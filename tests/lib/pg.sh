#!/usr/bin/env bash
# pg.sh: a private PostgreSQL cluster for the tests and the benchmark (SPEC
# C1 runs every HQ spec on PostgreSQL too). Never a system-wide server: the
# cluster lives in its own directory, listens on 127.0.0.1 only, on a free
# port, with no unix socket, and is stopped by `pg.sh stop DIR`.
#
#   pg.sh start DIR    initdb + start; prints the URL postgresql://postgres@127.0.0.1:PORT/postgres
#   pg.sh url DIR      the URL of the running cluster
#   pg.sh createdb DIR NAME   a fresh database; prints its URL
#   pg.sh stop DIR     stop and remove DIR
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the
# user postgres (runuser); as another user it runs as that user. When the
# server binaries are missing, Debian's postgresql is installed (root only).
set -euo pipefail

pgbin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  return 1
}

ensure_installed() {
  pgbin >/dev/null && return
  [ "$(id -u)" = 0 ] || { echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
}

asowner() {
  if [ "$(id -u)" = 0 ]; then (cd /tmp && runuser -u postgres -- "$@"); else "$@"; fi
}

free_port() {
  local p
  for p in $(shuf -i 20000-60000 -n 50); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  return 1
}

port_of() { sed -n 4p "$1/data/postmaster.pid"; }
url_of() { echo "postgresql://postgres@127.0.0.1:$(port_of "$1")/${2:-postgres}"; }

start() {
  local dir=$1 bin port
  ensure_installed
  bin=$(pgbin)
  stop "$dir" # a cluster left by an interrupted run
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  asowner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = on
synchronous_commit = on
max_connections = 200
CONF
  # The port is free when picked but another process may take it before
  # the server binds it: a failed start says why and tries another port.
  local try
  for try in 1 2 3; do
    port=$(free_port)
    echo "port = $port" >>"$dir/data/postgresql.conf" # the last setting wins
    if asowner "$bin/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 start >/dev/null; then
      url_of "$dir"
      return
    fi
    echo "pg.sh: the cluster did not start (try $try); its log ends:" >&2
    tail -n 5 "$dir/data/server.log" >&2 || true
  done
  return 1
}

stop() {
  local dir=$1 bin
  bin=$(pgbin) || true
  if [ -n "$bin" ] && [ -f "$dir/data/postmaster.pid" ]; then
    asowner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

createdb() {
  local dir=$1 name=$2
  "$(pgbin)/psql" -X -q -v ON_ERROR_STOP=1 "$(url_of "$dir")" -c "CREATE DATABASE $name" >/dev/null
  url_of "$dir" "$name"
}

case "${1:-}" in
  start) start "${2:?dir}" ;;
  stop) stop "${2:?dir}" ;;
  url) url_of "${2:?dir}" ;;
  createdb) createdb "${2:?dir}" "${3:?name}" ;;
  *) echo "usage: pg.sh start|stop|url|createdb DIR [NAME]" >&2; exit 2 ;;
esac
