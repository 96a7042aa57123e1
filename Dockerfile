# The news-ingest image: Airflow 3.3 with the CeleryExecutor, our DAGs and library, all
# pinned by uv.lock (the lock is the constraint set). Used by docker-compose.yml.
FROM python:3.11-slim-bookworm

COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /usr/local/bin/uv
ENV UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    AIRFLOW_HOME=/opt/airflow \
    PATH=/app/.venv/bin:$PATH

RUN useradd --create-home --uid 50000 --home-dir /opt/airflow airflow
WORKDIR /app

# Dependencies first (cached while only our code changes), exactly as locked.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-group bench --extra airflow --extra celery --no-install-project

COPY src ./src
COPY dags ./dags
COPY plugins ./plugins
COPY deploy/pools.json ./deploy/pools.json
RUN uv sync --frozen --no-dev --no-group bench --extra airflow --extra celery \
    && chown -R airflow /opt/airflow

USER airflow
