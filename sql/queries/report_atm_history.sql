-- `ingest report`, constant-maturity ATM implied volatility over [%(since)s, %(until)s), hour by
-- hour (vol_constant_maturity_1h: 7, 30, 60, 90, 180 days; NULL beyond the listed expiries).
SELECT ts, currency, tenor_days, atm_iv
FROM vol_constant_maturity_1h
WHERE ts >= %(since)s::timestamptz AND ts < %(until)s::timestamptz
ORDER BY currency, tenor_days, ts
