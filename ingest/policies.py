"""What revision 0003 imports: `from ingest.policies import set_role_passwords`.

A released revision never changes (migrations/released_revisions.txt), so the names revisions import
stay here, whatever the package's layout; the code lives in ingest/storage/policies.py."""

from ingest.storage.policies import set_role_passwords

__all__ = ["set_role_passwords"]
