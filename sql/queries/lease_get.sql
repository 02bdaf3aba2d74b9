-- The current lease row, whether it is still valid, and the database's clock.
SELECT name, holder, acquired_at, renewed_at, expires_at, expires_at > now() AS valid, now() AS db_now
FROM leader_lease
WHERE name = %(name)s
