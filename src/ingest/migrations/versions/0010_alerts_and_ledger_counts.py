"""alert states (what each alert subject was last announced as, what waits for delivery);
the ledger's page and row counts that add up

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_states",
        sa.Column("alert_key", sa.String(length=250), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered", sa.String(length=200), server_default="", nullable=False),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("alert_key", name=op.f("pk_alert_states")),
    )
    with op.batch_alter_table("alert_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_states_notified_at"), ["notified_at"])
    with op.batch_alter_table("load_ledger", schema=None) as batch_op:
        for name in ("pages_extracted", "pages_deferred", "rejected"):
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))
    # Older rows, made to add up: every article a load received was an extracted page;
    # the rows it neither stored, kept nor dropped as copies were rejected, and were
    # counted in pages_failed then; pages fetched are the extracted and the failed ones.
    left = "rows_in - inserted - updated - skipped - duplicates"
    op.execute(
        f"UPDATE load_ledger SET pages_extracted = rows_in,"
        f" rejected = CASE WHEN {left} > 0 THEN {left} ELSE 0 END"
    )
    op.execute(
        "UPDATE load_ledger SET pages_failed = CASE WHEN pages_failed > rejected"
        " THEN pages_failed - rejected ELSE 0 END"
    )
    op.execute("UPDATE load_ledger SET pages_fetched = pages_extracted + pages_failed")


def downgrade() -> None:
    with op.batch_alter_table("load_ledger", schema=None) as batch_op:
        for name in ("rejected", "pages_deferred", "pages_extracted"):
            batch_op.drop_column(name)
    op.drop_table("alert_states")
