-- `ingest report`, ATM implied volatility term structure: per currency, the ATM IV of every expiry
-- at that currency's latest hour of atm_vol_1h in [%(since)s, %(until)s).
WITH latest AS (
    SELECT currency, max(ts) AS ts
    FROM atm_vol_1h
    WHERE ts >= %(since)s::timestamptz AND ts < %(until)s::timestamptz
    GROUP BY currency
)
SELECT a.currency, a.expiry, a.ts, a.snapshot_ts, a.days_to_expiry, a.forward, a.atm_iv
FROM atm_vol_1h a
JOIN latest l ON l.currency = a.currency AND l.ts = a.ts
ORDER BY a.currency, a.expiry
