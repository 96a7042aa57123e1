"""monitoring: a feed's last warnings and usual gap between new items, the feed of each
fetch-log line, when a feed first listed each article, and the indexes the windows read

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FAILURES = sa.text("reason IS NOT NULL")
_WINDOW = (
    "first_seen_at", "source", "is_representative", "cluster_id", "first_listed_at",
    "published_at",
)  # fmt: skip


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_warning", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_new_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("new_gap_s", sa.Float(), nullable=True))
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_key", sa.String(length=200), nullable=True))
        batch_op.create_index(
            "ix_fetch_log_failures", ["fetched_at"],
            sqlite_where=_FAILURES, postgresql_where=_FAILURES,
        )  # fmt: skip
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.add_column(sa.Column("first_listed_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE articles SET first_listed_at = (SELECT min(e.first_seen_at) FROM feed_entries e"
        " WHERE e.article_id = articles.article_id)"
    )
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.create_index("ix_articles_window", list(_WINDOW))
    # A feed's last new item, as far as the queue remembers it.
    op.execute(
        "UPDATE feeds SET last_new_at = (SELECT max(e.first_seen_at) FROM feed_entries e"
        " WHERE e.feed_key = feeds.feed_key)"
    )


def downgrade() -> None:
    with op.batch_alter_table("articles", schema=None) as batch_op:
        batch_op.drop_index("ix_articles_window")
        batch_op.drop_column("first_listed_at")
    with op.batch_alter_table("fetch_log", schema=None) as batch_op:
        batch_op.drop_index("ix_fetch_log_failures")
        batch_op.drop_column("feed_key")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_column("new_gap_s")
        batch_op.drop_column("last_new_at")
        batch_op.drop_column("last_warning")
