"""Base tables: instruments, the six market-data hypertables, bookkeeping.

Revision ID: 0001
Revises:
"""

from ingest.schema import run_sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0001_tables.sql")


def downgrade() -> None:
    run_sql("revisions/0001_tables.down.sql")
