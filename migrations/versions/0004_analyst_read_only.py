"""The analyst role reads and nothing else: no jobs, no temporary objects, no advisory locks.

Revokes from PUBLIC what PostgreSQL and TimescaleDB grant every role by default (TEMPORARY on the
database; EXECUTE on TimescaleDB's job, policy, chunk and admin routines, on advisory locks and on
large-object creation) and gives ingest_writer back TEMPORARY, which the loader uses. Needs a
superuser. A role changing its own password cannot be prevented in SQL: docs/sql-layer.md ("Roles").
Downgrade gives PUBLIC those defaults back.

Revision ID: 0004
Revises: 0003
"""

from ingest.schema import run_sql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0004_analyst_read_only.sql")


def downgrade() -> None:
    run_sql("revisions/0004_analyst_read_only.down.sql")
