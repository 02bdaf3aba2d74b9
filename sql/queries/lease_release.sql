-- Give the lease up at shutdown: expire it now so a standby takes over at its next poll.
-- The row stays (holder, times) so `ingest status` shows who led last.
UPDATE leader_lease
SET expires_at = now(), renewed_at = now()
WHERE name = %(name)s AND holder = %(holder)s
RETURNING holder
