-- Revision 0022: the 30-day constant-maturity ATM volatility beside DVOL, hourly per currency.
-- DVOL is Deribit's 30-day implied volatility index (percent); atm_iv_30d is the chain's ATM vol at 30
-- days, interpolated in total variance (vol_surface_cm_1h, percent). Both hourly: the hour's last DVOL
-- close (dvol_1h) against the hour's latest chain snapshot. spread = atm_iv_30d - dvol: DVOL weighs the
-- whole smile (a variance-swap-like index), so it sits above ATM when the wings are rich.
CREATE VIEW atm_vs_dvol_1h AS
SELECT s.ts,
       s.currency,
       round(s.atm_iv_30d::numeric, 2)                 AS atm_iv_30d,
       round(d.close::numeric, 2)                      AS dvol,
       round((s.atm_iv_30d - d.close)::numeric, 2)     AS spread
FROM vol_surface_cm_1h s
JOIN dvol_1h d ON d.currency = s.currency AND d.ts = s.ts;
