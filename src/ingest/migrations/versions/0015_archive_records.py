"""the raw archive's index: where each body's WARC response record is (file, offset,
length), so that re-extracting a page reads that one record

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archive_records",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("file", sa.String(length=512), nullable=False),
        sa.Column("record_offset", sa.BigInteger(), nullable=False),
        sa.Column("record_length", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_archive_records")),
    )


def downgrade() -> None:
    op.drop_table("archive_records")
