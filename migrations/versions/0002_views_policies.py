"""Views, continuous aggregates and storage policies from sql/views/ and sql/policies/.

Revision ID: 0002
Revises: 0001
"""

from ingest.schema import apply_sql_folders, revert_sql_folders

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    apply_sql_folders()


def downgrade() -> None:
    revert_sql_folders()
