"""Views, continuous aggregates and storage policies: sql/revisions/0002_views_policies/.

The files are a frozen copy of what sql/views/ and sql/policies/ held when 0003 was released (commit
8449bb6^). Earlier releases of 0002 ran older versions of some of them; revision 0008 brings such
databases to these definitions. Released: never edit this file or the files it runs
(tests/test_migration_history.py).

Revision ID: 0002
Revises: 0001
"""

from ingest.schema import run_sql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

FOLDER = "revisions/0002_views_policies"
# run in this order; downgrade runs each file's .down.sql in the reverse order
FILES = (
    "views/10_aggregates",
    "views/20_basis",
    "views/30_funding",
    "views/40_data_quality",
    "views/50_options",
    "policies/10_storage_settings",
    "policies/20_compression",
    "policies/30_apply_policies",
    "policies/90_roles",
)


def upgrade() -> None:
    for name in FILES:
        run_sql(f"{FOLDER}/{name}.sql")


def downgrade() -> None:
    for name in reversed(FILES):
        run_sql(f"{FOLDER}/{name}.down.sql")
