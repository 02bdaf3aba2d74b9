"""Funding rates as double precision: the exchange's float64 values to the last digit.

Revision ID: 0007
Revises: 0006
"""

from ingest.schema import run_sql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0007_funding_rates_float8.sql")


def downgrade() -> None:
    run_sql("revisions/0007_funding_rates_float8.down.sql")
