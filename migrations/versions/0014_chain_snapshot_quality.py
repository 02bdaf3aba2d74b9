"""Quality of every chain snapshot per expiry: chain_snapshot_quality.

Revision ID: 0014
Revises: 0013
"""

from ingest.schema import run_sql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0014_chain_snapshot_quality.sql")


def downgrade() -> None:
    run_sql("revisions/0014_chain_snapshot_quality.down.sql")
