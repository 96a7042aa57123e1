"""adaptive feed schedule, broken flag; per-host politeness and robots.txt cache

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_interval_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_interval_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("poll_interval_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("new_per_hour", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("failure_kind", sa.String(length=8), nullable=True))
        batch_op.add_column(
            sa.Column("broken", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("broken_since", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "hosts",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("next_eligible_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_request_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("crawl_delay_s", sa.Float(), nullable=True),
        sa.Column("robots_status", sa.Integer(), nullable=True),
        sa.Column("robots_txt", sa.Text(), nullable=True),
        sa.Column("robots_fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("robots_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("throttled_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_throttle", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_hosts")),
    )


def downgrade() -> None:
    op.drop_table("hosts")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        for column in (
            "broken_since", "broken", "failure_kind", "new_per_hour", "poll_interval_s",
            "max_interval_minutes", "min_interval_minutes",
        ):  # fmt: skip
            batch_op.drop_column(column)
