"""Hourly ATM and skew per expiry: vol_expiry_1h, refresh_vol_expiry_1h, atm_vol_1h, vol_skew_1h.

Revision ID: 0010
Revises: 0009
"""

from ingest.schema import run_sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0010_vol_expiry_1h.sql")


def downgrade() -> None:
    run_sql("revisions/0010_vol_expiry_1h.down.sql")
