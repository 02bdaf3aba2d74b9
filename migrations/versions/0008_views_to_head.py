"""Databases whose 0002 ran older SQL get the definitions of today's 0002.

futures_basis_1h, apply_storage_policies(), storage_settings.refresh_batch_buckets, the compression
rollup and the refresh policies, as sql/revisions/0002_views_policies/ defines them. Revision 0002 used
to run whatever sql/views/ and sql/policies/ held at upgrade time, and those files changed after 0002
was first released. Now 0002 runs a frozen copy and this revision brings databases migrated by an
older checkout to it; on any other database it changes nothing. What changed and when:
sql/revisions/0008_views_to_head.sql.

Downgrade changes nothing: the definitions installed here are those today's 0002 installs, so revision
0007 has them too.

Revision ID: 0008
Revises: 0007
"""

from ingest.schema import run_sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_sql("revisions/0008_views_to_head.sql")


def downgrade() -> None:
    pass
