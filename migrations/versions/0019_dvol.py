"""DVOL: dvol (1-minute OHLC), dvol_1h and dvol_1d.

Revision ID: 0019
Revises: 0018
"""

from ingest.schema import run_sql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0019_dvol.sql")


def downgrade() -> None:
    run_sql("revisions/0019_dvol.down.sql")
