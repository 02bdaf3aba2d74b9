"""The 30-day constant-maturity ATM volatility beside DVOL (atm_vs_dvol_1h).

Revision ID: 0022
Revises: 0021
"""

from ingest.schema import run_sql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0022_atm_vs_dvol.sql")


def downgrade() -> None:
    run_sql("revisions/0022_atm_vs_dvol.down.sql")
