"""Roll-ups of the trade tape: trades_1m, trades_1h, liquidations_1h, block_trades_1h, block_trades.

Revision ID: 0018
Revises: 0017
"""

from ingest.schema import run_sql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0018_trades_rollups.sql")


def downgrade() -> None:
    run_sql("revisions/0018_trades_rollups.down.sql")
