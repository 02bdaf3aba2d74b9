"""Passwords of the ingest_writer and analyst roles from the environment.

The roles and their grants are created by sql/policies/90_roles.sql (migration 0002). SQL files
cannot read the environment, so this step sets INGEST_WRITER_PASSWORD / INGEST_ANALYST_PASSWORD when
they are set (never logged). `ingest db apply-policies` sets them again after a change.
Downgrade leaves the passwords alone: roles are cluster-wide and outlive this database's schema.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from ingest.policies import set_role_passwords

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    set_role_passwords(op.get_bind().connection.driver_connection)


def downgrade() -> None:
    pass
