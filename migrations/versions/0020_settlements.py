"""Settlements: settlements (every event, every field) and delivery_price_disagreements.

Revision ID: 0020
Revises: 0019
"""

from ingest.schema import run_sql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0020_settlements.sql")


def downgrade() -> None:
    run_sql("revisions/0020_settlements.down.sql")
