#!/usr/bin/env bash
# make airflow: `airflow standalone` on the demo's Airflow home and warehouse, with the
# news_ingest DAG unpaused and scheduled against the bundled demo site. Ctrl-C stops all.
set -euo pipefail
source "$(dirname "$0")/env.sh"

export AIRFLOW_PORT="${AIRFLOW_PORT:-8080}"
export AIRFLOW__API__PORT="$AIRFLOW_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$AIRFLOW_PORT/execution/"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
if [ ! -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ]; then
  python -c 'import json, secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' \
    > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
  chmod 600 "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
fi
PASSWORD="$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")"

AIRFLOW_PID=""
group_alive() {  # any live (non-zombie) process in process group $1?
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {found = 1} END {exit !found}'
}
cleanup() {
  if [ -n "$AIRFLOW_PID" ]; then
    echo "stopping Airflow ..."
    # INT, then TERM, then KILL: the triggerer and idle LocalExecutor workers can outlive both.
    for signal in INT TERM KILL; do
      kill -"$signal" -- "-$AIRFLOW_PID" 2>/dev/null || break
      for _ in $(seq 1 10); do group_alive "$AIRFLOW_PID" || break 2; sleep 1; done
    done
  fi
  stop_demo_site
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# It keeps publishing (a story every DEMO_TICK_S seconds, default 90); a feed fails and a
# host throttles for a while every hour.
start_demo_site --live --tick-seconds "${DEMO_TICK_S:-90}"
airflow db migrate >"$INGEST_HOME/airflow-db.log" 2>&1 || { tail -20 "$INGEST_HOME/airflow-db.log"; exit 1; }
# the pools the DAGs' tasks name: the scheduler never runs a task whose pool is missing
airflow pools import "$ROOT/deploy/pools.json" >>"$INGEST_HOME/airflow-db.log" 2>&1 || { tail -20 "$INGEST_HOME/airflow-db.log"; exit 1; }

log="$INGEST_HOME/airflow-standalone.log"
# A background job inherits SIGINT as ignored; restore it so the group can be stopped.
setsid python -c 'import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp("airflow", ["airflow", "standalone"])' \
  >"$log" 2>&1 </dev/null &
AIRFLOW_PID=$!
echo "starting airflow standalone (log: $log) ..."
for _ in $(seq 1 120); do
  http_ok "http://127.0.0.1:$AIRFLOW_PORT/api/v2/monitor/health" && break
  kill -0 "$AIRFLOW_PID" 2>/dev/null || { tail -30 "$log"; exit 1; }
  sleep 1
done
for _ in $(seq 1 60); do
  airflow dags list -o plain 2>/dev/null | grep -q news_ingest && break
  sleep 2
done
airflow dags unpause news_ingest >/dev/null
cat <<EOT

  Airflow UI:  http://127.0.0.1:$AIRFLOW_PORT/dags/news_ingest
  Log in as:   admin / $PASSWORD   (stored in $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE)
  The DAG is unpaused and runs ${INGEST_SCHEDULE:-every 15 minutes} against the demo site, which
  keeps publishing (a story every ${DEMO_TICK_S:-90} s; coastline-daily-news fails in minutes 15-35 of each hour, and
  northfield-courier answers 429 in minutes 40-50). Trigger a run from the UI at any time.
  Dashboard:   http://127.0.0.1:$AIRFLOW_PORT/plugin/news-ingest
  Backfill:    airflow backfill create --dag-id news_ingest --from-date <ISO> --to-date <ISO>
               (run with: source scripts/env.sh, so it uses this Airflow home)
  Warehouse:   $INGEST_HOME/warehouse.db      Ctrl-C stops Airflow and the demo site.

EOT
wait "$AIRFLOW_PID"
