"""Constant-maturity volatility: vol_surface_cm_1h, refresh_vol_surface_cm_1h, vol_constant_maturity_1h.

Revision ID: 0011
Revises: 0010
"""

from ingest.schema import run_sql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0011_vol_constant_maturity_1h.sql")


def downgrade() -> None:
    run_sql("revisions/0011_vol_constant_maturity_1h.down.sql")
