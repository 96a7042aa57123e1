# Shared environment for the demo and `make airflow`: sourced, not run.
# The Airflow home and the demo's warehouse live in the project, git-ignored.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
mkdir -p "$AIRFLOW_HOME"
if [ ! -s "$AIRFLOW_HOME/jwt_secret" ]; then
  "$ROOT/.venv/bin/python" -c 'import secrets; print(secrets.token_hex(48))' > "$AIRFLOW_HOME/jwt_secret"
fi
export AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$AIRFLOW_HOME/jwt_secret")"

export DEMO_PORT="${DEMO_PORT:-8765}"
export INGEST_HOME="${INGEST_HOME:-$ROOT/var/demo}"
export INGEST_FEEDS_FILE="${INGEST_FEEDS_FILE:-$INGEST_HOME/feeds.toml}"
# The demo site's slow page drips for 8 s; the demo's page deadline cuts it at 3 s.
export INGEST_PAGE_DEADLINE_S="${INGEST_PAGE_DEADLINE_S:-3}"
# The demo site lives on 127.0.0.1-4: let the fetcher reach loopback (refused by default),
# and be only mildly polite to our own local server (the default delay is 3 s per host).
export INGEST_ALLOW_LOOPBACK="${INGEST_ALLOW_LOOPBACK:-true}"
export INGEST_POLITENESS_DELAY_S="${INGEST_POLITENESS_DELAY_S:-0.5}"
export PATH="$ROOT/.venv/bin:$PATH"
mkdir -p "$INGEST_HOME"

http_ok() {  # curl may be missing on a fresh machine; Python is not
  python - "$1" <<'PY' >/dev/null 2>&1
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2).read(1)
PY
}

free_port() {
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Start the demo news site in the background unless it is already up ("$@": e.g. --live).
start_demo_site() {
  if http_ok "http://127.0.0.1:$DEMO_PORT/opml.xml"; then
    echo "demo news site already running on port $DEMO_PORT (reused as it is${1:+; wanted: $*})"
    return 0
  fi
  setsid python -m ingest.demosite serve --port "$DEMO_PORT" --feeds-out "$INGEST_FEEDS_FILE" "$@" \
    >"$INGEST_HOME/demosite.log" 2>&1 &
  DEMO_SITE_PID=$!
  for _ in $(seq 1 50); do
    http_ok "http://127.0.0.1:$DEMO_PORT/opml.xml" && break
    sleep 0.2
  done
  [ -s "$INGEST_FEEDS_FILE" ] || { echo "demo site did not start; see $INGEST_HOME/demosite.log"; return 1; }
  echo "demo news site on http://127.0.0.1:$DEMO_PORT (pid $DEMO_SITE_PID), feeds in $INGEST_FEEDS_FILE"
}

stop_demo_site() {
  if [ -n "${DEMO_SITE_PID:-}" ]; then
    kill -TERM -- "-$DEMO_SITE_PID" 2>/dev/null || kill "$DEMO_SITE_PID" 2>/dev/null || true
    wait "$DEMO_SITE_PID" 2>/dev/null || true
  fi
}
