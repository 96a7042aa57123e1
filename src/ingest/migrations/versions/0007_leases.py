"""leases: the crawl holding each host, and the pages each run has claimed

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "page_leases",
        sa.Column("canonical_url", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("canonical_url", name=op.f("pk_page_leases")),
    )
    with op.batch_alter_table("page_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_page_leases_run_id"), ["run_id"])


def downgrade() -> None:
    op.drop_table("page_leases")
    with op.batch_alter_table("hosts", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
