-- `ingest report`, basis term structure: per currency, the annualized basis of every dated future
-- at that currency's latest hour of futures_basis_1h in the last day of [%(since)s, %(until)s).
-- The ts range reaches the view's index scans (docs/sql-layer.md, Basis plan).
WITH recent AS (
    SELECT currency, future, expiry, ts, days_to_expiry, basis_pct, annualized_basis_pct
    FROM futures_basis_1h
    WHERE ts >= greatest(%(since)s::timestamptz, %(until)s::timestamptz - interval '1 day')
      AND ts < %(until)s::timestamptz
), latest AS (
    SELECT currency, max(ts) AS ts FROM recent GROUP BY currency
)
SELECT r.currency, r.future, r.expiry, r.ts, r.days_to_expiry, r.basis_pct, r.annualized_basis_pct
FROM recent r
JOIN latest l ON l.currency = r.currency AND l.ts = r.ts
ORDER BY r.currency, r.expiry
