-- `ingest report`, constant-maturity basis over [%(since)s, %(until)s): the annualized basis at
-- 30, 60, 90 and 180 days, hour by hour (basis_constant_maturity_1h; NULL beyond the listed futures).
SELECT ts, currency, tenor_days, annualized_basis_pct
FROM basis_constant_maturity_1h
WHERE ts >= %(since)s::timestamptz AND ts < %(until)s::timestamptz
ORDER BY currency, tenor_days, ts
