"""the cluster step's work list (articles loaded and not yet signed), and an index to find
the signatures of another version, so the step's cost does not grow with the warehouse

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("article_signatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_article_signatures_signature_version_at_article_id"),
            ["signature_version", "at", "article_id"],
        )
    op.create_table(
        "cluster_queue",
        sa.Column("article_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_cluster_queue")),
    )
    with op.batch_alter_table("cluster_queue", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_queue_at_article_id"), ["at", "article_id"])
    # what the `cluster` step has not signed yet (it found these by their missing signature)
    op.execute(
        "INSERT INTO cluster_queue (article_id, at) "
        "SELECT a.article_id, coalesce(a.published_at, a.first_seen_at) FROM articles a "
        "WHERE NOT EXISTS (SELECT 1 FROM article_signatures s WHERE s.article_id = a.article_id)"
    )


def downgrade() -> None:
    op.drop_table("cluster_queue")
    with op.batch_alter_table("article_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_signatures_signature_version_at_article_id"))
