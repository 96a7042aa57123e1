#!/usr/bin/env bash
# make scale-demo: docker-compose.yml's CeleryExecutor topology on this machine, without
# Docker (tools/celery_topology.py, as tests/test_celery_run.py starts it): PostgreSQL,
# Redis, Airflow's scheduler, API server, dag-processor and triggerer, a Celery worker for
# the fetch queue and one for the cpu queue, and the demo site. It runs news_ingest once,
# prints where each task ran and what landed, and stops everything.
# SCALE_DEMO_KEEP=1 keeps it all running until Ctrl-C; SCALE_DEMO_HOME keeps its state.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
args=()
[ -n "${SCALE_DEMO_HOME:-}" ] && args+=(--home "$SCALE_DEMO_HOME")
[ "${SCALE_DEMO_KEEP:-0}" != 0 ] && args+=(--keep)
exec "$ROOT/.venv/bin/python" "$ROOT/tools/celery_topology.py" "${args[@]}"
