-- Take the leader lease if it is free, expired, or already ours (then it is renewed).
-- Returns one row when %(holder)s holds the lease afterwards, none when another live holder has it.
-- The database clock decides expiry, so the processes' clocks never need to agree.
INSERT INTO leader_lease AS l (name, holder, acquired_at, renewed_at, expires_at)
VALUES (%(name)s, %(holder)s, now(), now(), now() + make_interval(secs => %(seconds)s))
ON CONFLICT (name) DO UPDATE SET
    holder      = excluded.holder,
    acquired_at = CASE WHEN l.holder = excluded.holder THEN l.acquired_at ELSE now() END,
    renewed_at  = now(),
    expires_at  = excluded.expires_at
WHERE l.holder = excluded.holder OR l.expires_at <= now()
RETURNING holder, acquired_at, expires_at
