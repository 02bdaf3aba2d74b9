"""Historical volatility (forward-only): historical_volatility and historical_volatility_gaps.

Revision ID: 0021
Revises: 0020
"""

from ingest.schema import run_sql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0021_historical_volatility.sql")


def downgrade() -> None:
    run_sql("revisions/0021_historical_volatility.down.sql")
