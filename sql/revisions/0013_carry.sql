-- Revision 0013: carry -- the perpetual's funding annualized next to the 30-day constant-maturity
-- basis, hourly and daily, with the spread between them (see docs/sql-layer.md,
-- "Constant-maturity basis and carry").
--
--   carry_1h   one row per hour of basis_cm_1h (tenor 30 days) and currency
--   carry_1d   one row per UTC day and currency: averages over the day's hours
--
-- Funding of an hour [ts, ts + 1 hour) is the funding_rates row stamped at its end, ts + 1 hour
-- (Deribit stamps interest_1h at the end of the hour it accrued over); annualized like
-- funding_rates_daily: interest_1h * 24 * 365, in percent. Note that funding_rates_daily groups rows
-- by their stamp, so its day is shifted by one hour against carry_1d's.
--   spread_pct = basis_30d_annualized_pct - funding_annualized_pct
-- (positive: the 30-day future pays more than holding the perpetual would at the current funding).
-- NULL where an input is missing: no funding row for the hour, or no 30-day basis (tenor outside
-- the listed futures, no futures data).

CREATE VIEW carry_1h AS
SELECT b.ts,
       b.currency,
       b.currency || '-PERPETUAL'                                               AS perpetual,
       analytics_round(f.interest_1h * 24 * 365 * 100, 2)                       AS funding_annualized_pct,
       analytics_round(b.annualized_basis_pct, 2)                               AS basis_30d_annualized_pct,
       analytics_round(b.annualized_basis_pct - f.interest_1h * 24 * 365 * 100, 2) AS spread_pct
FROM basis_cm_1h b
LEFT JOIN funding_rates f
       ON f.instrument_name = b.currency || '-PERPETUAL' AND f.ts = b.ts + INTERVAL '1 hour'
WHERE b.tenor_days = 30;

CREATE VIEW carry_1d AS
SELECT time_bucket(INTERVAL '1 day', b.ts)                                      AS ts,
       b.currency,
       b.currency || '-PERPETUAL'                                               AS perpetual,
       count(f.interest_1h)                                                     AS funding_hours,
       count(b.annualized_basis_pct)                                            AS basis_hours,
       analytics_round(avg(f.interest_1h) * 24 * 365 * 100, 2)                  AS funding_annualized_pct,
       analytics_round(avg(b.annualized_basis_pct), 2)                          AS basis_30d_annualized_pct,
       analytics_round(avg(b.annualized_basis_pct) - avg(f.interest_1h) * 24 * 365 * 100, 2) AS spread_pct
FROM basis_cm_1h b
LEFT JOIN funding_rates f
       ON f.instrument_name = b.currency || '-PERPETUAL' AND f.ts = b.ts + INTERVAL '1 hour'
WHERE b.tenor_days = 30
GROUP BY 1, 2;
