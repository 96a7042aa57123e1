"""provenance of each queued entry: the kind of source that listed it and which one
(a feed's own entries: 'feed' and the feed key)

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_kind", sa.String(length=16), server_default="feed", nullable=False)
        )
        batch_op.add_column(sa.Column("source_key", sa.Text(), server_default="", nullable=False))
    # every entry so far was listed by its own feed
    op.execute("UPDATE feed_entries SET source_key = feed_key")


def downgrade() -> None:
    with op.batch_alter_table("feed_entries", schema=None) as batch_op:
        batch_op.drop_column("source_key")
        batch_op.drop_column("source_kind")
