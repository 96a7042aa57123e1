#!/bin/sh
# Run once by the postgres image on an empty data directory: Airflow's metadata database
# and the news warehouse side by side, each with its own owner. The passwords come from
# the same variables the Airflow services use (docker-compose.yml).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
  -v airflow_pw="${AIRFLOW_DB_PASSWORD:-airflow}" -v ingest_pw="${WAREHOUSE_DB_PASSWORD:-ingest}" <<'SQL'
CREATE USER airflow WITH PASSWORD :'airflow_pw';
CREATE DATABASE airflow OWNER airflow;
CREATE USER ingest WITH PASSWORD :'ingest_pw';
CREATE DATABASE warehouse OWNER ingest;
SQL
