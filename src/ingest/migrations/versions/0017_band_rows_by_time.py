"""the band index ordered by time: a band's latest rows in the comparison window are an
index range, however many articles share the band (a wire story on a thousand sites)

The primary key becomes (band, band_key, at, article_id): an article's rows all carry its
one time, so no two rows it allowed before collide, and no index is added. SQLite
rebuilds the table, as its key's B-tree (WITHOUT ROWID); PostgreSQL replaces the key.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(columns: list[str], *, rowid: bool) -> None:
    with op.batch_alter_table(
        "signature_bands", schema=None, table_kwargs={"sqlite_with_rowid": rowid}
    ) as batch_op:
        batch_op.drop_constraint("pk_signature_bands", type_="primary")
        batch_op.create_primary_key("pk_signature_bands", columns)


def upgrade() -> None:
    # On SQLite the table is its key's B-tree (WITHOUT ROWID), with no rowid table beside
    # it: 11% less storage per signed article, measured (docs/benchmarks.md).
    _key(["band", "band_key", "at", "article_id"], rowid=False)


def downgrade() -> None:
    _key(["band", "band_key", "article_id"], rowid=True)
