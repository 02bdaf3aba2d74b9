"""What migration revisions import: `from ingest.schema import run_sql`.

A released revision never changes (migrations/released_revisions.txt), so the names revisions import
stay here, whatever the package's layout; the code lives in ingest/storage/schema.py."""

from ingest.storage.schema import run_sql

__all__ = ["run_sql"]
