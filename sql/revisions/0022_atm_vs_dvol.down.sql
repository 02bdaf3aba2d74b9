-- Revert revision 0022.
DROP VIEW IF EXISTS atm_vs_dvol_1h;
