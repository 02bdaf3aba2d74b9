"""Carry: funding annualized beside the 30-day basis, carry_1h and carry_1d.

Revision ID: 0013
Revises: 0012
"""

from ingest.schema import run_sql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0013_carry.sql")


def downgrade() -> None:
    run_sql("revisions/0013_carry.down.sql")
