# Throwaway PostgreSQL (and PgBouncer) for scripts/test and
# scripts/schemathesis: sourced, not run. start_throwaway_postgres sets
# ORDO_TEST_POSTGRES_URL; stop_throwaway_postgres removes everything it made.
# Both expect the caller to set `AS=()` first.

find_pg_bin() {
  local tool=$1 dir
  if command -v "$tool" >/dev/null 2>&1; then command -v "$tool"; return; fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/$tool" ]; then echo "$dir/$tool"; return; fi
  done
  return 1
}

# Below the kernel's ephemeral range (32768-60999 on Linux), where an outgoing
# connection's local port can make a bind fail although nothing listens.
free_port() {
  local port
  for port in $(seq "${1:-25432}" 25532); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  return 1
}

start_throwaway_postgres() {
  local initdb pg_ctl port
  initdb=$(find_pg_bin initdb) || return 1
  pg_ctl=$(find_pg_bin pg_ctl) || return 1
  PG_DIR=$(mktemp -d -t ordo-pg.XXXXXX)
  # PostgreSQL refuses to run as root: run it as an unprivileged user.
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    chown "$user" "$PG_DIR"
    local runuser
    runuser=$(PATH="$PATH:/usr/sbin:/sbin" command -v runuser) || { echo "runuser not found" >&2; return 1; }
    AS=("$runuser" -u "$user" --)
  fi
  "${AS[@]}" "$initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1 || {
    cat "$PG_DIR/initdb.log" >&2; return 1; }
  # A port can be taken between the probe and the bind: try the next ones.
  local attempt started=
  port=25431
  for attempt in 1 2 3; do
    port=$(free_port $((port + 1))) || return 1
    if "${AS[@]}" "$pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start \
      -o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null; then
      started=1
      break
    fi
  done
  [ -n "$started" ] || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_STOP=("${AS[@]}" "$pg_ctl" -D "$PG_DIR/data" -m immediate stop)
  PG_PORT=$port
  export ORDO_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "Started a throwaway PostgreSQL ($("$pg_ctl" --version)) on port $port." >&2
}

start_pgbouncer() {
  local pgbouncer port
  pgbouncer=$(PATH="$PATH:/usr/sbin" command -v pgbouncer) || return 1
  port=$(free_port) || return 1
  printf '"postgres" ""\n' >"$PG_DIR/userlist.txt"
  cat >"$PG_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $PG_DIR/userlist.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 500
logfile = $PG_DIR/pgbouncer.log
pidfile = $PG_DIR/pgbouncer.pid
INI
  "${AS[@]}" "$pgbouncer" -d "$PG_DIR/pgbouncer.ini" || { cat "$PG_DIR/pgbouncer.log" >&2; return 1; }
  BOUNCER_PID_FILE=$PG_DIR/pgbouncer.pid
  export ORDO_TEST_PGBOUNCER_URL="postgres://postgres@127.0.0.1:$port/postgres"
  export ORDO_TEST_REQUIRE_PGBOUNCER=1
  echo "Started PgBouncer ($("$pgbouncer" --version | head -1)) in transaction mode on port $port." >&2
}

stop_throwaway_postgres() {
  if [ -n "${BOUNCER_PID_FILE:-}" ] && [ -f "$BOUNCER_PID_FILE" ]; then kill "$(cat "$BOUNCER_PID_FILE")" 2>/dev/null || true; fi
  if [ -n "${PG_STOP:-}" ]; then "${PG_STOP[@]}" >/dev/null 2>&1 || true; fi
  if [ -n "${PG_DIR:-}" ]; then rm -rf "$PG_DIR"; fi
}
