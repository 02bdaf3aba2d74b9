-- Revision 0020 down: drop the settlements and their view (the compression policy goes with the table).
DELETE FROM storage_settings WHERE relation = 'settlements';
DROP VIEW IF EXISTS delivery_price_disagreements;
DROP TABLE IF EXISTS settlements;
