-- Revision 0012: constant-maturity futures basis, hourly per currency (see docs/sql-layer.md,
-- "Constant-maturity basis and carry").
--
--   basis_cm_1h                        stored, full precision: one row per hour, currency, tenor
--   refresh_basis_cm_1h(s, e)          (re)computes the hours that overlap [s, e) (upsert)
--   basis_constant_maturity_1h         what people read, rounded
--
-- Input: the hourly closes of the dated futures and of their perpetual, as futures_basis_1h defines
-- them (futures_ohlcv_1h, perpetuals_ohlcv_1h at the same ts; basis_pct = (F - P) / P * 100;
-- days_to_expiry from the end of the hour, ts + 1 hour, to the expiry). Perpetuals and futures
-- at or past their expiry are left out.
--
-- Tenors: 30, 60, 90 and 180 days. The basis in percent (not annualized: it grows with time to
-- expiry like a total variance) is interpolated linearly in days between the future with the largest
-- days_to_expiry <= tenor and the one with the smallest >= tenor, then annualized:
--   annualized_basis_pct = basis_pct(tenor) * 365 / tenor
-- A future at exactly the tenor: its basis. Never extrapolated: outside the listed futures, NULL.

CREATE TABLE basis_cm_1h (
    ts                    timestamptz      NOT NULL,
    currency              text             NOT NULL,
    tenor_days            integer          NOT NULL,
    basis_pct             double precision,
    annualized_basis_pct  double precision,
    future_below          text,
    future_above          text,
    PRIMARY KEY (currency, ts, tenor_days)
);
SELECT create_hypertable('basis_cm_1h', by_range('ts', INTERVAL '365 days'));

CREATE PROCEDURE refresh_basis_cm_1h(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    first_hour timestamptz := time_bucket(INTERVAL '1 hour', range_start);
    end_hour   timestamptz := time_bucket(INTERVAL '1 hour', range_end - INTERVAL '1 microsecond')
                              + INTERVAL '1 hour';
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start >= range_end THEN
        RAISE EXCEPTION 'refresh_basis_cm_1h: empty or invalid range [%, %)', range_start, range_end;
    END IF;
    INSERT INTO basis_cm_1h AS v
        (ts, currency, tenor_days, basis_pct, annualized_basis_pct, future_below, future_above)
    WITH tenors (tenor_days) AS (
        VALUES (30), (60), (90), (180)
    ), futures AS (
        -- the dated futures alive in the range (read by index, one at a time, like futures_basis_1h)
        SELECT i.instrument_name, i.base_currency, i.expiration_timestamp
        FROM instruments i
        WHERE i.kind = 'future' AND i.expiration_timestamp > first_hour
          AND coalesce(i.settlement_period, '') <> 'perpetual'
          AND i.instrument_name NOT LIKE '%-PERPETUAL'
    ), curve AS (
        SELECT f.ts, fu.base_currency AS currency, fu.instrument_name AS future,
               ((f.close - p.close) * 100 / p.close)::float8 AS basis_pct,
               extract(epoch FROM fu.expiration_timestamp - (f.ts + INTERVAL '1 hour'))::float8 / 86400
                   AS days_to_expiry
        FROM futures fu
        CROSS JOIN LATERAL (
            SELECT fo.ts, fo.close FROM futures_ohlcv_1h fo
            WHERE fo.instrument_name = fu.instrument_name AND fo.ts >= first_hour AND fo.ts < end_hour
        ) f
        CROSS JOIN LATERAL (
            SELECT po.close FROM perpetuals_ohlcv_1h po
            WHERE po.instrument_name = fu.base_currency || '-PERPETUAL' AND po.ts = f.ts
        ) p
        WHERE p.close > 0
    ), brackets AS (
        SELECT c.ts, c.currency, t.tenor_days,
               max(c.days_to_expiry)              FILTER (WHERE c.days_to_expiry <= t.tenor_days) AS d1,
               last(c.basis_pct, c.days_to_expiry) FILTER (WHERE c.days_to_expiry <= t.tenor_days) AS b1,
               last(c.future, c.days_to_expiry)    FILTER (WHERE c.days_to_expiry <= t.tenor_days) AS f1,
               min(c.days_to_expiry)               FILTER (WHERE c.days_to_expiry >= t.tenor_days) AS d2,
               first(c.basis_pct, c.days_to_expiry) FILTER (WHERE c.days_to_expiry >= t.tenor_days) AS b2,
               first(c.future, c.days_to_expiry)    FILTER (WHERE c.days_to_expiry >= t.tenor_days) AS f2
        FROM curve c
        CROSS JOIN tenors t
        WHERE c.days_to_expiry > 0
        GROUP BY c.ts, c.currency, t.tenor_days
    ), cm AS (
        SELECT ts, currency, tenor_days,
               CASE WHEN d1 = tenor_days THEN b1
                    WHEN d2 = tenor_days THEN b2
                    WHEN d1 < tenor_days AND tenor_days < d2 THEN b1 + (b2 - b1) * (tenor_days - d1) / (d2 - d1)
               END AS basis_pct,
               CASE WHEN d1 IS NOT NULL AND d2 IS NOT NULL THEN f1 END AS future_below,
               CASE WHEN d1 IS NOT NULL AND d2 IS NOT NULL THEN f2 END AS future_above
        FROM brackets
    )
    SELECT ts, currency, tenor_days, basis_pct, basis_pct * 365 / tenor_days, future_below, future_above
    FROM cm
    ON CONFLICT (currency, ts, tenor_days) DO UPDATE SET
        basis_pct = excluded.basis_pct, annualized_basis_pct = excluded.annualized_basis_pct,
        future_below = excluded.future_below, future_above = excluded.future_above;
END
$$;

CREATE VIEW basis_constant_maturity_1h AS
SELECT ts, currency, tenor_days,
       analytics_round(basis_pct, 4)             AS basis_pct,
       analytics_round(annualized_basis_pct, 2)  AS annualized_basis_pct,
       future_below,
       future_above
FROM basis_cm_1h;

REVOKE ALL ON PROCEDURE refresh_basis_cm_1h(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_basis_cm_1h(timestamptz, timestamptz) TO ingest_writer;

INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('basis_cm_1h', NULL, NULL, 'constant-maturity futures basis (refresh_analytics): kept forever');
