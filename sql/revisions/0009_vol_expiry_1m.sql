-- Revision 0009: at-the-money implied volatility of every expiry at every chain snapshot
-- (see docs/sql-layer.md, "Volatility analytics").
--
--   vol_expiry_1m                 stored, full precision: one row per snapshot minute, currency, expiry
--   refresh_vol_expiry_1m(s, e)   (re)computes the rows of the snapshots with s <= ts < e (upsert)
--   atm_vol_1m                    what people read: the same, rounded
--   analytics_round(x, d)         x rounded to d decimals, as double precision (views use it)
--
-- Input: options_greeks rows of source 'computed' (the whole chain, every minute, from the book
-- summaries; mark_iv in percent, underlying_price = the expiry's forward, iv_source 'exchange' |
-- 'inverted' | NULL) joined to instruments (currency, expiry, strike, type of each option).
--
-- Per snapshot and expiry:
--   forward           the options' underlying_price (their average should they differ)
--   IV of a strike    its out-of-the-money option's mark_iv (the put below the forward, the call at
--                     or above it), or the other option's when that one has none
--   atm_iv            interpolated linearly in log-moneyness ln(K/F) between the nearest strike below
--                     the forward with an IV and the nearest at or above it (a strike at the forward:
--                     its IV); NULL when the forward is not bracketed (missing strikes, no IVs)
--
-- Per-row work is done in NUMERIC, as stored: casting every row to double precision cost four
-- times the whole aggregation on the embedded server. Only the per-expiry results are cast.

-- Rounding for display without leaving double precision (round(x::numeric, d) converts each value
-- through text; for a year of hourly surface that was most of the query time). + 0.0 turns -0 into 0.
CREATE FUNCTION analytics_round(value double precision, decimals integer)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT round(value * 10.0 ^ decimals) / 10.0 ^ decimals + 0.0
$$;

CREATE TABLE vol_expiry_1m (
    ts                timestamptz      NOT NULL,
    currency          text             NOT NULL,
    expiry            timestamptz      NOT NULL,
    years_to_expiry   double precision NOT NULL,
    forward           numeric(18,8),
    atm_iv            double precision,
    atm_strike_below  numeric(18,8),
    atm_strike_above  numeric(18,8),
    options_listed    integer          NOT NULL,
    options           integer          NOT NULL,
    ivs_exchange      integer          NOT NULL,
    ivs_inverted      integer          NOT NULL,
    PRIMARY KEY (currency, expiry, ts)
);
SELECT create_hypertable('vol_expiry_1m', by_range('ts', INTERVAL '7 days'));
ALTER TABLE vol_expiry_1m SET (timescaledb.compress, timescaledb.compress_segmentby = 'currency',
                               timescaledb.compress_orderby = 'expiry, ts DESC');

CREATE PROCEDURE refresh_vol_expiry_1m(range_start timestamptz, range_end timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    slice timestamptz;
BEGIN
    IF range_start IS NULL OR range_end IS NULL OR range_start >= range_end THEN
        RAISE EXCEPTION 'refresh_vol_expiry_1m: empty or invalid range [%, %)', range_start, range_end;
    END IF;
    -- hour by hour: each statement reads about one hour of chain (~100K rows), whatever the range
    slice := range_start;
    WHILE slice < range_end LOOP
        INSERT INTO vol_expiry_1m AS v
            (ts, currency, expiry, years_to_expiry, forward, atm_iv, atm_strike_below, atm_strike_above,
             options_listed, options, ivs_exchange, ivs_inverted)
        WITH chain AS (
            SELECT g.ts, i.base_currency AS currency, i.expiration_timestamp AS expiry, i.strike AS k,
                   i.option_type = 'call' AS is_call, g.mark_iv AS iv, g.underlying_price AS fwd,
                   g.iv_source
            FROM options_greeks g
            JOIN instruments i ON i.instrument_name = g.instrument_name
            WHERE g.source = 'computed'
              AND g.ts >= slice AND g.ts < least(slice + INTERVAL '1 hour', range_end)
              AND i.kind = 'option' AND i.strike > 0 AND i.expiration_timestamp > g.ts
        ), per_expiry AS (
            SELECT ts, currency, expiry,
                   avg(fwd)                                                            AS fwd,
                   count(*)                                                            AS options,
                   count(*) FILTER (WHERE iv_source = 'inverted')                      AS ivs_inverted,
                   count(iv) FILTER (WHERE iv_source IS DISTINCT FROM 'inverted')      AS ivs_exchange,
                   -- below the forward: the put's IV first, the call's if the put has none
                   max(k)      FILTER (WHERE k < fwd AND iv IS NOT NULL AND NOT is_call) AS lo_otm_k,
                   last(iv, k) FILTER (WHERE k < fwd AND iv IS NOT NULL AND NOT is_call) AS lo_otm_iv,
                   max(k)      FILTER (WHERE k < fwd AND iv IS NOT NULL AND is_call)     AS lo_itm_k,
                   last(iv, k) FILTER (WHERE k < fwd AND iv IS NOT NULL AND is_call)     AS lo_itm_iv,
                   -- at or above it: the call's first
                   min(k)       FILTER (WHERE k >= fwd AND iv IS NOT NULL AND is_call)     AS hi_otm_k,
                   first(iv, k) FILTER (WHERE k >= fwd AND iv IS NOT NULL AND is_call)     AS hi_otm_iv,
                   min(k)       FILTER (WHERE k >= fwd AND iv IS NOT NULL AND NOT is_call) AS hi_itm_k,
                   first(iv, k) FILTER (WHERE k >= fwd AND iv IS NOT NULL AND NOT is_call) AS hi_itm_iv
            FROM chain
            GROUP BY ts, currency, expiry
        ), brackets AS (
            SELECT p.*,
                   greatest(lo_otm_k, lo_itm_k) AS k_lo,
                   CASE WHEN lo_otm_k >= lo_itm_k OR lo_itm_k IS NULL THEN lo_otm_iv ELSE lo_itm_iv END AS iv_lo,
                   least(hi_otm_k, hi_itm_k) AS k_hi,
                   CASE WHEN hi_otm_k <= hi_itm_k OR hi_itm_k IS NULL THEN hi_otm_iv ELSE hi_itm_iv END AS iv_hi
            FROM per_expiry p
        ), listed AS MATERIALIZED (
            -- options listed per expiry and listing time (strikes are added during an expiry's life)
            SELECT i.base_currency AS currency, i.expiration_timestamp AS expiry,
                   i.creation_timestamp AS listed_at, count(*) AS n
            FROM instruments i
            WHERE i.kind = 'option' AND i.strike > 0
              AND i.expiration_timestamp > slice
              AND i.base_currency IN (SELECT DISTINCT currency FROM brackets)
            GROUP BY 1, 2, 3
        )
        SELECT b.ts, b.currency, b.expiry,
               extract(epoch FROM b.expiry - b.ts)::float8 / (365 * 86400),
               round(b.fwd, 8),
               CASE
                   WHEN b.k_hi = b.fwd THEN b.iv_hi::float8
                   WHEN b.k_lo IS NOT NULL AND b.k_hi IS NOT NULL THEN
                       b.iv_lo::float8 + (b.iv_hi::float8 - b.iv_lo::float8)
                           * (0 - ln(b.k_lo::float8 / b.fwd::float8))
                           / (ln(b.k_hi::float8 / b.fwd::float8) - ln(b.k_lo::float8 / b.fwd::float8))
               END,
               b.k_lo, b.k_hi,
               greatest(coalesce((SELECT sum(l.n) FROM listed l
                                  WHERE l.currency = b.currency AND l.expiry = b.expiry
                                    AND (l.listed_at IS NULL OR l.listed_at <= b.ts)), 0), b.options),
               b.options, b.ivs_exchange, b.ivs_inverted
        FROM brackets b
        ON CONFLICT (currency, expiry, ts) DO UPDATE SET
            years_to_expiry = excluded.years_to_expiry, forward = excluded.forward, atm_iv = excluded.atm_iv,
            atm_strike_below = excluded.atm_strike_below, atm_strike_above = excluded.atm_strike_above,
            options_listed = excluded.options_listed, options = excluded.options,
            ivs_exchange = excluded.ivs_exchange, ivs_inverted = excluded.ivs_inverted;
        slice := slice + INTERVAL '1 hour';
    END LOOP;
END
$$;

CREATE VIEW atm_vol_1m AS
SELECT ts, currency, expiry,
       analytics_round(years_to_expiry * 365, 3) AS days_to_expiry,
       round(forward, 2)                          AS forward,
       analytics_round(atm_iv, 2)                 AS atm_iv
FROM vol_expiry_1m;

-- Privileges: analyst reads the table and the view (default privileges) and may round; only the
-- ingester's role refreshes (the owner, who runs the TimescaleDB job, keeps everything).
REVOKE ALL ON FUNCTION analytics_round(double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION analytics_round(double precision, integer) TO analyst, ingest_writer;
REVOKE ALL ON PROCEDURE refresh_vol_expiry_1m(timestamptz, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE refresh_vol_expiry_1m(timestamptz, timestamptz) TO ingest_writer;

-- Storage: one row a minute per expiry (~35K a day for BTC and ETH); compressed after a week, kept
-- forever (the raw chain it comes from is dropped after 30 days). The row in storage_settings is
-- what `ingest db apply-policies` re-applies.
INSERT INTO storage_settings (relation, compress_after, retain_for, note)
VALUES ('vol_expiry_1m', '7 days', NULL, 'ATM IV per snapshot and expiry (refresh_analytics): kept forever');
SELECT add_compression_policy('vol_expiry_1m', compress_after => INTERVAL '7 days');
