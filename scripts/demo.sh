#!/usr/bin/env bash
# make demo: the bundled demo site, one real run of the news_ingest DAG through Airflow,
# then a readable summary of what landed in the SQLite warehouse.
set -euo pipefail
source "$(dirname "$0")/env.sh"
trap stop_demo_site EXIT
if http_ok "http://127.0.0.1:$DEMO_PORT/opml.xml"; then
  echo "a demo site already answers on port $DEMO_PORT (make airflow?): make demo is one" \
    "deterministic run on its own site; stop that one, or set DEMO_PORT, INGEST_HOME and" \
    "AIRFLOW_HOME for a demo of its own" >&2
  exit 1
fi
start_demo_site

echo "Airflow home: $AIRFLOW_HOME (SQLite metadata)"
airflow db migrate >"$INGEST_HOME/airflow-db.log" 2>&1 || { tail -20 "$INGEST_HOME/airflow-db.log"; exit 1; }

# The run goes through the LocalExecutor and an API server of its own, so that each task
# writes its log where the Airflow UI reads it (plain `dags test` runs tasks in-process
# and writes none: the UI would say "Log file not found").
API_PORT="$(free_port)"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# one worker: with more, LocalExecutor.end() can wait forever on a worker that missed its
# shutdown message (seen with Airflow 3.3.2), and the demo run is small
export AIRFLOW__CORE__PARALLELISM=1
export AIRFLOW__API__PORT="$API_PORT"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$API_PORT/execution/"
setsid airflow api-server --host 127.0.0.1 --port "$API_PORT" --workers 1 \
  >"$INGEST_HOME/demo-api-server.log" 2>&1 </dev/null &
API_PID=$!
stop_all() {
  kill -TERM -- "-$API_PID" 2>/dev/null || true
  wait "$API_PID" 2>/dev/null || true
  stop_demo_site
}
trap stop_all EXIT
for _ in $(seq 1 120); do
  http_ok "http://127.0.0.1:$API_PORT/api/v2/monitor/health" && break
  kill -0 "$API_PID" 2>/dev/null || { tail -30 "$INGEST_HOME/demo-api-server.log"; exit 1; }
  sleep 1
done

echo "running the news_ingest DAG once (airflow dags test news_ingest --use-executor) ..."
log="$INGEST_HOME/dag-run.log"
if ! airflow dags test news_ingest --use-executor >"$log" 2>&1; then
  tail -40 "$log"
  echo "the DAG run failed; full log in $log"
  exit 1
fi
echo "the DAG run succeeded ($(grep -o 'run_duration=[0-9.]*' "$log" | tail -1 | cut -d= -f2 | cut -c1-5) s in Airflow)"
echo
ingest report --articles 3
echo
echo "warehouse: $INGEST_HOME/warehouse.db   raw pages: $INGEST_HOME/archive   DAG log: $log"
echo "run it again (make demo) to see a second run store nothing new; 'make airflow' for the UI"
echo "(this run and its task logs are there)."
