"""the band index ordered by time: a band's latest rows in the comparison window are an
index range, however many articles share the band (a wire story on a thousand sites)

The primary key becomes (band, band_key, at, article_id): an article's rows all carry its
one time, so no two rows it allowed before collide, and no index is added (storage per
article is unchanged). SQLite rebuilds the table; PostgreSQL replaces the constraint.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(columns: list[str]) -> None:
    with op.batch_alter_table("signature_bands", schema=None) as batch_op:
        batch_op.drop_constraint("pk_signature_bands", type_="primary")
        batch_op.create_primary_key("pk_signature_bands", columns)


def upgrade() -> None:
    _key(["band", "band_key", "at", "article_id"])


def downgrade() -> None:
    _key(["band", "band_key", "article_id"])
