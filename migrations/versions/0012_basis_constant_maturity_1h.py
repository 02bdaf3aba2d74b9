"""Constant-maturity futures basis: basis_cm_1h, refresh_basis_cm_1h, basis_constant_maturity_1h.

Revision ID: 0012
Revises: 0011
"""

from ingest.schema import run_sql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0012_basis_constant_maturity_1h.sql")


def downgrade() -> None:
    run_sql("revisions/0012_basis_constant_maturity_1h.down.sql")
