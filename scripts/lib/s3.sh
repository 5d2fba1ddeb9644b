# A throwaway S3-protocol server (s3rver, from npm) for scripts/test:
# sourced, not run, after scripts/lib/postgres.sh (for free_port).
# start_throwaway_s3 sets ORDO_TEST_S3_URL and ORDO_TEST_S3_BUCKET;
# stop_throwaway_s3 stops it and removes its data.

S3RVER_VERSION=3.7.1

start_throwaway_s3() {
  command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || return 1
  # Installed once into a cache folder, then reused.
  local prefix="${XDG_CACHE_HOME:-$HOME/.cache}/ordo-test/s3rver-$S3RVER_VERSION"
  if [ ! -x "$prefix/node_modules/.bin/s3rver" ]; then
    echo "Installing s3rver $S3RVER_VERSION from npm into $prefix..." >&2
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" "s3rver@$S3RVER_VERSION" >&2 || return 1
  fi
  S3_DIR=$(mktemp -d -t ordo-s3.XXXXXX)
  local port attempt
  port=24568
  for attempt in 1 2 3; do
    port=$(free_port $((port + 1))) || return 1
    "$prefix/node_modules/.bin/s3rver" -d "$S3_DIR" -a 127.0.0.1 -p "$port" \
      --configure-bucket ordo-test --silent >"$S3_DIR.log" 2>&1 &
    S3_PID=$!
    local tries
    for tries in $(seq 50); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        export ORDO_TEST_S3_URL="http://127.0.0.1:$port" ORDO_TEST_S3_BUCKET=ordo-test
        echo "Started a throwaway S3 server (s3rver $S3RVER_VERSION) on port $port." >&2
        return 0
      fi
      kill -0 "$S3_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill "$S3_PID" 2>/dev/null || true
  done
  cat "$S3_DIR.log" >&2
  return 1
}

stop_throwaway_s3() {
  if [ -n "${S3_PID:-}" ]; then kill "$S3_PID" 2>/dev/null || true; wait "$S3_PID" 2>/dev/null || true; fi
  if [ -n "${S3_DIR:-}" ]; then rm -rf "$S3_DIR" "$S3_DIR.log"; fi
}
