"""near-duplicate signatures and their LSH band index

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_signatures",
        sa.Column("article_id", sa.String(length=32), nullable=False),
        sa.Column("signature_version", sa.Integer(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=True),
        sa.Column("shingle_count", sa.Integer(), nullable=False),
        sa.Column("title_key", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clustered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_signatures")),
    )
    op.create_table(
        "signature_bands",
        sa.Column("band", sa.SmallInteger(), nullable=False),
        sa.Column("band_key", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("band", "band_key", "article_id", name=op.f("pk_signature_bands")),
    )
    with op.batch_alter_table("signature_bands", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signature_bands_article_id"), ["article_id"])


def downgrade() -> None:
    op.drop_table("signature_bands")
    op.drop_table("article_signatures")
