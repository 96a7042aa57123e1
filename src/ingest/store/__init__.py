"""The warehouse: the only part of news-ingest that knows tables or writes SQL.

Split by concern; each module's docstring says what it keeps:

- :mod:`~ingest.store.schema`: the tables (the product's public interface);
- :mod:`~ingest.store.engine`: engines, transactions, safe errors, the writer lock,
  migrations;
- :mod:`~ingest.store.dialects`: everything that differs between SQLite and PostgreSQL;
- :mod:`~ingest.store.rows`: the Article record as a row and as a staged payload;
- :mod:`~ingest.store.feeds`: feed state and poll outcomes;
- :mod:`~ingest.store.queue`: entries, hosts and page jobs, and page outcomes;
- :mod:`~ingest.store.leases`: which crawl holds a host, which run holds a page;
- :mod:`~ingest.store.staging`: staged articles and the fetch log;
- :mod:`~ingest.store.loads`: article loads and the load ledger;
- :mod:`~ingest.store.clusters`: story-cluster storage;
- :mod:`~ingest.store.rekeys`: re-keying rows under new URL rules;
- :mod:`~ingest.store.reports`: reads for the CLI;
- :mod:`~ingest.store.metrics`: reads for the monitoring answers;
- :mod:`~ingest.store.alerts`: alert states and the alerts waiting for delivery.
"""
