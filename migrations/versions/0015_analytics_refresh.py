"""refresh_analytics(start, end) and the TimescaleDB job analytics_refresh_job.

Revision ID: 0015
Revises: 0014
"""

from ingest.schema import run_sql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0015_analytics_refresh.sql")


def downgrade() -> None:
    run_sql("revisions/0015_analytics_refresh.down.sql")
