"""The trade tape: trades (hypertable, compressed after a week, kept forever).

Revision ID: 0017
Revises: 0016
"""

from ingest.schema import run_sql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0017_trades.sql")


def downgrade() -> None:
    run_sql("revisions/0017_trades.down.sql")
