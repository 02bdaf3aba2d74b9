"""options_greeks.iv_source: 'exchange' (mark_iv as sent), 'inverted' (from mark_price), NULL (no IV).

Revision ID: 0006
Revises: 0005
"""

from ingest.schema import run_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0006_options_greeks_iv_source.sql")


def downgrade() -> None:
    run_sql("revisions/0006_options_greeks_iv_source.down.sql")
