"""ATM implied volatility per expiry at every chain snapshot: vol_expiry_1m, refresh_vol_expiry_1m, atm_vol_1m.

Revision ID: 0009
Revises: 0008
"""

from ingest.schema import run_sql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0009_vol_expiry_1m.sql")


def downgrade() -> None:
    run_sql("revisions/0009_vol_expiry_1m.down.sql")
