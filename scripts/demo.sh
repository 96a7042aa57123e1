#!/usr/bin/env bash
# make demo: the bundled demo site, one real run of the news_ingest DAG through Airflow,
# then a readable summary of what landed in the SQLite warehouse.
set -euo pipefail
source "$(dirname "$0")/env.sh"
trap stop_demo_site EXIT
start_demo_site

echo "Airflow home: $AIRFLOW_HOME (SQLite metadata)"
airflow db migrate >"$INGEST_HOME/airflow-db.log" 2>&1 || { tail -20 "$INGEST_HOME/airflow-db.log"; exit 1; }

echo "running the news_ingest DAG once (airflow dags test news_ingest) ..."
log="$INGEST_HOME/dag-run.log"
if ! airflow dags test news_ingest >"$log" 2>&1; then
  tail -40 "$log"
  echo "the DAG run failed; full log in $log"
  exit 1
fi
echo "the DAG run succeeded ($(grep -o 'run_duration=[0-9.]*' "$log" | tail -1 | cut -d= -f2 | cut -c1-5) s in Airflow)"
echo
ingest report --articles 3
echo
echo "warehouse: $INGEST_HOME/warehouse.db   raw pages: $INGEST_HOME/archive   DAG log: $log"
echo "run it again (make demo) to see a second run store nothing new; 'make airflow' for the UI."
