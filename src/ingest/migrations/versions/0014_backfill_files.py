"""the files a backfill has read and loaded (CC-NEWS WARC files), so that a killed
backfill resumes after them

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backfill_files",
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("captures", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source_kind", "scope", "path", name=op.f("pk_backfill_files")),
    )


def downgrade() -> None:
    op.drop_table("backfill_files")
