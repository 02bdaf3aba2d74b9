"""Ranges loaded but not yet refreshed into the continuous aggregates; 'partial' backfill windows.

Revision ID: 0005
Revises: 0004
"""

from ingest.schema import run_sql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0005_cagg_refresh_pending.sql")


def downgrade() -> None:
    run_sql("revisions/0005_cagg_refresh_pending.down.sql")
