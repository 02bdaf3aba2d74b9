-- Revision 0019 down: drop DVOL and its roll-ups (their policies go with them).
DELETE FROM storage_settings WHERE relation IN ('dvol', 'dvol_1h', 'dvol_1d');
DROP MATERIALIZED VIEW IF EXISTS dvol_1d;
DROP MATERIALIZED VIEW IF EXISTS dvol_1h;
DROP TABLE IF EXISTS dvol;
