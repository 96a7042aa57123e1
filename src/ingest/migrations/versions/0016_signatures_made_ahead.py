"""near-duplicate signatures made ahead: a fetch's worker signs each article it extracts;
the signature is staged with the article and queued with it for the clustering pass

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("article_staging", "cluster_queue"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("signature", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    for table in ("article_staging", "cluster_queue"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("signature")
