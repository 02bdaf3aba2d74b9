-- Extend our lease; no row back means we no longer hold it (another process took it over).
UPDATE leader_lease
SET renewed_at = now(), expires_at = now() + make_interval(secs => %(seconds)s)
WHERE name = %(name)s AND holder = %(holder)s
RETURNING expires_at
