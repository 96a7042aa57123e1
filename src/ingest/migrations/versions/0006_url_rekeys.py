"""URL rules versions on feed entries, their lookup indexes, and the re-key record

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every entry stored so far was keyed by rules version 1 (the only one before this).
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("url_rules_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.create_index(
            batch_op.f("ix_feed_entries_url_rules_version_entry_id"),
            ["url_rules_version", "entry_id"],
        )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_articles_url_rules_version_article_id"),
            ["url_rules_version", "article_id"],
        )
    op.create_table(
        "article_rekeys",
        sa.Column("old_article_id", sa.String(length=32), nullable=False),
        sa.Column("new_article_id", sa.String(length=32), nullable=False),
        sa.Column("old_canonical_url", sa.Text(), nullable=False),
        sa.Column("new_canonical_url", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url_rules_version", sa.Integer(), nullable=False),
        sa.Column("rekeyed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("old_article_id", name=op.f("pk_article_rekeys")),
    )
    with op.batch_alter_table("article_rekeys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_article_rekeys_new_article_id"), ["new_article_id"])


def downgrade() -> None:
    op.drop_table("article_rekeys")
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_articles_url_rules_version_article_id"))
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feed_entries_url_rules_version_entry_id"))
        batch_op.drop_column("url_rules_version")
