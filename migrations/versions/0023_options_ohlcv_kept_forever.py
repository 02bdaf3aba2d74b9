"""options_ohlcv kept forever: the candles built from the trade tape are not dropped after 90 days.

Revision ID: 0023
Revises: 0022
"""

from ingest.schema import run_sql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0023_options_ohlcv_kept_forever.sql")


def downgrade() -> None:
    run_sql("revisions/0023_options_ohlcv_kept_forever.down.sql")
