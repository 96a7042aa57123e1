"""story cluster merges and splits: which cluster id went into which (signature version 2);
the rule version that decided each article's cluster

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_merges",
        sa.Column("merge_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("old_cluster_id", sa.String(length=32), nullable=False),
        sa.Column("new_cluster_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("article_id", sa.String(length=32), nullable=True),
        sa.Column("signature_version", sa.Integer(), nullable=True),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merge_id", name=op.f("pk_cluster_merges")),
    )
    with op.batch_alter_table("cluster_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cluster_merges_old_cluster_id"), ["old_cluster_id"])
        batch_op.create_index(batch_op.f("ix_cluster_merges_new_cluster_id"), ["new_cluster_id"])
    with op.batch_alter_table("article_signatures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("decided_version", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_article_signatures_decided_version_at_article_id"),
            ["decided_version", "at", "article_id"],
        )
    # every stored article was placed by the rules of the version it was signed with
    op.execute("UPDATE article_signatures SET decided_version = signature_version")


def downgrade() -> None:
    with op.batch_alter_table("article_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_article_signatures_decided_version_at_article_id"))
        batch_op.drop_column("decided_version")
    op.drop_table("cluster_merges")
