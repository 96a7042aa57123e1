"""the band index read by time: a band's latest rows in the comparison window are an
index range, however many articles share the band (a wire story on a thousand sites)

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_signature_bands_latest", "signature_bands", ["band", "band_key", "at", "article_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_signature_bands_latest", table_name="signature_bands")
