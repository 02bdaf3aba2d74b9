-- Revision 0017 down: drop the trade tape (its compression policy goes with the table).
DELETE FROM storage_settings WHERE relation = 'trades';
DROP TABLE IF EXISTS trades;
