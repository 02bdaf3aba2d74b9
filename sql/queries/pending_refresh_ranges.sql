-- The ranges waiting for an aggregate refresh, widened to whole UTC days (1h and 1d buckets at the
-- edges come out complete) and merged where they touch: one refresh per merged range.
WITH days AS (
    SELECT hypertable, id,
           date_trunc('day', range_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS lo,
           (date_trunc('day', range_end AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC' AS hi
    FROM cagg_refresh_pending
), ordered AS (
    SELECT *, max(hi) OVER (PARTITION BY hypertable ORDER BY lo, hi
                            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
    FROM days
), grouped AS (
    SELECT *, count(*) FILTER (WHERE prev_hi IS NULL OR lo > prev_hi)
                  OVER (PARTITION BY hypertable ORDER BY lo, hi) AS grp
    FROM ordered
)
SELECT hypertable, min(lo) AS lo, max(hi) AS hi, array_agg(id) AS ids
FROM grouped
GROUP BY hypertable, grp
ORDER BY hypertable, lo
